//! The stored audit record: an event with an id, redacted detail and bounded actor.

use crate::query::AuditCursor;
use crate::redact::redact_detail;
use palisade_core::audit::{AuditEvent, AuditEventType};
use palisade_core::TenantId;
use serde::Serialize;

/// The longest stored actor or request id (characters); longer ones are cut.
const MAX_ID_CHARS: usize = 128;

/// One stored security event. Records are only ever appended (and pruned by age).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    /// `aud_` followed by 20 alphanumerics.
    pub id: String,
    /// The tenant it belongs to; `None` for operator and unauthenticated events.
    pub tenant: Option<TenantId>,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: AuditEventType,
    /// Who did it: a key id or principal.
    pub actor: Option<String>,
    /// The request it happened in.
    pub request_id: Option<String>,
    /// When (ms since the epoch).
    pub at_ms: i64,
    /// Redacted, bounded JSON object ([`redact_detail`]).
    pub detail: serde_json::Value,
}

impl AuditRecord {
    /// The record of `event`: a new id, the detail redacted, actor and request id redacted and
    /// bounded. Nothing of the event reaches a store except through this.
    pub fn from_event(event: AuditEvent) -> Self {
        Self {
            id: format!("aud_{}", palisade_core::secret::random_token(20)),
            tenant: event.tenant,
            kind: event.kind,
            actor: event.actor.as_deref().map(bounded),
            request_id: event.request_id.as_deref().map(bounded),
            at_ms: event.at_ms,
            detail: redact_detail(&event.detail),
        }
    }

    /// The cursor that lists the records after this one.
    pub fn cursor(&self) -> AuditCursor {
        AuditCursor {
            at_ms: self.at_ms,
            id: self.id.clone(),
        }
    }
}

fn bounded(s: &str) -> String {
    palisade_core::redact::redact(s)
        .chars()
        .take(MAX_ID_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn from_event_redacts_and_bounds() {
        let e = AuditEvent::new(AuditEventType::AuthFailure)
            .actor("x".repeat(500))
            .detail(json!({"token": "pk_live_abc", "reason": "revoked"}));
        let r = AuditRecord::from_event(e);
        assert!(r.id.starts_with("aud_") && r.id.len() == 24);
        assert_eq!(r.actor.unwrap().len(), MAX_ID_CHARS);
        assert_eq!(
            r.detail,
            json!({"token": "[REDACTED]", "reason": "revoked"})
        );
    }
}
