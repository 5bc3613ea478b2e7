//! Opening the store a harness process works on, and the application tables its handlers write.

use palisade_jobs::JobStore;
use palisade_store_postgres::{PgOptions, PgStore};
use palisade_store_sqlite::{SqliteOptions, SqliteStore};
use sqlx::{PgPool, SqlitePool};
use std::sync::Arc;

/// Which database a process works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// PostgreSQL (`--url postgres://…`, `--schema`).
    Postgres,
    /// SQLite (`--url sqlite://path/to/file.db`).
    Sqlite,
}

/// The application side of the handlers: a pool of the same database as the store.
#[derive(Clone, Debug)]
pub enum Db {
    /// PostgreSQL, in the store's schema.
    Pg(PgPool),
    /// SQLite, in the store's file.
    Lite(SqlitePool),
}

/// An opened, migrated store and the application pool beside it.
#[derive(Clone, Debug)]
pub struct Opened {
    /// The jobs store.
    pub store: Arc<dyn JobStore>,
    /// The same database for the handlers' own tables.
    pub db: Db,
    /// The PostgreSQL store itself (for its wake-ups), when on PostgreSQL.
    pub pg: Option<PgStore>,
}

/// The handlers' tables. `batch_items` has one row per item with how often its effect was
/// applied (`UNIQUE(item)` + `count`: a second application shows as `count = 2`);
/// `batch_starts` records where each attempt of a batch started; `job_effects` one row per
/// `sleep` job that finished its work, with the attempt's token and worker.
const TABLES: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS batch_items (item BIGINT NOT NULL UNIQUE, job_id TEXT NOT NULL,
        count BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS batch_starts (job_id TEXT NOT NULL, token BIGINT NOT NULL,
        from_item BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS job_effects (job_id TEXT NOT NULL, token BIGINT NOT NULL,
        worker TEXT NOT NULL)",
];

/// Opens and migrates the store at `url` (schema `schema` on PostgreSQL) with a pool of
/// `pool` connections, and creates the handlers' tables when `tables`.
pub async fn open(
    backend: Backend,
    url: &str,
    schema: Option<&str>,
    pool: u32,
    tables: bool,
) -> Result<Opened, Box<dyn std::error::Error>> {
    let opened = match backend {
        Backend::Postgres => {
            let mut opts = PgOptions::new(url);
            opts.schema = schema.map(str::to_owned);
            opts.max_connections = Some(pool);
            opts.acquire_timeout = std::time::Duration::from_secs(10);
            let s = PgStore::connect(&opts).await?;
            s.migrate().await?;
            Opened {
                db: Db::Pg(s.pool().clone()),
                pg: Some(s.clone()),
                store: Arc::new(s),
            }
        }
        Backend::Sqlite => {
            let mut opts = SqliteOptions::new(url);
            opts.max_connections = pool;
            opts.acquire_timeout = std::time::Duration::from_secs(10);
            let s = SqliteStore::connect(&opts).await?;
            s.migrate().await?;
            Opened {
                db: Db::Lite(s.pool().clone()),
                pg: None,
                store: Arc::new(s),
            }
        }
    };
    if tables {
        for t in TABLES {
            opened.db.exec(t, &[], &[]).await?;
        }
    }
    Ok(opened)
}

impl Db {
    /// Runs `sql` with the integer binds first, then the text binds; the rows it changed.
    pub async fn exec(&self, sql: &str, ints: &[i64], texts: &[&str]) -> sqlx::Result<u64> {
        macro_rules! run {
            ($pool:expr) => {{
                let mut q = sqlx::query(sql);
                for i in ints {
                    q = q.bind(*i);
                }
                for t in texts {
                    q = q.bind(*t);
                }
                q.execute($pool).await?.rows_affected()
            }};
        }
        Ok(match self {
            Db::Pg(p) => run!(p),
            Db::Lite(p) => run!(p),
        })
    }

    /// The integer `sql` answers, with binds as in [`Db::exec`].
    pub async fn scalar(&self, sql: &str, ints: &[i64], texts: &[&str]) -> sqlx::Result<i64> {
        macro_rules! run {
            ($pool:expr) => {{
                let mut q = sqlx::query_scalar::<_, i64>(sql);
                for i in ints {
                    q = q.bind(*i);
                }
                for t in texts {
                    q = q.bind(*t);
                }
                q.fetch_one($pool).await?
            }};
        }
        Ok(match self {
            Db::Pg(p) => run!(p),
            Db::Lite(p) => run!(p),
        })
    }
}
