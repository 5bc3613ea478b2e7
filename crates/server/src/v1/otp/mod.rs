//! `/v1/otp`: one-time passcodes over HTTP (tenant key): issue, verify, unlock.
//!
//! The app sends the end user's identity (normalised by the app) and IP. Per-IP quotas
//! (`otp.ip_issue_quota`, `otp.ip_verify_quota`) go through the rate-limiting capability under
//! the reserved policies `palisade.otp.issue` and `palisade.otp.verify`; the per-identity limit
//! and lockout are the OTP store's, shared by every instance. An identity never issued to
//! answers a verify exactly as a wrong code does (422 `otp-invalid`, same body). A lockout is
//! an audit event `otp.lockout` and, when `otp.lockout_webhook_url` is set, a signed webhook
//! to the app.

mod ip;
mod lockout;

use crate::app::Capability;
use crate::config::Config;
use crate::error::ApiError;
use crate::http::docs::{CommonErrors, ProblemDoc};
use crate::http::extract::ApiJson;
use crate::state::AppState;
use crate::stores::Stores;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use palisade_core::{Caller, FieldError, Maintenance, Problem, SharedAuditSink, SystemClock};
use palisade_fetch::Fetcher;
use palisade_jobs::JobStore;
use palisade_otp::{Code, Identity, Otp, OtpError, OtpPurge};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The OTP routes (tenant-authenticated).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(otp_issue))
        .routes(routes!(otp_verify))
        .routes(routes!(otp_unlock))
}

/// OTP as the server hosts it.
pub const CAPABILITY: Capability = Capability {
    name: "otp",
    operator_routes: crate::app::none,
    public_routes: crate::app::none,
    tenant_routes: routes,
    maintenance,
};

/// The purge of spent OTP state, and the sender of lockout webhooks when one is configured.
fn maintenance(state: &AppState) -> Vec<Arc<dyn Maintenance>> {
    let s = state.otp.settings();
    let mut tasks: Vec<Arc<dyn Maintenance>> = vec![Arc::new(OtpPurge {
        store: state.otp.store().clone(),
        retention: s.retention(),
        interval: s.purge_interval,
    })];
    if s.lockout_webhook_url.is_some() {
        let built = Fetcher::builder(state.config.fetch.clone())
            .audit(state.audit.sink())
            .build();
        match built {
            Ok(f) => tasks.extend(lockout::sender(
                &state.config,
                state.jobs.store.clone(),
                f,
                state.jobs.clock.clone(),
            )),
            Err(_) => {
                tracing::error!("otp: the outbound client could not start; no lockout webhooks")
            }
        }
    }
    tasks
}

/// The runtime over its store ([`Stores::otp`]: Redis when configured), with the configured
/// hash key or the durable store's own, enqueueing a lockout notice job in `jobs` per lockout
/// when `otp.lockout_webhook_url` is set.
pub async fn start(
    cfg: &Config,
    stores: &Stores,
    audit: SharedAuditSink,
    jobs: Arc<dyn JobStore>,
) -> Result<Otp, String> {
    let store = stores.otp(cfg.otp.retention());
    let otp = Otp::start(store, cfg.otp.clone(), audit, SystemClock::shared())
        .await
        .map_err(|e| format!("the OTP hash key could not be read or stored: {e}"))?;
    Ok(match cfg.otp.lockout_webhook_url {
        Some(_) => otp.notify_with(Arc::new(lockout::LockoutJobs { jobs })),
        None => otp,
    })
}

/// Input of issue.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueBody {
    /// Whose code: an email, a phone number, a user id (1..=512 bytes, no control characters),
    /// normalised by the app (Palisade compares bytes). Stored only as a keyed hash.
    #[serde(default)]
    #[schema(value_type = String)]
    pub identity: Value,
    /// The end user's IP address (the per-IP quota's key; IPv6 by /64).
    #[serde(default)]
    #[schema(value_type = String)]
    pub ip: Value,
}

