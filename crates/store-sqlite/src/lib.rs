//! SQLite backend: implements Palisade's store traits on one SQLite file (WAL mode).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod ratelimit;

use palisade_core::{SharedClock, StoreError};
use palisade_store_sql::{Dialect, SqlStore};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
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

/// All of Palisade's durable state in one SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    sql: SqlStore<sqlx::Sqlite>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database in WAL mode. Does not migrate.
    pub async fn connect(opts: &SqliteOptions) -> Result<Self, StoreError> {
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
            .connect_with(connect)
            .await
            .map_err(map_err)?;
        Ok(Self {
            sql: SqlStore::new(pool),
        })
    }

    /// Replaces the clock (tests drive a manual one).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.sql = self.sql.with_clock(clock);
        self
    }

    /// Applies the embedded migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations")
            .run(self.pool())
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))
    }

    /// The connection pool.
    pub fn pool(&self) -> &SqlitePool {
        self.sql.pool()
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(self.pool())
            .await
            .map_err(map_err)?;
        Ok(())
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool().close().await;
    }

    /// A write transaction that takes SQLite's write lock up front (`BEGIN IMMEDIATE`), so
    /// read-decide-write inside it is atomic and never fails on a lock upgrade.
    pub(crate) async fn begin_immediate(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        self.sql.begin(sqlx::Sqlite::BEGIN_WRITE).await
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.sql.now_ms()
    }
}

palisade_store_sql::impl_sql_stores!(SqliteStore);

/// Maps a sqlx error to the shared [`StoreError`], by error kind and never by message text.
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    sqlx::Sqlite::map_err(e)
}

#[async_trait::async_trait]
impl palisade_core::Backend for SqliteStore {
    fn features(&self) -> palisade_core::Features {
        palisade_core::Features {
            name: "sqlite",
            shared: false,
            expires_state: false,
            durable: true,
        }
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        SqliteStore::migrate(self).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        SqliteStore::ping(self).await
    }

    async fn close(&self) {
        SqliteStore::close(self).await
    }
}
