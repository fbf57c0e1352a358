//! Declared roles and scopes: the optional `secure-api.roles` file.
//!
//! ```text
//! # secure-api.roles, next to Cargo.toml
//! roles admin > editor > viewer     # a chain: admin holds editor, editor holds viewer
//! roles auditor > viewer
//! roles billing                     # a role that holds no other
//! scopes customers:read customers:write
//! ```
//!
//! The macros look for the file in the directory of the source file that uses them, then
//! in its parents up to the package root (the directory holding `Cargo.toml`); the usual
//! place is next to `Cargo.toml`. Without a file nothing is checked. With one, every role
//! (and scope) named in an attribute must be declared, and the hierarchy must be acyclic.
//! The generated code includes the file's bytes, so editing it rebuilds the crate.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file's name.
pub(crate) const FILE: &str = "secure-api.roles";

/// The parsed declaration.
#[derive(Debug, Clone)]
pub(crate) struct Declared {
    pub(crate) file: PathBuf,
    /// Every role, in order of first appearance.
    pub(crate) roles: Vec<String>,
    /// `higher > lower` edges, as written.
    pub(crate) edges: Vec<(String, String)>,
    pub(crate) scopes: Vec<String>,
}

/// The declaration that applies to the caller, if any; `Err` says what is wrong with it.
pub(crate) fn find() -> Result<Option<Declared>, String> {
    let Some(path) = locate() else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse(&text, path).map(Some)
}

fn locate() -> Option<PathBuf> {
    let start = proc_macro::Span::call_site()
        .local_file()
        .and_then(|file| {
            let file = if file.is_relative() {
                std::env::current_dir().ok()?.join(file)
            } else {
                file
            };
            file.parent().map(Path::to_path_buf)
        })
        .or_else(|| std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from))?;
    let mut dir: &Path = &start;
    loop {
        let candidate = dir.join(FILE);
        if candidate.is_file() {
            return Some(candidate);
        }
        if dir.join("Cargo.toml").is_file() {
            return None;
        }
        dir = dir.parent()?;
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && c != '>' && c != ';' && c != '#')
}

pub(crate) fn parse(text: &str, file: PathBuf) -> Result<Declared, String> {
    let mut declared = Declared {
        file,
        roles: Vec::new(),
        edges: Vec::new(),
        scopes: Vec::new(),
    };
    let at = |line: usize, message: String| format!("{FILE} line {line}: {message}");
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let line = raw.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let (keyword, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        match keyword {
            "roles" => {
                let chain: Vec<&str> = rest.split('>').map(str::trim).collect();
                for name in &chain {
                    if !valid_name(name) {
                        return Err(at(
                            number,
                            format!(
                                "expected role names separated by `>`, such as `roles admin > editor > viewer`; {name:?} is not a role name"
                            ),
                        ));
                    }
                    if !declared.roles.iter().any(|r| r == name) {
                        declared.roles.push((*name).to_owned());
                    }
                }
                for pair in chain.windows(2) {
                    declared
                        .edges
                        .push((pair[0].to_owned(), pair[1].to_owned()));
                }
            }
            "scopes" => {
                let names: Vec<&str> = rest.split_whitespace().collect();
                if names.is_empty() {
                    return Err(at(
                        number,
                        "expected scope names after `scopes`, such as `scopes customers:read customers:write`".to_owned(),
                    ));
                }
                for name in names {
                    if !valid_name(name) {
                        return Err(at(number, format!("{name:?} is not a scope name")));
                    }
                    if !declared.scopes.iter().any(|s| s == name) {
                        declared.scopes.push(name.to_owned());
                    }
                }
            }
            other => {
                return Err(at(
                    number,
                    format!(
                        "unknown line `{other} ...`: each line is `roles a > b > c` or `scopes x y z` (`#` starts a comment)"
                    ),
                ));
            }
        }
    }
    if let Some(cycle) = cycle(&declared.edges) {
        return Err(format!(
            "{FILE}: the role hierarchy has a cycle, {}: a role cannot hold itself; remove one of these edges",
            cycle.join(" > ")
        ));
    }
    Ok(declared)
}

