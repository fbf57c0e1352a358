//! The guard extractor that `#[secure]` injects as a handler's first argument.
//!
//! Because axum runs extractors in argument order and only the last one may read the
//! body, the guard decides before any body byte is read. Its order is fixed:
//!
//! 1. refuse credentials in the query string (400);
//! 2. the global limits of the `Security`, keyed by client IP (429, or 503 when the store
//!    is down and the limit fails closed);
//! 3. on non-public routes, authenticate the bearer token or API key the route accepts
//!    (401 / 400; see [`AuthSchemes`](crate::AuthSchemes)), then refuse a token whose
//!    `jti` was revoked (401; 503 when the revocation store is down);
//! 4. authorize: one of the policy's roles, through the hierarchy, then its scopes, all
//!    of them (`scope`) or one (`any_scope`) (403);
//! 5. throttle: every rate of the policy, keyed as its `rate_key` says (429 / 503);
//! 6. on `signed` routes, verify the HTTP Message Signature and spend its nonce
//!    ([`signature`](crate::signature));
//! 7. custom guards, in the order the attribute lists them, then the ownership check
//!    (see [`RequestGuard`](crate::RequestGuard) and [`OwnerCheck`](crate::OwnerCheck));
//! 8. spend the single-use token (`replay`) and start the `Idempotency-Key` record.
//!
//! Without a [`Security`] installed by its layer, the guard refuses (fail closed).
//!
//! ```
//! use secure_api_runtime::{Guard, Policy, PolicySource};
//!
//! struct Admin;
//! impl PolicySource for Admin {
//!     const POLICY: &'static Policy = &Policy::authenticated("app::admin").any_of_roles(&["admin"]);
//! }
//! // What #[secure(role = "admin")] generates, written by hand:
//! async fn admin_only(_: Guard<Admin>) -> &'static str { "hello admin" }
//! ```

use std::any::TypeId;
use std::borrow::Cow;
use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use http::header::AUTHORIZATION;
use http::request::Parts;

use crate::audit::{self, AuditContext, Outcome};
use crate::config::Security;
use crate::error::SecurityError;
use crate::policy::{Policy, PolicySource};
use crate::principal::Principal;
use crate::registry::PolicyProbe;
use crate::transport::{
    RouteSlot, RouteState, Ticket, begin_idempotent, check_single_use, check_sunset,
};

/// Proof that the request passed the policy `P`: the extractor `#[secure]` injects first,
/// which refuses credentials in the URL, authenticates, authorizes and throttles, in that
/// order, before any other extractor runs.
///
/// ```
/// use secure_api_runtime::{Guard, Policy, PolicySource};
/// struct Ping;
/// impl PolicySource for Ping { const POLICY: &'static Policy = &Policy::public("app::ping"); }
/// async fn ping(_: Guard<Ping>) -> &'static str { "pong" }
/// ```
pub struct Guard<P>(PhantomData<fn() -> P>);

impl<P> std::fmt::Debug for Guard<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Guard")
    }
}

