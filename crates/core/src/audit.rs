//! The audit event every capability emits, and the [`AuditSink`] it emits it through.
//!
//! Capabilities record security events here without depending on the audit crate: they hold an
//! [`AuditSink`] (`palisade-audit` provides the durable one) and call
//! [`AuditSink::audit_record`], which never waits on a store. The event carries no secret: an
//! actor is a key or principal id, and the detail is a small JSON object that the sink redacts
//! (sensitive field names and secret-looking text, see [`crate::redact`]) before anything stores it.

use crate::{Clock, SystemClock, TenantId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What happened: a bounded set of security events. The name ([`Self::as_str`]) is stable: it is
/// stored, filtered on (`?type=`) and used as the `type` label of the audit metrics.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuditEventType {
    /// A presented credential did not authenticate (unknown, wrong secret, revoked).
    #[serde(rename = "auth.failure")]
    AuthFailure,
    /// An API key was created.
    #[serde(rename = "key.created")]
    KeyCreated,
    /// An API key was revoked.
    #[serde(rename = "key.revoked")]
    KeyRevoked,
    /// A tenant's credential reached for another tenant's resource (answered 404).
    #[serde(rename = "cross_tenant.attempt")]
    CrossTenantAttempt,
    /// Runtime configuration changed (rate-limit policy or override put or deleted).
    #[serde(rename = "config.changed")]
    ConfigChanged,
    /// An inbound webhook's signature did not verify.
    #[serde(rename = "webhook.signature_invalid")]
    WebhookSignatureInvalid,
    /// An OTP identity or address was locked out after too many failures.
    #[serde(rename = "otp.lockout")]
    OtpLockout,
    /// A CSRF token was missing or invalid.
    #[serde(rename = "csrf.failure")]
    CsrfFailure,
    /// An encryption key was rotated.
    #[serde(rename = "crypto.key_rotated")]
    CryptoKeyRotated,
    /// An outbound fetch was refused by the SSRF policy (the rule, never the address).
    #[serde(rename = "fetch.blocked")]
    FetchBlocked,
    /// A token (by jti) or a subject's tokens were revoked.
    #[serde(rename = "token.revoked")]
    TokenRevoked,
}

impl AuditEventType {
    /// Every event type, in a stable order.
    pub const ALL: [Self; 11] = [
        Self::AuthFailure,
        Self::KeyCreated,
        Self::KeyRevoked,
        Self::CrossTenantAttempt,
        Self::ConfigChanged,
        Self::WebhookSignatureInvalid,
        Self::OtpLockout,
        Self::CsrfFailure,
        Self::CryptoKeyRotated,
        Self::FetchBlocked,
        Self::TokenRevoked,
    ];

    /// The stable name, e.g. `auth.failure`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthFailure => "auth.failure",
            Self::KeyCreated => "key.created",
            Self::KeyRevoked => "key.revoked",
            Self::CrossTenantAttempt => "cross_tenant.attempt",
            Self::ConfigChanged => "config.changed",
            Self::WebhookSignatureInvalid => "webhook.signature_invalid",
            Self::OtpLockout => "otp.lockout",
            Self::CsrfFailure => "csrf.failure",
            Self::CryptoKeyRotated => "crypto.key_rotated",
            Self::FetchBlocked => "fetch.blocked",
            Self::TokenRevoked => "token.revoked",
        }
    }

    /// The type named `s`, if any.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl std::fmt::Display for AuditEventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One security event, as a capability reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// The tenant it belongs to; `None` for operator and unauthenticated events.
    pub tenant: Option<TenantId>,
    /// What happened.
    pub kind: AuditEventType,
    /// Who did it: a key id or principal, never a secret.
    pub actor: Option<String>,
    /// The request it happened in (taken from [`crate::request_id::current`] by [`Self::new`]).
    pub request_id: Option<String>,
    /// When (ms since the epoch).
    pub at_ms: i64,
    /// A small JSON object with the specifics; redacted before it is stored.
    pub detail: serde_json::Value,
}

impl AuditEvent {
    /// An event of `kind` now (system clock), in the current request, with no tenant, actor or
    /// detail yet.
    pub fn new(kind: AuditEventType) -> Self {
        Self {
            tenant: None,
            kind,
            actor: None,
            request_id: crate::request_id::current(),
            at_ms: SystemClock.now_ms(),
            detail: serde_json::Value::Object(Default::default()),
        }
    }

    /// Scopes the event to `tenant`.
    pub fn tenant(mut self, tenant: &TenantId) -> Self {
        self.tenant = Some(tenant.clone());
        self
    }

    /// Names who did it (a key id or principal, never a secret).
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Sets the time (ms since the epoch).
    pub fn at(mut self, at_ms: i64) -> Self {
        self.at_ms = at_ms;
        self
    }

    /// Sets the detail object.
    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }
}

/// Where capabilities send security events.
///
/// `audit_record` must not block or await a store: it queues the event (or drops it and counts
/// the drop when the queue is full) and returns at once.
pub trait AuditSink: Send + Sync + std::fmt::Debug {
    /// Records `event` off the caller's hot path.
    fn audit_record(&self, event: AuditEvent);
}

/// An audit sink shared between components.
pub type SharedAuditSink = Arc<dyn AuditSink>;

/// A sink that discards every event, for embedders without an audit trail.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoAudit;

impl AuditSink for NoAudit {
    fn audit_record(&self, _event: AuditEvent) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for t in AuditEventType::ALL {
            assert_eq!(AuditEventType::parse(t.as_str()), Some(t));
            let json = serde_json::to_value(t).unwrap();
            assert_eq!(json, serde_json::Value::String(t.as_str().into()));
        }
        assert_eq!(AuditEventType::parse("auth"), None);
    }

    #[tokio::test]
    async fn new_takes_the_current_request_id() {
        let e = crate::request_id::scope("req_9".into(), async {
            AuditEvent::new(AuditEventType::KeyCreated)
        })
        .await;
        assert_eq!(e.request_id.as_deref(), Some("req_9"));
        assert!(e.at_ms > 0 && e.tenant.is_none() && e.actor.is_none());
    }
}
