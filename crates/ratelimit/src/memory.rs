//! In-memory stores: a bounded, sharded decision store and a policy store.

mod clock;
mod entry;
mod limits;
mod policies;

pub use clock::FastClock;
pub use limits::{MemoryOptions, MemoryRateLimitStore};
pub use policies::MemoryPolicyStore;