/// The client's address, when the application knows it better than the socket does.
/// The guard uses this extension if present, otherwise axum's
/// `ConnectInfo<SocketAddr>`. Only server-side code can set it.
///
/// ```
/// use secure_api_runtime::ClientIp;
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(ClientIp("192.0.2.7".parse().unwrap()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl<P: PolicySource, S: Send + Sync> FromRequestParts<S> for Guard<P> {
    type Rejection = SecurityError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let policy = P::POLICY;
        if let Some(probe) = parts.extensions.get::<PolicyProbe>() {
            // A coverage check asking which policy guards this route: answer and stop.
            probe.answer(
                policy,
                RouteSlot::of(&parts.extensions).map(|s| s.security()),
            );
            return Err(SecurityError::misconfigured());
        }
        let mut ctx = AuditContext::new(policy.handler(), parts, client_ip(parts));
        // One reference to the slot for the whole guard: the configuration and the route
        // of the audit events are borrowed from it.
        let slot = parts.extensions.get::<RouteSlot>().cloned();
        let Some(state) = slot.as_ref().map(|slot| &*slot.0) else {
            tracing::error!(
                target: "secure_api",
                handler = policy.handler(),
                "no Security layer in front of this secured handler; refusing the request \
                 (install it with `router.layer(security.layer())`)"
            );
            let refusal = SecurityError::misconfigured();
            audit::record(&ctx, None, "guard", Outcome::Refused(&refusal), None);
            return Err(refusal);
        };
        let security = state.security();
        // Tell the layer which route this is, so its response headers apply to refusals too.
        let _ = state.policy.set(policy);
        if let Err(refusal) = crate::versions::check_mounted(policy, parts) {
            audit::record(&ctx, Some(state), "guard", Outcome::Refused(&refusal), None);
            return Err(refusal);
        }
        let decision = security
            .admit::<P>(policy, TypeId::of::<P>(), state, parts, &mut ctx)
            .await;
        let counters = Some(&security.0.counters);
        let ticket = match decision {
            Ok(ticket) => {
                audit::record(&ctx, Some(state), "guard", Outcome::Allowed, counters);
                ticket
            }
            Err(refusal) => {
                audit::record(
                    &ctx,
                    Some(state),
                    "guard",
                    Outcome::Refused(&refusal),
                    counters,
                );
                return Err(refusal);
            }
        };
        // The context goes where the validated extractors after the guard look for it.
        *state.audit.lock().unwrap_or_else(|e| e.into_inner()) = Some(ctx);
        if let Some(ticket) = ticket {
            *state.ticket.lock().unwrap_or_else(|e| e.into_inner()) = Some(ticket);
        }
        Ok(Guard(PhantomData))
    }
}

impl Security {
    /// Every check of the guard in its order: sunset; `enforce` (URL credentials,
    /// authentication, roles, rate limits); the custom guards and ownership check of the
    /// attribute; then the single-use token and the idempotency key, which are only spent
    /// by requests that passed everything else. The principal is in `parts` afterwards.
    async fn admit<P: PolicySource>(
        &self,
        policy: &'static Policy,
        policy_id: TypeId,
        state: &RouteState,
        parts: &mut Parts,
        ctx: &mut AuditContext,
    ) -> Result<Option<Ticket>, SecurityError> {
        check_sunset(policy).map_err(|e| ctx.refused_by("sunset", e))?;
        let principal = self.enforce(policy, policy_id, state, parts, ctx).await?;
        let principal = principal.as_deref();
        if policy.requires_signature() {
            let Some(principal) = principal else {
                tracing::error!(target: "secure_api", handler = policy.handler(), "`signed` on a public policy; refusing");
                return Err(SecurityError::misconfigured());
            };
            // Boxed: the signature check's state is large, and only signed routes need it.
            Box::pin(crate::signature::verify(self, policy, principal, parts))
                .await
                .map_err(|e| ctx.refused_by("signature", e))?;
        }
        let mut request = crate::extend::GuardRequest::new(parts, policy.handler());
        P::run_checks(&mut request)
            .await
            .map_err(|error| ctx.refused_by("guard", error.with_realm(self.0.realm.clone())))?;
        if policy.requires_single_use_tokens() {
            let Some(principal) = principal else {
                tracing::error!(target: "secure_api", handler = policy.handler(), "`replay` on a public policy; refusing");
                return Err(SecurityError::misconfigured());
            };
            check_single_use(self, principal)
                .await
                .map_err(|e| ctx.refused_by("replay", e))?;
        }
        if policy.is_idempotent() {
            begin_idempotent(self, policy, principal, client_ip(parts), parts)
                .await
                .map_err(|e| ctx.refused_by("idempotency", e))
        } else {
            Ok(None)
        }
    }
}

/// Query parameters that carry credentials; URLs end up in logs, histories and referrers.
const CREDENTIAL_PARAMS: &[&str] = &[
    "access_token",
    "id_token",
    "refresh_token",
    "token",
    "auth_token",
    "jwt",
    "bearer",
    "authorization",
    "api_key",
    "apikey",
    "api-key",
    "x-api-key",
    "client_secret",
    "password",
    "secret",
];

fn query_has_credentials(query: &str) -> bool {
    query.split('&').any(|pair| {
        let name = pair.split_once('=').map_or(pair, |(n, _)| n);
        let name = percent_decode_lower(name);
        // `access_token[]=` and `access_token[0]=` are the same parameter to many decoders.
        let name = name.split('[').next().unwrap_or_default().trim_end();
        CREDENTIAL_PARAMS.contains(&name)
    })
}

/// Lower-cased, `+`- and `%XX`-decoded parameter name (invalid escapes kept verbatim).
pub(crate) fn percent_decode_lower(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).trim().to_ascii_lowercase()
}

