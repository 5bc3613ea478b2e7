//! In-memory stores: a bounded, sharded decision store and a policy store.

mod limits;
mod policies;

pub use limits::{MemoryOptions, MemoryRateLimitStore};
pub use policies::MemoryPolicyStore;
