//! `GET /v1/audit`: the audit trail, a tenant's own (tenant key) or every tenant's (operator key).

use super::docs::CommonErrors;
use super::extract::ApiQuery;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::Json;
use palisade_audit::{AuditQuery, AuditQueryInput, AuditRecord};
use palisade_core::{Caller, FieldError, Page, Problem, TenantId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The audit route (authenticated by either kind of key).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(audit_list))
}

/// Who reads the trail.
enum Reader {
    /// The operator: every tenant's records.
    Operator,
    /// A tenant key: its tenant's records only.
    Tenant(Caller),
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let operator = crate::auth::bearer(&parts.headers)
            .is_some_and(|token| crate::auth::is_operator(state, token));
        if operator {
            return Ok(Self::Operator);
        }
        match crate::auth::tenant_caller(state, &parts.headers).await {
            Ok(caller) => Ok(Self::Tenant(caller)),
            Err(e) => Err(crate::auth::challenge(e)),
        }
    }
}

/// `?type=&since_ms=&until_ms=&limit=&cursor=&tenant=`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AuditListQuery {
    /// Only this event type: `auth.failure`, `key.created`, `key.revoked`,
    /// `cross_tenant.attempt`, `config.changed` (and the types of later capabilities).
    #[serde(rename = "type")]
    kind: Option<String>,
    /// Only events at or after this time (ms since the epoch).
    #[param(value_type = Option<i64>)]
    since_ms: Option<String>,
    /// Only events before this time (ms since the epoch).
    #[param(value_type = Option<i64>)]
    until_ms: Option<String>,
    /// Page size, 1..=200 (default 50).
    #[param(value_type = Option<u32>)]
    limit: Option<String>,
    /// The `next` cursor of the previous page.
    cursor: Option<String>,
    /// Operator key: only this tenant's events (default: every tenant's, and those without a
    /// tenant). A tenant key may name only its own tenant.
    tenant: Option<String>,
}

/// One security event.
#[derive(Serialize, ToSchema)]
pub struct AuditRecordView {
    /// Record id.
    pub id: String,
    /// The tenant it belongs to; absent for operator and unauthenticated events.
    pub tenant_id: Option<String>,
    /// Event type, e.g. `auth.failure`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Who: a key id, or `operator`.
    pub actor: Option<String>,
    /// The request it happened in.
    pub request_id: Option<String>,
    /// When (ms since the epoch).
    pub at_ms: i64,
    /// Redacted specifics (see docs/audit.md).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl From<AuditRecord> for AuditRecordView {
    fn from(r: AuditRecord) -> Self {
        Self {
            id: r.id,
            tenant_id: r.tenant.map(String::from),
            kind: r.kind.as_str().to_owned(),
            actor: r.actor,
            request_id: r.request_id,
            at_ms: r.at_ms,
            detail: r.detail,
        }
    }
}

/// A page of audit records, newest first.
#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    /// Records.
    pub items: Vec<AuditRecordView>,
    /// Cursor of the next page.
    pub next: Option<String>,
}

/// A number parameter, or the error naming it.
fn number<T: std::str::FromStr>(
    errors: &mut Vec<FieldError>,
    field: &str,
    v: Option<&str>,
    expected: &str,
) -> Option<T> {
    let parsed = v.map(str::parse::<T>)?;
    parsed
        .map_err(|_| errors.push(FieldError::new(field, expected)))
        .ok()
}

/// The validated filter; every bad field named at once.
fn audit_query(q: &AuditListQuery) -> Result<AuditQuery, Problem> {
    let mut errors = Vec::new();
    let epoch_ms = "must be ms since the epoch, >= 0";
    let input = AuditQueryInput {
        kind: q.kind.as_deref(),
        since_ms: number(&mut errors, "since_ms", q.since_ms.as_deref(), epoch_ms),
        until_ms: number(&mut errors, "until_ms", q.until_ms.as_deref(), epoch_ms),
        limit: number(
            &mut errors,
            "limit",
            q.limit.as_deref(),
            "must be between 1 and 200",
        ),
        cursor: q.cursor.as_deref(),
    };
    let parsed = AuditQuery::parse(&input);
    match parsed {
        Ok(query) if errors.is_empty() => Ok(query),
        Ok(_) => Err(Problem::invalid(errors)),
        Err(more) => {
            errors.extend(more);
            Err(Problem::invalid(errors))
        }
    }
}

fn view(page: Page<AuditRecord>) -> AuditPage {
    AuditPage {
        items: page.items.into_iter().map(Into::into).collect(),
        next: page.next,
    }
}

/// List audit events, newest first. A tenant key lists its tenant's events; the operator key
/// lists every tenant's (and those without a tenant), or one tenant's with `?tenant=`.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditListQuery),
    security(("tenant_key" = []), ("operator_key" = [])),
    responses((status = 200, body = AuditPage), CommonErrors))]
async fn audit_list(
    reader: Reader,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AuditListQuery>,
) -> Result<Json<AuditPage>, Response> {
    let query = audit_query(&q).map_err(IntoResponse::into_response)?;
    let store = state.audit.store();
    let page = match reader {
        Reader::Operator => {
            let tenant = q.tenant.as_deref().map(TenantId::parse).transpose();
            let tenant = tenant.map_err(|_| {
                let e = FieldError::new("tenant", "must be a tenant id");
                Problem::invalid(vec![e]).into_response()
            })?;
            store.audit_list_all(tenant.as_ref(), &query).await
        }
        Reader::Tenant(caller) => {
            if let Some(other) = q.tenant.as_deref().filter(|t| *t != caller.tenant.as_str()) {
                let route = Some("/v1/audit");
                crate::audit::cross_tenant::record(&state, &caller, route, "audit", other);
                return Err(Problem::not_found("tenant").into_response());
            }
            store.audit_list(&caller.tenant, &query).await
        }
    };
    let page = page.map_err(|e| ApiError::from(e).into_response())?;
    Ok(Json(view(page)))
}