/// Input of verify.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    /// Whose code, as given at issue.
    #[serde(default)]
    #[schema(value_type = String)]
    pub identity: Value,
    /// The code the user typed: exactly `otp.code_length` symbols of `otp.alphabet` (letters in
    /// any case).
    #[serde(default)]
    #[schema(value_type = String)]
    pub code: Value,
    /// The end user's IP address.
    #[serde(default)]
    #[schema(value_type = String)]
    pub ip: Value,
}

/// Input of unlock.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnlockBody {
    /// Whose lockout to end.
    #[serde(default)]
    #[schema(value_type = String)]
    pub identity: Value,
}

/// A new code, to send to the user (never stored by Palisade; the answer is `no-store`).
#[derive(Serialize, ToSchema)]
pub struct IssuedView {
    /// The code.
    pub code: String,
    /// When it expires (ms since the epoch).
    pub expires_at_ms: i64,
    /// The identity's keyed hash: lockout webhooks and `otp.lockout` audit events name the
    /// identity by it (Palisade never keeps the identity), so keep it with your user to match
    /// them.
    pub identity_hash: String,
}

/// A code that verified (and is now used up).
#[derive(Serialize, ToSchema)]
pub struct VerifiedView {
    /// Always true: every other outcome is a problem.
    pub valid: bool,
}

/// What an unlock did.
#[derive(Serialize, ToSchema)]
pub struct UnlockedView {
    /// True when the identity was locked out.
    pub was_locked: bool,
}

const IDENTITY_EXPECTED: &str = "required: 1 to 512 bytes of text without control characters";

/// The `identity` member, or its field error.
fn identity_parse(v: &Value) -> Result<Identity, FieldError> {
    match v.as_str() {
        Some(s) => Identity::parse(s, "identity"),
        None => Err(FieldError::new("identity", IDENTITY_EXPECTED)),
    }
}

/// The `code` member in the configured shape, or its field error.
fn code_parse(otp: &Otp, v: &Value) -> Result<Code, FieldError> {
    let shape = |s: &str| otp.code_parse(s, "code");
    v.as_str().map_or_else(|| shape(""), shape)
}

/// A 400 listing every field error of `results`.
fn invalid<const N: usize>(results: [Option<FieldError>; N]) -> ApiError {
    Problem::invalid(results.into_iter().flatten().collect()).into()
}

/// The problem of an OTP error: 400 `invalid-request`, 422 `otp-invalid`, 423 `otp-locked`,
/// 429 `otp-rate-limited` or `otp-delayed` (all three with `Retry-After`), or a store failure.
fn otp_problem(e: OtpError) -> ApiError {
    let (status, title, detail) = match &e {
        OtpError::Invalid(errors) => return Problem::invalid(errors.clone()).into(),
        OtpError::CodeInvalid => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid code",
            "the code is wrong, expired or already used",
        ),
        OtpError::Locked { .. } => (
            StatusCode::LOCKED,
            "Locked out",
            "too many failed codes: the identity is locked out until Retry-After or an unlock",
        ),
        OtpError::RateLimited { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            "too many attempts for this identity or address; retry after Retry-After",
        ),
        OtpError::Delayed { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too soon",
            "too soon after a failed code for this identity; retry after Retry-After",
        ),
        OtpError::Store(se) => return ApiError::Store(se.clone()),
        _ => return Problem::internal().into(),
    };
    let mut p = Problem::new(status, e.code(), title, detail);
    p.retry_after = e.retry_after_secs();
    p.into()
}

/// Issue a one-time code for an identity, replacing its live code.
///
/// Answers the code for the app to send (by email, SMS…) and its expiry; Palisade keeps only a
/// keyed hash of it. A locked-out identity answers 423 `otp-locked`.
#[utoipa::path(post, path = "/v1/otp/issue", tag = "otp",
    request_body = IssueBody, security(("tenant_key" = [])),
    responses((status = 201, body = IssuedView, description = "The new code"),
              (status = 423, description = "`otp-locked`: the identity is locked out; `Retry-After` says until when", body = ProblemDoc, content_type = "application/problem+json"),
              (status = 429, description = "`otp-rate-limited`: the IP's issue quota is spent; `Retry-After`", body = ProblemDoc, content_type = "application/problem+json"),
              CommonErrors))]
