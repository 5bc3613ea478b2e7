//! Cron: durable per-tenant schedules that enqueue a job per slot, each slot exactly once across instances.
//!
//! - [`expr`]: cron expressions (seconds optional) and IANA time zones, via `croner` and
//!   `chrono-tz`; a local time skipped by a DST change fires once, at the first instant
//!   after the gap, and a repeated local time fires once, at its first occurrence.
//! - [`model`]: schedules, missed-slot policies (`skip`, `latest`, `all` up to a bound).
//! - [`plan`]: which slots one fire enqueues.
//! - [`store`]: [`CronStore`], whose `cron_fire` enqueues the slots' jobs and advances the
//!   schedule with a compare-and-set in one transaction; [`memory`]: its in-memory store.
//! - [`runtime`]: the `cron` maintenance task; [`settings`]: `[cron]`.

pub mod error;
pub mod expr;
pub mod memory;
pub mod model;
pub mod plan;
pub mod runtime;
pub mod settings;
pub mod store;

pub use error::CronError;
pub use expr::{CronExpr, Zone};
pub use memory::MemoryCronStore;
pub use model::{
    CronFire, DueSchedule, Fired, MissedPolicy, Schedule, ScheduleName, ScheduleSpec, MAX_CATCH_UP,
};
pub use plan::{plan, Plan};
pub use runtime::{sync_declared, CronTask};
pub use settings::{ConfigSchedule, CronSettings};
pub use store::CronStore;