/// A cycle of the graph as the list of its roles (first repeated last), if there is one.
fn cycle(edges: &[(String, String)]) -> Option<Vec<String>> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (higher, lower) in edges {
        next.entry(higher).or_default().push(lower);
    }
    // 0 unvisited, 1 on the current path, 2 done.
    let mut state: BTreeMap<&str, u8> = BTreeMap::new();
    fn visit<'a>(
        role: &'a str,
        next: &BTreeMap<&'a str, Vec<&'a str>>,
        state: &mut BTreeMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        state.insert(role, 1);
        path.push(role);
        for lower in next.get(role).into_iter().flatten() {
            match state.get(lower).copied().unwrap_or(0) {
                1 => {
                    let start = path.iter().position(|r| r == lower).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        path[start..].iter().map(|r| (*r).to_owned()).collect();
                    cycle.push((*lower).to_owned());
                    return Some(cycle);
                }
                0 => {
                    if let Some(cycle) = visit(lower, next, state, path) {
                        return Some(cycle);
                    }
                }
                _ => {}
            }
        }
        path.pop();
        state.insert(role, 2);
        None
    }
    let roots: Vec<&str> = next.keys().copied().collect();
    for role in roots {
        if state.get(role).copied().unwrap_or(0) == 0
            && let Some(cycle) = visit(role, &next, &mut state, &mut Vec::new())
        {
            return Some(cycle);
        }
    }
    None
}

impl Declared {
    /// The hierarchy in the runtime's syntax, `"a > b; b > c"`.
    pub(crate) fn chains(&self) -> String {
        let alone = self.roles.iter().filter(|role| {
            !self
                .edges
                .iter()
                .any(|(higher, lower)| higher == *role || lower == *role)
        });
        self.edges
            .iter()
            .map(|(higher, lower)| format!("{higher} > {lower}"))
            .chain(alone.cloned())
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The file's path as a string for `include_bytes!`.
    pub(crate) fn path(&self) -> String {
        self.file.to_string_lossy().into_owned()
    }
}

/// "`a`, `b`, `c`" for messages.
pub(crate) fn list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The declared name closest to `name`, when it is close enough to be a typo.
pub(crate) fn closest<'a>(name: &str, names: &'a [String]) -> Option<&'a str> {
    names
        .iter()
        .map(|n| (crate::args::levenshtein(name, n), n.as_str()))
        .filter(|(distance, n)| *distance <= (n.len().max(name.len()) / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, n)| n)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<Declared, String> {
        parse(text, PathBuf::from(FILE))
    }

    #[test]
    fn chains_standalone_roles_and_scopes() {
        let d = parsed(
            "# roles\nroles admin > editor > viewer\nroles auditor > viewer # audits\nroles billing\n\nscopes a:read a:write\n",
        )
        .unwrap();
        assert_eq!(d.roles, ["admin", "editor", "viewer", "auditor", "billing"]);
        assert_eq!(
            d.chains(),
            "admin > editor; editor > viewer; auditor > viewer; billing"
        );
        assert_eq!(d.scopes, ["a:read", "a:write"]);
    }

    #[test]
    fn cycles_are_found_and_named() {
        let error = parsed("roles a > b > c\nroles c > a").unwrap_err();
        assert!(error.contains("cycle, a > b > c > a"), "{error}");
        let error = parsed("roles a > a").unwrap_err();
        assert!(error.contains("cycle, a > a"), "{error}");
        assert!(parsed("roles a > b\nroles a > c\nroles b > c").is_ok());
    }

    #[test]
    fn malformed_lines_name_their_number() {
        let error = parsed("roles admin\nrole viewer").unwrap_err();
        assert!(
            error.starts_with("secure-api.roles line 2: unknown line `role ...`"),
            "{error}"
        );
        let error = parsed("roles admin > > viewer").unwrap_err();
        assert!(error.contains("line 1"), "{error}");
        assert!(parsed("roles").is_err());
        assert!(parsed("scopes").is_err());
    }

    #[test]
    fn closest_names_are_suggested() {
        let names = vec!["admin".to_owned(), "editor".to_owned(), "viewer".to_owned()];
        assert_eq!(closest("admn", &names), Some("admin"));
        assert_eq!(closest("viewers", &names), Some("viewer"));
        assert_eq!(closest("root", &names), None);
    }
}
