//! Shared foundations of Palisade: tenant ids, the error model, clocks, secrets, redaction and
//! the audit event model.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
pub mod backend;
pub mod caller;
pub mod changes;
pub mod clock;
pub mod error;
pub mod feed_cache;
pub mod input;
pub mod maintenance;
pub mod page;
pub mod problem;
pub mod redact;
pub mod request_id;
pub mod secret;
pub mod sensitive;
pub mod tenant;
pub mod text;

pub use audit::{AuditEvent, AuditEventType, AuditSink, NoAudit, SharedAuditSink};
pub use backend::{Backend, Features};
pub use caller::Caller;
pub use changes::{Change, ChangeFeed, ChangeRecord, MemoryChanges};
pub use clock::{Clock, FastClock, ManualClock, SharedClock, SystemClock};
pub use error::StoreError;
pub use maintenance::{Maintenance, Supervisor};
pub use page::{Page, PageRequest};
pub use problem::{FieldError, Problem};
pub use tenant::TenantId;