/// The bearer token of the request, or why there is none.
pub(crate) fn bearer_token(parts: &Parts) -> Result<&str, SecurityError> {
    let mut values = parts.headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(SecurityError::unauthorized());
    };
    if values.next().is_some() {
        return Err(SecurityError::invalid_request(
            "Send exactly one Authorization header.",
        ));
    }
    let Ok(value) = value.to_str() else {
        return Err(SecurityError::invalid_request(
            "The Authorization header is malformed.",
        ));
    };
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    let looks_like_bearer = value
        .get(..6)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("bearer"));
    if looks_like_bearer && !scheme.eq_ignore_ascii_case("bearer") {
        // `Bearer\ttoken`, `Bearertoken`: a bearer credential sent in a malformed way.
        return Err(SecurityError::invalid_request(
            "The Authorization header must be `Bearer <token>`.",
        ));
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        // Another scheme (Basic, Digest...): not a credential this API accepts.
        return Err(SecurityError::unauthorized());
    }
    let token = token.trim_start_matches(' ');
    if !is_token68(token) {
        return Err(SecurityError::invalid_request(
            "The Authorization header must be `Bearer <token>`.",
        ));
    }
    Ok(token)
}

/// RFC 6750 b64token: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
/// Branch-free over the bytes (no early exit), so the compiler vectorises it: the check
/// runs over every byte of every token.
fn is_token68(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().fold(true, |ok, b| {
            ok & (b.is_ascii_digit()
                | b.is_ascii_lowercase()
                | b.is_ascii_uppercase()
                | (b == b'-')
                | (b == b'.')
                | (b == b'_')
                | (b == b'~')
                | (b == b'+')
                | (b == b'/'))
        })
}

