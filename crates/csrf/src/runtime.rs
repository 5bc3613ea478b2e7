//! [`Csrf`]: issue and verify-and-refresh synchronizer tokens over a store, with audit and metrics.

use crate::error::CsrfError;
use crate::model::{session_hash, token_hash, CsrfConsume, CsrfIssue, SessionHash, Token};
use crate::settings::CsrfSettings;
use crate::store::CsrfStore;
use palisade_core::{AuditEvent, AuditEventType, SharedAuditSink, TenantId};
use std::sync::Arc;

/// A token handed out (at issue, or fresh after a verify).
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The token in clear.
    pub token: Token,
    /// When it expires (ms since the epoch).
    pub expires_at_ms: i64,
}

/// The synchronizer-token runtime.
#[derive(Debug, Clone)]
pub struct Csrf {
    store: Arc<dyn CsrfStore>,
    settings: Arc<CsrfSettings>,
    audit: SharedAuditSink,
}

fn counted(outcome: &'static str) {
    metrics::counter!("palisade_csrf_verifies_total", "outcome" => outcome).increment(1);
}

impl Csrf {
    /// The runtime over `store`.
    pub fn new(store: Arc<dyn CsrfStore>, settings: CsrfSettings, audit: SharedAuditSink) -> Self {
        Self {
            store,
            settings: Arc::new(settings),
            audit,
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn CsrfStore> {
        &self.store
    }

    /// The settings.
    pub fn settings(&self) -> &CsrfSettings {
        &self.settings
    }

    async fn issue_hashed(
        &self,
        tenant: &TenantId,
        session: SessionHash,
    ) -> Result<IssuedToken, CsrfError> {
        let token = Token::generate();
        let req = CsrfIssue {
            token: token_hash(&token),
            session,
            ttl_ms: self.settings.token_ttl.as_millis() as i64,
        };
        let expires_at_ms = self.store.csrf_issue(tenant, &req).await?;
        Ok(IssuedToken {
            token,
            expires_at_ms,
        })
    }

    /// A new token for `session`.
    pub async fn issue(&self, tenant: &TenantId, session: &str) -> Result<IssuedToken, CsrfError> {
        let session =
            session_hash(tenant, session, "session_id").map_err(|e| CsrfError::Invalid(vec![e]))?;
        self.issue_hashed(tenant, session).await
    }

    /// Consumes `token` for `session` and hands out a fresh one; a token that is unknown,
    /// expired, used or another session's is [`CsrfError::TokenInvalid`] and an audit event
    /// `csrf.failure`.
    pub async fn verify(
        &self,
        tenant: &TenantId,
        session: &str,
        token: &str,
    ) -> Result<IssuedToken, CsrfError> {
        let (session, token) = match (
            session_hash(tenant, session, "session_id"),
            Token::parse(token, "token"),
        ) {
            (Ok(s), Ok(t)) => (s, t),
            (s, t) => {
                return Err(CsrfError::Invalid(
                    [s.err(), t.err()].into_iter().flatten().collect(),
                ))
            }
        };
        let req = CsrfConsume {
            token: token_hash(&token),
            session: session.clone(),
        };
        if !self.store.csrf_consume(tenant, &req).await? {
            counted("invalid");
            let event = AuditEvent::new(AuditEventType::CsrfFailure)
                .tenant(tenant)
                .detail(serde_json::json!({"reason": "token-invalid"}));
            self.audit.audit_record(event);
            return Err(CsrfError::TokenInvalid);
        }
        counted("valid");
        self.issue_hashed(tenant, session).await
    }
}
