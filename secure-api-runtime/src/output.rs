//! Field-level output authorization (OWASP API3): one response type, serialised per
//! principal.
//!
//! `#[derive(AuthorizedOutput)]` marks fields with `#[visible(...)]`; a marked field is
//! written only for a principal that qualifies, an unmarked one for everybody. The derive
//! does not implement `Serialize`, and a type deriving both is a compile error, so such a
//! value can only leave the handler through [`Filtered`], which applies the rules.
//!
//! ```
//! use secure_api_runtime::{AuthorizedOutput, Principal, filtered_json};
//! use serde::Serializer;
//!
//! // What `#[derive(AuthorizedOutput)]` with `#[visible(role = "admin")] email` generates,
//! // written by hand:
//! struct Customer { name: String, email: String }
//! impl AuthorizedOutput for Customer {
//!     fn serialize_for<S: Serializer>(&self, viewer: Option<&Principal>, serializer: S) -> Result<S::Ok, S::Error> {
//!         use serde::ser::SerializeStruct;
//!         let show_email = secure_api_runtime::visible_to(viewer, &["admin"], &[]);
//!         let mut s = serializer.serialize_struct("Customer", 1 + usize::from(show_email))?;
//!         s.serialize_field("name", &self.name)?;
//!         if show_email { s.serialize_field("email", &self.email)?; } else { s.skip_field("email")?; }
//!         s.end()
//!     }
//! }
//!
//! let ada = Customer { name: "Ada".into(), email: "ada@example.com".into() };
//! let admin = Principal::new("root", ["admin"], [] as [&str; 0]);
//! let viewer = Principal::new("vera", ["viewer"], [] as [&str; 0]);
//! assert_eq!(filtered_json(&ada, Some(&admin)).unwrap()["email"], "ada@example.com");
//! assert!(filtered_json(&ada, Some(&viewer)).unwrap().get("email").is_none());
//! ```

use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use http::header::CONTENT_TYPE;
use serde::{Serialize, Serializer};

use crate::error::SecurityError;
use crate::principal::Principal;

/// A response type whose fields are shown according to the principal; derive it with
/// `#[derive(AuthorizedOutput)]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not say which principal may see which field",
    note = "derive it: `#[derive(AuthorizedOutput)]`, with `#[visible(role = \"...\")]` on the fields only some principals may see"
)]
pub trait AuthorizedOutput {
    /// Serialises the fields `viewer` may see (`None`: no principal, only unmarked
    /// fields).
    ///
    /// ```
    /// use secure_api_runtime::{AuthorizedOutput, filtered_json};
    /// let rows = vec![Some(1u8)];
    /// # struct Row(u8);
    /// # impl AuthorizedOutput for Row {
    /// #     fn serialize_for<S: serde::Serializer>(&self, _: Option<&secure_api_runtime::Principal>, s: S) -> Result<S::Ok, S::Error> { s.serialize_u8(self.0) }
    /// # }
    /// let json = filtered_json(&vec![Row(1), Row(2)], None).unwrap();
    /// assert_eq!(json, serde_json::json!([1, 2]));
    /// # let _ = rows;
    /// ```
    fn serialize_for<S: Serializer>(
        &self,
        viewer: Option<&Principal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error>;
}

/// Whether `viewer` may see a field restricted to `roles` (any of them, through the
/// hierarchy) and to `scopes` (any of them); an empty list places no condition. Without a
/// principal nothing restricted is visible.
///
/// ```
/// use secure_api_runtime::{Principal, visible_to};
/// let p = Principal::new("a", ["admin"], ["pii"]);
/// assert!(visible_to(Some(&p), &["admin"], &[]));
/// assert!(visible_to(Some(&p), &[], &["pii"]));
/// assert!(!visible_to(Some(&p), &["auditor"], &[]));
/// assert!(!visible_to(None, &["admin"], &[]));
/// ```
pub fn visible_to(viewer: Option<&Principal>, roles: &[&str], scopes: &[&str]) -> bool {
    let Some(principal) = viewer else {
        return false;
    };
    (roles.is_empty() || roles.iter().any(|r| principal.has_role(r)))
        && (scopes.is_empty() || scopes.iter().any(|s| principal.has_scope(s)))
}

/// `value` as `viewer` may see it, as JSON.
///
/// ```
/// use secure_api_runtime::filtered_json;
/// let none: Vec<Option<u8>> = Vec::new();
/// # struct Unit;
/// # impl secure_api_runtime::AuthorizedOutput for Unit {
/// #     fn serialize_for<S: serde::Serializer>(&self, _: Option<&secure_api_runtime::Principal>, s: S) -> Result<S::Ok, S::Error> { s.serialize_unit() }
/// # }
/// assert_eq!(filtered_json(&Unit, None).unwrap(), serde_json::Value::Null);
/// # let _ = none;
/// ```
pub fn filtered_json<T: AuthorizedOutput + ?Sized>(
    value: &T,
    viewer: Option<&Principal>,
) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::to_value(View { value, viewer })
}