pub(crate) fn client_ip(parts: &Parts) -> Option<IpAddr> {
    if let Some(ClientIp(ip)) = parts.extensions.get::<ClientIp>() {
        return Some(*ip);
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

impl Security {
    /// Applies `policy` to the request; on authenticated routes the principal is left in
    /// the request's slot, and returned from there.
    pub(crate) async fn enforce<'s>(
        &self,
        policy: &Policy,
        _policy_id: TypeId,
        state: &'s RouteState,
        parts: &Parts,
        ctx: &mut AuditContext,
    ) -> Result<Option<Cow<'s, Principal>>, SecurityError> {
        let inner = &self.0;
        let realm = |e: SecurityError| e.with_realm(inner.realm.clone());

        if parts.uri.query().is_some_and(query_has_credentials) {
            tracing::info!(
                target: "secure_api::auth",
                handler = policy.handler(),
                "request refused: credentials in the query string"
            );
            return Err(ctx.refused_by(
                "query",
                realm(SecurityError::invalid_request(
                    "Credentials must not be sent in the URL.",
                )),
            ));
        }

        // Cheap and keyed by address: bounds what one client can make the server verify.
        self.throttle_global(policy, state, parts)
            .await
            .map_err(|e| ctx.refused_by("global_rate_limit", e))?;

        let principal = if policy.is_public() {
            None
        } else {
            let started = crate::limiter::Stopwatch::start();
            let authenticated = match crate::authn::presented(self, policy, parts) {
                Ok(crate::authn::Presented::Bearer) => match bearer_token(parts) {
                    Ok(token) => inner.jwt.verify(token, &inner.hierarchy).await,
                    Err(refusal) => Err(refusal),
                }
                .map_err(|e| crate::authn::bearer_challenge(self, policy, e)),
                Ok(crate::authn::Presented::ApiKey(key)) => {
                    crate::authn::verify_api_key(self, key, ctx).await
                }
                Err(refusal) => Err(refusal),
            };
            audit::record_authentication_time(ctx, Some(state), started.elapsed());
            let principal =
                authenticated.map_err(|e| ctx.refused_by("authentication", realm(e)))?;
            // In the slot, for the audit events from here on, the checks below and the
            // extractors after the guard. When another guard of the same request got there
            // first, the slot keeps its principal and this guard checks its own.
            let principal = match state.principal.set(principal) {
                Ok(()) => state.principal.get().map(Cow::Borrowed),
                Err(principal) => Some(Cow::Owned(principal)),
            }
            .ok_or_else(|| ctx.refused_by("authentication", SecurityError::misconfigured()))?;
            // Right after authentication, whether the token was verified now or cached.
            self.check_revocation(&principal)
                .await
                .map_err(|e| ctx.refused_by("revocation", realm(e)))?;
            let roles = policy.roles();
            if !roles.is_empty() && !roles.iter().any(|r| principal.has_role(r)) {
                tracing::info!(
                    target: "secure_api::auth",
                    handler = policy.handler(),
                    subject = principal.subject(),
                    "request refused: missing role"
                );
                return Err(ctx.refused_by(
                    "role",
                    realm(crate::authn::principal_challenge(
                        self,
                        &principal,
                        SecurityError::forbidden().with_required_scope(roles.join(" ")),
                    )),
                ));
            }
            if !policy.scopes_satisfied_by(|scope| principal.has_scope(scope)) {
                tracing::info!(
                    target: "secure_api::auth",
                    handler = policy.handler(),
                    subject = principal.subject(),
                    "request refused: missing scope"
                );
                return Err(ctx.refused_by(
                    "scope",
                    realm(crate::authn::principal_challenge(
                        self,
                        &principal,
                        SecurityError::forbidden().with_required_scope(policy.scopes().join(" ")),
                    )),
                ));
            }
            Some(principal)
        };

        self.throttle_route(policy, principal.as_deref(), state, parts)
            .await
            .map_err(|e| ctx.refused_by("rate_limit", e))?;
        Ok(principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_parameters_are_found_however_they_are_spelled() {
        assert!(query_has_credentials("access_token=abc"));
        assert!(query_has_credentials("a=1&ACCESS_TOKEN=abc"));
        assert!(query_has_credentials("a=1&access%5Ftoken=abc"));
        assert!(query_has_credentials("api_key"));
        assert!(query_has_credentials("x=1&api-key=&y=2"));
        assert!(!query_has_credentials("page=2&sort=name"));
        assert!(!query_has_credentials("tokens=3"));
        assert!(!query_has_credentials("%zz=1&%"));
        assert!(query_has_credentials("access_token[]=abc"));
        assert!(query_has_credentials("api_key[0]=abc"));
    }

    #[test]
    fn bearer_tokens_must_be_token68() {
        assert!(is_token68("abc.def.ghi"));
        assert!(is_token68("abc=="));
        assert!(!is_token68(""));
        assert!(!is_token68("="));
        assert!(!is_token68("abc def"));
        assert!(!is_token68("abc=def"));
        assert!(is_token68("AZaz09-._~+/=="));
        for b in 0..=255u8 {
            let allowed = b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
            let token = format!("a{}b", char::from(b));
            assert_eq!(is_token68(&token), allowed, "{b}");
        }
        for b in 0..=255u8 {
            let s = [b'a', b];
            let Ok(s) = std::str::from_utf8(&s) else {
                continue;
            };
            let allowed = b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b);
            assert_eq!(is_token68(s), allowed, "{b}");
        }
    }
}
