//! The stores every bench runs on: SQLite in a fresh directory, and PostgreSQL (a fresh schema)
//! and Redis (a fresh prefix) when they are reachable.

use palisade_store_postgres::{PgOptions, PgStore};
use palisade_store_redis::{RedisOptions, RedisStore};
use palisade_store_sqlite::{SqliteOptions, SqliteStore};
use palisade_testkit::backends::{postgres_url, redis_url, unique};

/// The first command-line argument, or `default` when it is absent or does not parse.
pub fn first_arg<T: std::str::FromStr>(default: T) -> T {
    std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Connected, migrated stores; an unreachable PostgreSQL or Redis is `None` (and said so).
pub struct Stores {
    pub sqlite: SqliteStore,
    pub postgres: Option<PgStore>,
    pub redis: Option<RedisStore>,
}

impl Stores {
    /// Connects every store, with directory, schema and prefix named after `bench`.
    /// PostgreSQL and Redis come from `PALISADE_TEST_POSTGRES_URL` / `PALISADE_TEST_REDIS_URL`.
    pub async fn connect(bench: &str) -> Self {
        let dir = std::env::temp_dir().join(unique(bench));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("bench.db").display());
        let sqlite = SqliteStore::connect(&SqliteOptions::new(url))
            .await
            .unwrap();
        sqlite.migrate().await.unwrap();
        let mut pg = PgOptions::new(postgres_url());
        pg.schema = Some(unique(bench));
        let postgres = match PgStore::connect(&pg).await {
            Ok(s) => {
                s.migrate().await.unwrap();
                Some(s)
            }
            Err(e) => {
                println!("# postgres skipped: {e}");
                None
            }
        };
        let mut ro = RedisOptions::new(redis_url());
        ro.prefix = unique(bench);
        let redis = RedisStore::connect(&ro)
            .await
            .inspect_err(|e| println!("# redis skipped: {e}"))
            .ok();
        Self {
            sqlite,
            postgres,
            redis,
        }
    }
}