/// Adapts an [`AuthorizedOutput`] to `Serialize` for one viewer. Also what the derive uses
/// for `#[visible(nested)]` fields.
///
/// ```
/// use secure_api_runtime::View;
/// # struct Unit;
/// # impl secure_api_runtime::AuthorizedOutput for Unit {
/// #     fn serialize_for<S: serde::Serializer>(&self, _: Option<&secure_api_runtime::Principal>, s: S) -> Result<S::Ok, S::Error> { s.serialize_unit() }
/// # }
/// let json = serde_json::to_string(&View { value: &Unit, viewer: None }).unwrap();
/// assert_eq!(json, "null");
/// ```
#[derive(Debug)]
pub struct View<'a, T: ?Sized> {
    /// The value.
    pub value: &'a T,
    /// Who looks at it.
    pub viewer: Option<&'a Principal>,
}

impl<T: AuthorizedOutput + ?Sized> Serialize for View<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize_for(self.viewer, serializer)
    }
}

impl<T: AuthorizedOutput + ?Sized> AuthorizedOutput for &T {
    fn serialize_for<S: Serializer>(
        &self,
        viewer: Option<&Principal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        (**self).serialize_for(viewer, serializer)
    }
}

impl<T: AuthorizedOutput> AuthorizedOutput for Option<T> {
    fn serialize_for<S: Serializer>(
        &self,
        viewer: Option<&Principal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match self {
            Some(value) => serializer.serialize_some(&View { value, viewer }),
            None => serializer.serialize_none(),
        }
    }
}

impl<T: AuthorizedOutput> AuthorizedOutput for [T] {
    fn serialize_for<S: Serializer>(
        &self,
        viewer: Option<&Principal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter().map(|value| View { value, viewer }))
    }
}

impl<T: AuthorizedOutput> AuthorizedOutput for Vec<T> {
    fn serialize_for<S: Serializer>(
        &self,
        viewer: Option<&Principal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        self.as_slice().serialize_for(viewer, serializer)
    }
}

/// A JSON response of `value` as the principal may see it.
///
/// ```
/// use axum::response::IntoResponse;
/// use secure_api_runtime::{Filtered, Principal};
/// # struct Unit;
/// # impl secure_api_runtime::AuthorizedOutput for Unit {
/// #     fn serialize_for<S: serde::Serializer>(&self, _: Option<&secure_api_runtime::Principal>, s: S) -> Result<S::Ok, S::Error> { s.serialize_unit() }
/// # }
/// let principal = Principal::new("a", ["viewer"], [] as [&str; 0]);
/// let response = Filtered::new(&principal, Unit).into_response();
/// assert_eq!(response.headers()["content-type"], "application/json");
/// ```
#[derive(Debug)]
#[must_use]
pub struct Filtered<T> {
    viewer: Option<Principal>,
    value: T,
}

impl<T: AuthorizedOutput> Filtered<T> {
    /// `value` as `principal` may see it.
    ///
    /// ```
    /// # struct Unit;
    /// # impl secure_api_runtime::AuthorizedOutput for Unit {
    /// #     fn serialize_for<S: serde::Serializer>(&self, _: Option<&secure_api_runtime::Principal>, s: S) -> Result<S::Ok, S::Error> { s.serialize_unit() }
    /// # }
    /// let p = secure_api_runtime::Principal::new("a", ["viewer"], [] as [&str; 0]);
    /// let _ = secure_api_runtime::Filtered::new(&p, Unit);
    /// ```
    pub fn new(principal: &Principal, value: T) -> Self {
        Filtered {
            viewer: Some(principal.clone()),
            value,
        }
    }

    /// `value` as an anonymous caller may see it: unmarked fields only.
    ///
    /// ```
    /// # struct Unit;
    /// # impl secure_api_runtime::AuthorizedOutput for Unit {
    /// #     fn serialize_for<S: serde::Serializer>(&self, _: Option<&secure_api_runtime::Principal>, s: S) -> Result<S::Ok, S::Error> { s.serialize_unit() }
    /// # }
    /// let _ = secure_api_runtime::Filtered::anonymous(Unit);
    /// ```
    pub fn anonymous(value: T) -> Self {
        Filtered {
            viewer: None,
            value,
        }
    }
}

impl<T: AuthorizedOutput> IntoResponse for Filtered<T> {
    fn into_response(self) -> Response {
        let view = View {
            value: &self.value,
            viewer: self.viewer.as_ref(),
        };
        match serde_json::to_vec(&view) {
            Ok(bytes) => {
                let mut response = bytes.into_response();
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                response
            }
            Err(error) => {
                tracing::error!(target: "secure_api", %error, "a filtered response could not be serialised");
                SecurityError::misconfigured().into_response()
            }
        }
    }
}

/// Implemented for every `Serialize` type, so that a type deriving both `Serialize` and
/// `AuthorizedOutput` has conflicting implementations: its restricted fields would
/// otherwise leak through `Json(value)`.
#[doc(hidden)]
pub trait RestrictedFieldsMustNotBeSerializeDirectly {}

impl<T: Serialize + ?Sized> RestrictedFieldsMustNotBeSerializeDirectly for T {}
