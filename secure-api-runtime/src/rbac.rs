//! Roles and their hierarchy.
//!
//! A hierarchy is configured once, e.g. `"admin > editor > viewer"`: a higher role holds
//! every lower one, transitively. Several chains are separated by `;` or given one by one.
//!
//! ```
//! use secure_api_runtime::RoleHierarchy;
//!
//! let h: RoleHierarchy = "admin > editor > viewer".parse().unwrap();
//! assert!(h.grants("admin", "viewer"));
//! assert!(!h.grants("viewer", "editor"));
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Why a role hierarchy was refused.
///
/// ```
/// let err = "admin > viewer > admin".parse::<secure_api_runtime::RoleHierarchy>().unwrap_err();
/// assert!(err.to_string().contains("cycle"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleHierarchyError(String);

impl fmt::Display for RoleHierarchyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RoleHierarchyError {}

/// Which roles imply which: `admin > editor` means an admin holds `editor` too.
///
/// ```
/// use secure_api_runtime::RoleHierarchy;
///
/// let h = RoleHierarchy::new().with("admin", "editor").unwrap().with("editor", "viewer").unwrap();
/// let held: Vec<String> = h.expand(["admin"]).iter().map(|r| r.to_string()).collect();
/// assert_eq!(held, ["admin", "editor", "viewer"]);
/// ```
#[derive(Clone, Default)]
pub struct RoleHierarchy {
    /// role -> every role it holds, itself excluded; transitively closed.
    implied: BTreeMap<Arc<str>, BTreeSet<Arc<str>>>,
    /// Each role with everything it holds, sorted: what a principal holding that one role
    /// has, shared instead of expanded on every request.
    closures: BTreeMap<Arc<str>, Arc<[Arc<str>]>>,
}

impl fmt::Debug for RoleHierarchy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.implied.iter()).finish()
    }
}

fn check_name(name: &str) -> Result<(), RoleHierarchyError> {
    if name.is_empty() {
        return Err(RoleHierarchyError(
            "role hierarchy: a role name is empty".to_owned(),
        ));
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || c == '>' || c == ';')
    {
        return Err(RoleHierarchyError(format!(
            "role hierarchy: role name {name:?} contains whitespace or a separator"
        )));
    }
    Ok(())
}

impl RoleHierarchy {
    /// An empty hierarchy: every role holds only itself.
    ///
    /// ```
    /// assert!(!secure_api_runtime::RoleHierarchy::new().grants("admin", "viewer"));
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `higher > lower`. Refuses empty names and anything that would form a cycle.
    ///
    /// ```
    /// use secure_api_runtime::RoleHierarchy;
    /// let h = RoleHierarchy::new().with("admin", "viewer").unwrap();
    /// assert!(h.clone().with("viewer", "admin").is_err());
    /// ```
    pub fn with(mut self, higher: &str, lower: &str) -> Result<Self, RoleHierarchyError> {
        check_name(higher)?;
        check_name(lower)?;
        if higher == lower || self.grants(lower, higher) {
            return Err(RoleHierarchyError(format!(
                "role hierarchy: `{higher} > {lower}` would form a cycle"
            )));
        }
        let higher: Arc<str> = Arc::from(higher);
        let lower: Arc<str> = Arc::from(lower);
        let mut gained: BTreeSet<Arc<str>> = self.implied.get(&lower).cloned().unwrap_or_default();
        gained.insert(lower.clone());
        self.implied.entry(lower).or_default();
        // `higher` and everything above it gain `lower` and all it holds.
        let holders: Vec<Arc<str>> = self
            .implied
            .iter()
            .filter(|(_, held)| held.contains(&higher))
            .map(|(role, _)| role.clone())
            .chain(std::iter::once(higher.clone()))
            .collect();
        for role in holders {
            self.implied
                .entry(role)
                .or_default()
                .extend(gained.iter().cloned());
        }
        self.close();
        Ok(self)
    }

    /// Whether a principal holding `held` thereby holds `required`.
    ///
    /// ```
    /// let h: secure_api_runtime::RoleHierarchy = "admin > editor".parse().unwrap();
    /// assert!(h.grants("admin", "editor"));
    /// assert!(h.grants("editor", "editor"));
    /// ```
    pub fn grants(&self, held: &str, required: &str) -> bool {
        held == required
            || self
                .implied
                .get(held)
                .is_some_and(|set| set.contains(required))
    }

