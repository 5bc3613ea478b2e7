//! SQLite backend: implements Palisade's store traits on one SQLite file (WAL mode).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod ratelimit;

use palisade_core::StoreError;
use palisade_store_sql::{Dialect, SqlBackend, SqlStore};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Sqlite;
use std::str::FromStr;
use std::time::Duration;

/// Connection settings for [`SqliteStore`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// `sqlite://path/to/file.db` (created when missing).
    pub url: String,
    /// Pool size.
    pub max_connections: u32,
    /// How long a caller waits for a pooled connection before [`StoreError::Unavailable`].
    pub acquire_timeout: Duration,
}

impl SqliteOptions {
    /// Defaults for `url`: 8 connections, 2 s acquire timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 8,
            acquire_timeout: Duration::from_secs(2),
        }
    }
}

/// All of Palisade's durable state in one SQLite database: the shared SQL store on SQLite.
///
/// It implements every store trait where the SQL is: `TenantStore`, `LockStore`,
/// `IdempotencyStore`, `RateLimitPolicyStore`, `AuditStore` and `JobStore` in `palisade_store_sql`
/// (`impl … for SqlStore<D, B>`),
/// `RateLimitStore` through [`SqliteBackend`]'s decisions (this crate's `ratelimit.rs`).
/// `SqliteStore::connect(&opts)` opens it, `migrate` applies this crate's migrations.
pub type SqliteStore = SqlStore<Sqlite, SqliteBackend>;

/// SQLite's own part of [`SqliteStore`]: how it connects and migrates, and its rate-limit
/// decisions.
#[derive(Debug, Clone)]
pub struct SqliteBackend;

impl SqlBackend<Sqlite> for SqliteBackend {
    type Options = SqliteOptions;

    const FEATURES: palisade_core::Features = palisade_core::Features {
        name: "sqlite",
        shared: false,
        expires_state: false,
        durable: true,
    };

    /// Opens (creating if needed) the database in WAL mode.
    async fn connect(opts: &SqliteOptions) -> Result<(SqlitePool, Self), StoreError> {
        let connect = SqliteConnectOptions::from_str(&opts.url)
            .map_err(map_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .after_release(|conn, _| Box::pin(async move { Ok(outside_transaction(conn).await) }))
            .connect_with(connect)
            .await
            .map_err(map_err)?;
        Ok((pool, SqliteBackend))
    }

    async fn migrate(pool: &SqlitePool) -> Result<Vec<String>, StoreError> {
        palisade_store_sql::migrate_reporting(pool, &sqlx::migrate!("./migrations")).await
    }
}

/// True when a released connection holds no transaction: a caller cancelled while its
/// `BEGIN IMMEDIATE` ran (a dropped request) can leave one open that sqlx does not know of,
/// and on SQLite it would hold the database's write lock while the connection idles in the
/// pool, so every other writer fails with "database is locked". A deferred `BEGIN` takes no
/// lock and fails only inside a transaction; such a connection is closed (which rolls back).
async fn outside_transaction(conn: &mut sqlx::SqliteConnection) -> bool {
    use sqlx::Executor as _;
    match conn.execute("BEGIN DEFERRED").await {
        Ok(_) => conn.execute("ROLLBACK").await.is_ok(),
        Err(_) => false,
    }
}

/// Maps a sqlx error to the shared [`StoreError`], by error kind and never by message text.
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    sqlx::Sqlite::map_err(e)
}
