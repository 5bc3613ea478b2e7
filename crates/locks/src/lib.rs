//! Fenced distributed locks: leases with a TTL, holder-only renew and release, and fencing tokens.
//!
//! # Guarantees
//!
//! - **Leases.** A lock is granted to one holder for a TTL ([`Ttl`], 100 ms ..= 1 h). The holder
//!   renews it before it expires; once expired, anyone may take it over.
//! - **Fencing tokens.** Every grant of a lock name (per tenant) carries a [`FencingToken`] that is
//!   strictly greater than every earlier grant's token of that name, including grants that follow
//!   an expiry or a release. A resource that remembers the highest token it has seen and refuses
//!   lower ones is safe even against a holder that was paused past its TTL.
//! - **Holder-only changes.** Renew and release succeed only for the current holder presenting its
//!   token, and only before the lease expires. A stale holder can neither renew nor release its
//!   successor's lease ([`LockError::NotHolder`], [`LockError::Expired`]).
//! - **Atomic stores.** Every [`LockStore`] decides a grant, renew or release in one atomic step.
//!
//! # Waiting
//!
//! [`Locks::acquire`] waits at most a bounded time ([`MaxWait`], 0 ..= 60 s). Within one process,
//! waiters of one lock are served first come, first served: a FIFO queue admits one poller at a
//! time, and a release through the same [`Locks`] wakes it at once, so a steady stream of local
//! contenders cannot starve an earlier one. Across processes there is no queue: pollers retry
//! with capped exponential backoff and jitter (10 ms doubling to 100 ms), which makes starvation
//! unlikely but does not rule it out; the wait always ends by its deadline, returning the
//! current holder.
//!
//! # Running work under a lock
//!
//! [`Locks::run`] acquires, renews in the background at a third of the TTL, releases on every
//! exit path (success, error, panic, and cancellation through a drop guard that spawns the
//! release), and tells the work through [`LockContext`] when the lease is lost.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod memory;
pub mod metrics;
mod model;
mod runner;
mod store;
mod wait;

pub use error::LockError;
pub use memory::MemoryLockStore;
pub use model::{
    validate, Acquired, FencingToken, HolderId, Lease, LeaseCheck, LockAcquire, LockName,
    LockRelease, LockRenew, MaxWait, Ttl, MAX_TTL, MAX_WAIT, MIN_TTL,
};
pub use runner::{LockContext, Locked};
pub use store::refusal;
pub use store::LockStore;
pub use wait::Locks;
