//! The server's audit trail: the writer over the durable store, retention, and the events the
//! HTTP API records (auth failures, key changes, cross-tenant attempts, config changes).

pub mod cross_tenant;

use crate::config::Config;
use crate::stores::{Durable, Stores};
use palisade_audit::{
    retention_step, AuditEvent, AuditEventType, AuditSink, AuditStore, AuditWriter, RetentionStep,
};
use palisade_core::{Caller, SharedClock, TenantId};
use std::sync::Arc;
use tokio::task::AbortHandle;

/// The audit sink and store of one process; cheap to clone.
#[derive(Debug, Clone)]
pub struct Audit {
    writer: Arc<AuditWriter>,
    store: Arc<dyn AuditStore>,
    retention: AbortHandle,
}

impl Audit {
    /// Starts the writer over the durable store and the retention task (every
    /// `audit.prune_interval` until [`Self::close`]; the maintenance supervisor of issue 12
    /// will run [`retention_step`] instead once it exists).
    pub fn start(cfg: &Config, stores: &Stores, clock: SharedClock) -> Self {
        let store = match &stores.durable {
            Durable::Sqlite(s) => s.sql().audit_store(),
            Durable::Postgres(s) => s.sql().audit_store(),
        };
        let s = &cfg.audit;
        let writer = Arc::new(AuditWriter::start(store.clone(), s));
        let retention = spawn_retention(store.clone(), s.retention, s.prune_interval, clock);
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

    /// Stops retention and writes every queued event (call before closing the stores).
    pub async fn close(&self) {
        self.retention.abort();
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

fn spawn_retention(
    store: Arc<dyn AuditStore>,
    retention: std::time::Duration,
    every: std::time::Duration,
    clock: SharedClock,
) -> AbortHandle {
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let step = RetentionStep::new(retention);
            match retention_step(&*store, step, clock.now_ms()).await {
                Ok(n) if n > 0 => tracing::debug!(deleted = n, "audit retention"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "audit retention failed"),
            }
        }
    });
    task.abort_handle()
}
