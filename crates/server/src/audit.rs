//! The server's audit trail: the writer over the durable store, retention, and the events the
//! HTTP API records (auth failures, key changes, cross-tenant attempts, config changes).

pub mod cross_tenant;

use crate::config::Config;
use crate::stores::Stores;
use palisade_audit::{
    AuditEvent, AuditEventType, AuditSink, AuditStore, AuditWriter, Retention, RetentionStep,
};
use palisade_core::{Caller, Maintenance, SharedClock, TenantId};
use std::sync::Arc;

/// The audit sink and store of one process; cheap to clone.
#[derive(Debug, Clone)]
pub struct Audit {
    writer: Arc<AuditWriter>,
    store: Arc<dyn AuditStore>,
    retention: Retention,
}

impl Audit {
    /// Starts the writer over the durable store; [`Self::retention`] is its maintenance task.
    pub fn start(cfg: &Config, stores: &Stores, clock: SharedClock) -> Self {
        let store: Arc<dyn AuditStore> = stores.durable.clone();
        let s = &cfg.audit;
        let writer = Arc::new(AuditWriter::start(store.clone(), s));
        let retention = Retention {
            store: store.clone(),
            step: RetentionStep::new(s.retention),
            interval: s.prune_interval,
            clock,
        };
        Self {
            writer,
            store,
            retention,
        }
    }

    /// Queues `event` (never waits on the store).
    pub fn record(&self, event: AuditEvent) {
        self.writer.audit_record(event);
    }

    /// The sink, for capabilities that record their own events.
    pub fn sink(&self) -> Arc<dyn AuditSink> {
        self.writer.clone()
    }

    /// The store the trail is listed from.
    pub fn store(&self) -> &dyn AuditStore {
        &*self.store
    }

    /// The retention task, for the maintenance supervisor.
    pub fn retention(&self) -> Arc<dyn Maintenance> {
        Arc::new(self.retention.clone())
    }

    /// Writes every queued event (call before closing the stores).
    pub async fn close(&self) {
        self.writer.close().await;
    }

    /// `auth.failure`: a presented credential did not authenticate. `tenant` and `key_id` are
    /// known when the key id exists; `reason` is a fixed word, never the credential.
    pub fn auth_failure(&self, tenant: Option<&TenantId>, key_id: Option<&str>, reason: &str) {
        let mut e = AuditEvent::new(AuditEventType::AuthFailure)
            .detail(serde_json::json!({ "reason": reason }));
        e.tenant = tenant.cloned();
        e.actor = key_id.map(str::to_owned);
        self.record(e);
    }

    /// `key.created` / `key.revoked` by the operator.
    pub fn key_changed(&self, kind: AuditEventType, tenant: &TenantId, key_id: &str) {
        let e = AuditEvent::new(kind)
            .tenant(tenant)
            .actor("operator")
            .detail(serde_json::json!({ "key_id": key_id }));
        self.record(e);
    }

    /// `config.changed` by `caller`; `detail` says what (`{"what": …, "action": …, …}`).
    pub fn config_changed(&self, caller: &Caller, detail: serde_json::Value) {
        let e = AuditEvent::new(AuditEventType::ConfigChanged)
            .tenant(&caller.tenant)
            .actor(caller.principal.as_str())
            .detail(detail);
        self.record(e);
    }
}
