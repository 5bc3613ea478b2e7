//! The audit trail: an append-only, tenant-scoped record of security events.
//!
//! Capabilities emit [`AuditEvent`](palisade_core::AuditEvent)s through
//! [`AuditSink`](palisade_core::AuditSink) (defined in `palisade-core`, so they need not depend
//! on this crate). [`AuditWriter`] is the durable sink: a bounded queue and one background task
//! that appends batches to an [`AuditStore`], counts every event
//! (`palisade_audit_events_total{type}`), drops and counts when the queue is full, and on
//! [`AuditWriter::close`] writes everything still queued. [`AuditRecord::from_event`] redacts
//! the detail before anything is stored. [`retention_step`] deletes what is older than
//! `audit.retention`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod memory;
mod metrics;
mod model;
mod query;
mod redact;
mod retention;
mod settings;
mod store;
mod writer;

pub use memory::MemoryAuditStore;
pub use model::AuditRecord;
pub use query::{AuditCursor, AuditQuery, AuditQueryInput};
pub use redact::{redact_detail, MAX_DETAIL_BYTES};
pub use retention::{retention_step, Retention, RetentionStep};
pub use settings::AuditSettings;
pub use store::AuditStore;
pub use writer::AuditWriter;

pub use palisade_core::audit::{AuditEvent, AuditEventType, AuditSink, NoAudit, SharedAuditSink};
