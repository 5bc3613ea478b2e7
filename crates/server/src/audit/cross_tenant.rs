//! A tenant key on an operator route that names a tenant: 404 and a `cross_tenant.attempt`
//! when the tenant is another one.

use crate::state::AppState;
use axum::extract::{FromRequestParts, MatchedPath, RawPathParams};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use palisade_audit::{AuditEvent, AuditEventType};
use palisade_core::{Caller, Problem};

/// The answer to a request that presents a tenant key on an operator-only route. When the
/// route names a tenant (`{tenant_id}`) and the key authenticates for another tenant, the
/// request reached for another tenant's resource: it answers 404 `not-found` (as if the tenant
/// did not exist) and is recorded. Otherwise it is a key of the wrong kind (403); a key that
/// does not authenticate answers 401.
pub(crate) async fn tenant_key_on_operator_route(parts: &mut Parts, state: &AppState) -> Response {
    let target = RawPathParams::from_request_parts(parts, state)
        .await
        .ok()
        .and_then(|p| {
            p.iter()
                .find(|(k, _)| *k == "tenant_id")
                .map(|(_, v)| v.to_owned())
        });
    let Some(target) = target else {
        return crate::auth::wrong_kind("the operator key").into_response();
    };
    let caller = match crate::auth::tenant_caller(state, &parts.headers).await {
        Ok(c) => c,
        Err(e) => return crate::auth::challenge(e),
    };
    if caller.tenant.as_str() == target {
        return crate::auth::wrong_kind("the operator key").into_response();
    }
    let route = parts.extensions.get::<MatchedPath>().map(|m| m.as_str());
    record(state, &caller, route, "tenant", &target);
    Problem::not_found("tenant").into_response()
}

/// Records `caller` reaching for `target`, a `what` (e.g. `tenant`) of another tenant, on
/// `route` (the route template, never the raw path).
pub(crate) fn record(
    state: &AppState,
    caller: &Caller,
    route: Option<&str>,
    what: &str,
    target: &str,
) {
    let target = palisade_core::TenantId::parse(target)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| "[invalid]".into());
    let e = AuditEvent::new(AuditEventType::CrossTenantAttempt)
        .tenant(&caller.tenant)
        .actor(caller.principal.as_str())
        .detail(serde_json::json!({ "route": route, "target": what, "target_tenant": target }));
    state.audit.record(e);
}
