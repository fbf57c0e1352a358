//! Short text made per request and cloned several times over it (request ids, rate keys):
//! kept in place up to `N` bytes, so that a clone is a copy rather than a reference count
//! (two atomic operations, the clone and its drop), and in a shared buffer beyond.

use bytes::Bytes;

/// Text of at most `N` bytes in place, longer text shared. Equal, and hashed alike, when
/// the text is, whichever way it is kept.
#[derive(Clone)]
pub(crate) enum InlineText<const N: usize> {
    Inline { len: u8, bytes: [u8; N] },
    Shared(Bytes),
}

impl<const N: usize> InlineText<N> {
    /// The concatenation of `parts`, each a whole UTF-8 string's bytes.
    pub(crate) fn concat(parts: &[&[u8]]) -> Self {
        const { assert!(N <= u8::MAX as usize) };
        let len: usize = parts.iter().map(|part| part.len()).sum();
        if len > N {
            return InlineText::Shared(Bytes::from(parts.concat()));
        }
        let mut bytes = [0u8; N];
        let mut at = 0;
        for part in parts {
            bytes[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        InlineText::Inline {
            len: len as u8,
            bytes,
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            InlineText::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            InlineText::Shared(bytes) => bytes,
        }
    }

    /// The text (always UTF-8: only whole strings are put in).
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

impl<const N: usize> From<String> for InlineText<N> {
    /// Text already in a `String` keeps its buffer.
    fn from(text: String) -> Self {
        InlineText::Shared(Bytes::from(text))
    }
}

impl<const N: usize> PartialEq for InlineText<N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl<const N: usize> Eq for InlineText<N> {}

impl<const N: usize> std::hash::Hash for InlineText<N> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn text_of_every_length_is_one_value_however_it_is_kept() {
        let state = std::collections::hash_map::RandomState::new();
        for len in [0, 1, 7, 8, 9, 30] {
            for unit in ["a", "é", "👤"] {
                let text = unit.repeat(len);
                let half = text
                    .char_indices()
                    .nth(len / 2)
                    .map_or(text.len(), |(at, _)| at);
                let (head, tail) = text.split_at(half);
                let kept = InlineText::<8>::concat(&[head.as_bytes(), tail.as_bytes()]);
                assert_eq!(kept.as_str(), text);
                assert_eq!(
                    matches!(kept, InlineText::Inline { .. }),
                    text.len() <= 8,
                    "{text}"
                );
                let shared = InlineText::<8>::from(text.clone());
                assert!(kept == shared, "{text}");
                assert_eq!(state.hash_one(&kept), state.hash_one(&shared));
                let other = InlineText::<8>::concat(&[text.as_bytes(), b"x"]);
                assert!(kept != other, "{text}");
            }
        }
    }
}
