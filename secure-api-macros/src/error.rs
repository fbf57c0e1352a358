//! Collects every error of one `#[secure]` use so the user sees all of them in one build.

use std::fmt::Display;

use proc_macro2::Span;

/// Errors found so far. Each stage pushes into it instead of returning at the first problem;
/// the caller turns it into one combined `syn::Error` at the end.
#[derive(Default)]
#[must_use = "errors are only reported once `finish` is called"]
pub(crate) struct Errors {
    combined: Option<syn::Error>,
}

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.combined {
            Some(combined) => combined.combine(error),
            None => self.combined = Some(error),
        }
    }

    pub(crate) fn at(&mut self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    pub(crate) fn spanned(&mut self, tokens: impl quote::ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// `Ok` when nothing was pushed, otherwise every error combined in the order found.
    pub(crate) fn finish(self) -> syn::Result<()> {
        match self.combined {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}