    /// Every role held through `roles`, sorted and without duplicates.
    ///
    /// ```
    /// let h: secure_api_runtime::RoleHierarchy = "editor > viewer".parse().unwrap();
    /// let held: Vec<String> = h.expand(["editor", "billing"]).iter().map(|r| r.to_string()).collect();
    /// assert_eq!(held, ["billing", "editor", "viewer"]);
    /// ```
    pub fn expand<'a>(&self, roles: impl IntoIterator<Item = &'a str>) -> Vec<Arc<str>> {
        // Straight into the vector, sorted and deduplicated at the end: a principal holds
        // a handful of roles, and this runs for every authenticated request.
        let mut out: Vec<Arc<str>> = Vec::new();
        for role in roles {
            match self.implied.get_key_value(role) {
                Some((name, held)) => {
                    out.reserve(1 + held.len());
                    out.push(name.clone());
                    out.extend(held.iter().cloned());
                }
                None => out.push(Arc::from(role)),
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The effective roles of a principal holding `roles`: shared with the hierarchy when
    /// it holds exactly one role the hierarchy names (the common case), else expanded.
    pub(crate) fn effective(&self, roles: &[String]) -> EffectiveRoles {
        if let [only] = roles
            && let Some(closure) = self.closures.get(only.as_str())
        {
            return EffectiveRoles::Shared(closure.clone());
        }
        EffectiveRoles::Owned(self.expand(roles.iter().map(String::as_str)))
    }

    /// Recomputes `closures` after `implied` changed.
    fn close(&mut self) {
        self.closures = self
            .implied
            .iter()
            .map(|(role, held)| {
                let mut all: Vec<Arc<str>> = held.iter().cloned().collect();
                all.push(role.clone());
                all.sort_unstable();
                (role.clone(), Arc::from(all))
            })
            .collect();
    }

    /// Every role the hierarchy names.
    ///
    /// ```
    /// let h: secure_api_runtime::RoleHierarchy = "a > b".parse().unwrap();
    /// assert_eq!(h.roles().count(), 2);
    /// ```
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.implied.keys().map(|r| &**r)
    }
}

impl FromStr for RoleHierarchy {
    type Err = RoleHierarchyError;

    /// Chains like `"admin > editor > viewer"`, several separated by `;`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut h = RoleHierarchy::new();
        for chain in s.split(';').filter(|c| !c.trim().is_empty()) {
            let names: Vec<&str> = chain.split('>').map(str::trim).collect();
            if names.len() < 2 {
                check_name(names[0])?;
                h.implied.entry(Arc::from(names[0])).or_default();
                h.close();
                continue;
            }
            for pair in names.windows(2) {
                h = h.with(pair[0], pair[1])?;
            }
        }
        Ok(h)
    }
}

/// A principal's effective roles, sorted and without duplicates.
#[derive(Debug)]
pub(crate) enum EffectiveRoles {
    /// One role's closure, shared with the hierarchy.
    Shared(Arc<[Arc<str>]>),
    Owned(Vec<Arc<str>>),
}

impl EffectiveRoles {
    pub(crate) fn as_slice(&self) -> &[Arc<str>] {
        match self {
            EffectiveRoles::Shared(roles) => roles,
            EffectiveRoles::Owned(roles) => roles,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchy_is_transitive_whatever_the_order_of_declaration() {
        let h = RoleHierarchy::new()
            .with("editor", "viewer")
            .unwrap()
            .with("admin", "editor")
            .unwrap();
        assert!(h.grants("admin", "viewer"));
        assert!(!h.grants("viewer", "admin"));
        assert!(!h.grants("editor", "admin"));
    }

    #[test]
    fn expansion_is_sorted_and_without_duplicates() {
        let h: RoleHierarchy = "admin > editor > viewer; ops > viewer".parse().unwrap();
        let held = |roles: &[&str]| -> Vec<String> {
            h.expand(roles.iter().copied())
                .iter()
                .map(|r| r.to_string())
                .collect()
        };
        assert_eq!(held(&["editor"]), ["editor", "viewer"]);
        assert_eq!(held(&["admin"]), ["admin", "editor", "viewer"]);
        assert_eq!(
            held(&["ops", "zeta", "editor", "zeta", "viewer", "admin"]),
            ["admin", "editor", "ops", "viewer", "zeta"]
        );
        assert_eq!(held(&["b", "a", "b"]), ["a", "b"]);
        assert!(held(&[]).is_empty());
        // The shared closures say the same as the expansion, for every role and pair.
        let names: Vec<String> = ["admin", "editor", "viewer", "ops", "zeta"]
            .into_iter()
            .map(String::from)
            .collect();
        for a in &names {
            for roles in [vec![a.clone()], vec![a.clone(), names[2].clone()]] {
                let effective = h.effective(&roles);
                assert_eq!(
                    effective.as_slice(),
                    h.expand(roles.iter().map(String::as_str)).as_slice(),
                    "{roles:?}"
                );
            }
        }
        assert!(matches!(
            h.effective(&["editor".into()]),
            EffectiveRoles::Shared(_)
        ));
        // Declared one by one, the closures follow every declaration.
        let h = RoleHierarchy::new()
            .with("b", "c")
            .unwrap()
            .with("a", "b")
            .unwrap();
        assert_eq!(
            h.effective(&["a".into()]).as_slice(),
            [Arc::from("a"), Arc::from("b"), Arc::from("c")]
        );
    }

    #[test]
    fn cycles_and_empty_names_are_refused() {
        assert!("a > b > a".parse::<RoleHierarchy>().is_err());
        assert!("a > a".parse::<RoleHierarchy>().is_err());
        assert!("a > > b".parse::<RoleHierarchy>().is_err());
        assert!("a b > c".parse::<RoleHierarchy>().is_err());
        assert!("a > b; b > c; c > a".parse::<RoleHierarchy>().is_err());
    }
}
