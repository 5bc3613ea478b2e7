//! What every store backend offers besides its capability traits: what it supports, migrations, health and closing.

use crate::StoreError;

/// What a backend is and supports, so callers choose behaviour from it instead of from its
/// name (as River's drivers describe themselves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// A short name for logs and readiness (`sqlite`, `postgres`, `redis`).
    pub name: &'static str,
    /// Every instance connected to it sees the same state (PostgreSQL, Redis); false for a
    /// backend one machine holds (SQLite).
    pub shared: bool,
    /// It expires state by itself (Redis TTLs): no purge task is needed.
    pub expires_state: bool,
    /// It keeps what it acknowledged across a crash of every process (SQL stores).
    pub durable: bool,
}

/// The lifecycle every store backend (SQLite, PostgreSQL, Redis) implements.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// What this backend is and supports.
    fn features(&self) -> Features;

    /// Applies every pending migration and names those it applied (`0030_jobs`); a backend
    /// without a schema applies none.
    async fn migrate(&self) -> Result<Vec<String>, StoreError>;

    /// Checks the backend answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Closes its connections; later calls fail.
    async fn close(&self);
}