async fn otp_issue(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<IssueBody>,
) -> Result<Response, ApiError> {
    let (identity, addr) = match (identity_parse(&body.identity), ip::ip_parse(&body.ip)) {
        (Ok(i), Ok(a)) => (i, a),
        (i, a) => return Err(invalid([i.err(), a.err()])),
    };
    let quota = state.config.otp.ip_issue_quota;
    ip::ip_allowance(&state, &caller.tenant, ip::ISSUE_POLICY, quota, addr)
        .await?
        .map_err(otp_problem)?;
    let issued = state
        .otp
        .issue(&caller.tenant, &identity)
        .await
        .map_err(otp_problem)?;
    let view = IssuedView {
        code: issued.code.expose().to_owned(),
        expires_at_ms: issued.expires_at_ms,
        identity_hash: issued.identity_hash,
    };
    let mut res = (StatusCode::CREATED, Json(view)).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// Verify a code once: a match uses it up.
///
/// A wrong, expired or used code and an identity never issued to all answer 422 `otp-invalid`
/// with the same body. Each identity has `otp.verify_limit` verifies per `otp.verify_window`
/// whatever the IP (then 429 `otp-rate-limited`); after `otp.delay_after` consecutive failures
/// each further verify must come `otp.delay_base × 2^(failures − otp.delay_after)` (at most
/// `otp.delay_max`) after the last failure, else 429 `otp-delayed` (not counted, nothing
/// compared); and `otp.lockout_after` consecutive failures lock it for `otp.lockout_cooldown`
/// (423 `otp-locked`).
#[utoipa::path(post, path = "/v1/otp/verify", tag = "otp",
    request_body = VerifyBody, security(("tenant_key" = [])),
    responses((status = 200, body = VerifiedView, description = "The code matched and is now used"),
              (status = 422, description = "`otp-invalid`: wrong, expired or used code, or no code for the identity (one answer for all)", body = ProblemDoc, content_type = "application/problem+json"),
              (status = 423, description = "`otp-locked`: too many consecutive failures; `Retry-After` says until when", body = ProblemDoc, content_type = "application/problem+json"),
              (status = 429, description = "`otp-rate-limited`: the identity's or the IP's attempts are spent; `otp-delayed`: too soon after the identity's last failure (the progressive delay; not counted). Both with `Retry-After`", body = ProblemDoc, content_type = "application/problem+json"),
              CommonErrors))]
async fn otp_verify(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<VerifyBody>,
) -> Result<Response, ApiError> {
    let s = &state.config.otp;
    let (identity, code, addr) = match (
        identity_parse(&body.identity),
        code_parse(&state.otp, &body.code),
        ip::ip_parse(&body.ip),
    ) {
        (Ok(i), Ok(c), Ok(a)) => (i, c, a),
        (i, c, a) => return Err(invalid([i.err(), c.err(), a.err()])),
    };
    ip::ip_allowance(
        &state,
        &caller.tenant,
        ip::VERIFY_POLICY,
        s.ip_verify_quota,
        addr,
    )
    .await?
    .map_err(otp_problem)?;
    state
        .otp
        .verify(&caller.tenant, &identity, &code)
        .await
        .map_err(otp_problem)?;
    Ok(Json(VerifiedView { valid: true }).into_response())
}

/// End an identity's lockout (and clear its failure count and verify window).
#[utoipa::path(post, path = "/v1/otp/unlock", tag = "otp",
    request_body = UnlockBody, security(("tenant_key" = [])),
    responses((status = 200, body = UnlockedView, description = "Unlocked (or was not locked)"),
              CommonErrors))]
async fn otp_unlock(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<UnlockBody>,
) -> Result<Response, ApiError> {
    let identity = identity_parse(&body.identity).map_err(|e| invalid([Some(e)]))?;
    let was_locked = state
        .otp
        .unlock(&caller.tenant, &identity)
        .await
        .map_err(otp_problem)?;
    Ok(Json(UnlockedView { was_locked }).into_response())
}
