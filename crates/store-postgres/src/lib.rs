//! PostgreSQL backend: implements Palisade's store traits for N instances sharing one database.
//!
//! Locks are leases in a table, not advisory locks: a session-level advisory lock is tied to
//! a server connection and is unsafe behind PgBouncer in transaction mode (the next statement
//! may run on another connection, so the lock is held by nobody or released by a stranger),
//! and it has neither a TTL nor a fencing token. No lock operation spans transactions.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod pool;
mod ratelimit;
mod realtime;
mod wakeups;

pub use pool::{pool_size, PoolSizing};
pub use realtime::{PgFanout, REALTIME_CHANNEL};
pub use wakeups::JobWakeups;

use palisade_core::StoreError;
use palisade_store_sql::{Dialect, SqlBackend, SqlStore};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor, Postgres};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// A pooled connection idle this long is pinged before it is handed out (a restarted server
/// or a dropped link is found then, not by the caller's query); one used more recently is
/// handed out at once, saving a round trip on every busy acquire.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Connection settings for [`PgStore`].
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// `postgres://user@host:port/db`.
    pub url: String,
    /// Schema holding Palisade's tables (created when missing); `None` uses the default search path.
    pub schema: Option<String>,
    /// Pool size; `None` computes it with [`pool_size`] from the server's `max_connections`.
    pub max_connections: Option<u32>,
    /// Inputs of the computed pool size.
    pub sizing: PoolSizing,
    /// How long a caller waits for a pooled connection before [`StoreError::Unavailable`].
    pub acquire_timeout: Duration,
    /// Rate-limit decisions gathered into one statement at most (default 64).
    pub ratelimit_max_batch: usize,
    /// Rate-limit batches running at once, each on a pooled connection (default 2: under
    /// load fewer, larger batches decide more per second than many small ones).
    pub ratelimit_in_flight: usize,
}

impl PgOptions {
    /// Defaults for `url`: computed pool size, 2 s acquire timeout, default schema, rate-limit
    /// batches of up to 64 decisions, 2 at a time.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: None,
            max_connections: None,
            sizing: PoolSizing::default(),
            acquire_timeout: Duration::from_secs(2),
            ratelimit_max_batch: 64,
            ratelimit_in_flight: 2,
        }
    }
}

/// All of Palisade's durable state in one PostgreSQL database: the shared SQL store on
/// PostgreSQL.
///
/// It implements every store trait where the SQL is: `TenantStore`, `LockStore`,
/// `IdempotencyStore`, `RateLimitPolicyStore`, `AuditStore` and `JobStore` in `palisade_store_sql`
/// (`impl … for SqlStore<D, B>`),
/// `RateLimitStore` through [`PgBackend`]'s decisions (this crate's `ratelimit.rs`).
/// `PgStore::connect(&opts)` opens it, `migrate` applies this crate's migrations (serialised
/// across instances by sqlx's advisory lock).
pub type PgStore = SqlStore<Postgres, PgBackend>;

/// PostgreSQL's own part of [`PgStore`]: how it connects (schema, pool sizing) and migrates,
/// and its rate-limit decisions gathered into batches (holding the pool, not the store).
#[derive(Debug, Clone)]
pub struct PgBackend {
    decisions: Arc<ratelimit::DecisionBatcher>,
}

impl SqlBackend<Postgres> for PgBackend {
    type Options = PgOptions;

    const FEATURES: palisade_core::Features = palisade_core::Features {
        name: "postgres",
        shared: true,
        expires_state: false,
        durable: true,
    };

    /// Connects, creating `schema` when set, and sizes the pool.
    async fn connect(opts: &PgOptions) -> Result<(PgPool, Self), StoreError> {
        let base = PgConnectOptions::from_str(&opts.url).map_err(map_err)?;
        let mut first = base.connect().await.map_err(map_err)?;
        if let Some(schema) = &opts.schema {
            check_ident(schema)?;
            first
                .execute(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"").as_str())
                .await
                .map_err(map_err)?;
        }
        let size = match opts.max_connections {
            Some(n) => n,
            None => {
                let max: String = sqlx::query_scalar("SHOW max_connections")
                    .fetch_one(&mut first)
                    .await
                    .map_err(map_err)?;
                pool_size(max.parse().unwrap_or(100), &opts.sizing)
            }
        };
        first.close().await.map_err(map_err)?;
        let connect = match &opts.schema {
            Some(s) => base.options([("search_path", s.as_str())]),
            None => base,
        };
        let pool = PgPoolOptions::new()
            .max_connections(size)
            .acquire_timeout(opts.acquire_timeout)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_AFTER_IDLE {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(connect)
            .await
            .map_err(map_err)?;
        let decisions = Arc::new(ratelimit::batcher(
            pool.clone(),
            opts.ratelimit_max_batch,
            opts.ratelimit_in_flight,
            opts.acquire_timeout + std::time::Duration::from_secs(2),
        ));
        Ok((pool, Self { decisions }))
    }

    async fn migrate(pool: &PgPool) -> Result<Vec<String>, StoreError> {
        palisade_store_sql::migrate_reporting(pool, &sqlx::migrate!("./migrations")).await
    }
}

fn check_ident(s: &str) -> Result<(), StoreError> {
    let ok =
        !s.is_empty() && s.len() <= 63 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Backend(format!("invalid schema name {s:?}")))
    }
}

/// Maps a sqlx error to the shared [`StoreError`] by kind and SQLSTATE, never by message text.
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    sqlx::Postgres::map_err(e)
}
