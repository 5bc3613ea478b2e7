//! Opens the configured stores: the durable one (SQLite or PostgreSQL) and optional Redis.

use crate::config::{Config, IdempotencyStoreKind};
use palisade_core::StoreError;
use palisade_idempotency::IdempotencyStore;
use palisade_locks::LockStore;
use palisade_store_postgres::{PgOptions, PgStore, PoolSizing};
use palisade_store_redis::{RedisOptions, RedisStore};
use palisade_store_sqlite::{SqliteOptions, SqliteStore};
use palisade_tenancy::TenantStore;
use std::sync::Arc;

/// The durable store: every capability's state that must survive a restart.
#[derive(Debug, Clone)]
pub enum Durable {
    /// The embedded default.
    Sqlite(SqliteStore),
    /// Shared by N instances.
    Postgres(PgStore),
}

/// The stores of one process.
#[derive(Debug, Clone)]
pub struct Stores {
    /// The durable store.
    pub durable: Durable,
    /// Redis for hot paths, when configured.
    pub redis: Option<RedisStore>,
}

impl Stores {
    /// Connects to every configured store. Does not migrate.
    pub async fn open(cfg: &Config) -> Result<Self, StoreError> {
        let url = cfg.storage_url().expose().to_owned();
        let durable = if cfg.is_postgres() {
            let mut o = PgOptions::new(url);
            o.max_connections = cfg.storage.pool_size;
            o.schema = cfg.storage.schema.clone();
            o.acquire_timeout = cfg.storage.acquire_timeout;
            o.sizing = PoolSizing {
                expected_instances: cfg.storage.expected_instances,
                reserve: cfg.storage.pool_reserve,
            };
            let pg = PgStore::connect(&o).await?;
            metrics::gauge!("palisade_db_pool_size").set(pg.pool_size() as f64);
            Durable::Postgres(pg)
        } else {
            std::fs::create_dir_all(&cfg.data_dir)
                .map_err(|e| StoreError::Unavailable(format!("data dir: {e}")))?;
            let mut o = SqliteOptions::new(url);
            o.acquire_timeout = cfg.storage.acquire_timeout;
            if let Some(n) = cfg.storage.pool_size {
                o.max_connections = n;
            }
            metrics::gauge!("palisade_db_pool_size").set(o.max_connections as f64);
            Durable::Sqlite(SqliteStore::connect(&o).await?)
        };
        let redis = match &cfg.storage.redis_url {
            Some(u) => Some(RedisStore::connect(&RedisOptions::new(u.expose())).await?),
            None => None,
        };
        Ok(Self { durable, redis })
    }

    /// Applies every migration of the durable store.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.durable {
            Durable::Sqlite(s) => s.migrate().await,
            Durable::Postgres(s) => s.migrate().await,
        }
    }

    /// The tenancy store.
    pub fn tenants(&self) -> Arc<dyn TenantStore> {
        match &self.durable {
            Durable::Sqlite(s) => Arc::new(s.clone()),
            Durable::Postgres(s) => Arc::new(s.clone()),
        }
    }

    /// The lock store: Redis when configured, else the durable store.
    pub fn locks(&self) -> Arc<dyn LockStore> {
        match (&self.redis, &self.durable) {
            (Some(r), _) => Arc::new(r.clone()),
            (None, Durable::Sqlite(s)) => Arc::new(s.clone()),
            (None, Durable::Postgres(s)) => Arc::new(s.clone()),
        }
    }

    /// True when the durable store is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self.durable, Durable::Postgres(_))
    }

    /// Rate-limit policies and overrides: always the durable store.
    pub fn ratelimit_policies(&self) -> Arc<dyn palisade_ratelimit::RatePolicyStore> {
        match &self.durable {
            Durable::Sqlite(s) => Arc::new(s.clone()),
            Durable::Postgres(s) => Arc::new(s.clone()),
        }
    }

    /// The durable store as a rate-limit decision store, with its name.
    pub fn ratelimit_durable(&self) -> (Arc<dyn palisade_ratelimit::RateLimitStore>, &'static str) {
        match &self.durable {
            Durable::Sqlite(s) => (Arc::new(s.clone()), "sqlite"),
            Durable::Postgres(s) => (Arc::new(s.clone()), "postgres"),
        }
    }

    /// The idempotency store: Redis when `kind` says so and Redis is configured (validated),
    /// else the durable store.
    pub fn idempotency(&self, kind: IdempotencyStoreKind) -> Arc<dyn IdempotencyStore> {
        match (kind, &self.redis, &self.durable) {
            (IdempotencyStoreKind::Redis, Some(r), _) => Arc::new(r.clone()),
            (_, _, Durable::Sqlite(s)) => Arc::new(s.clone()),
            (_, _, Durable::Postgres(s)) => Arc::new(s.clone()),
        }
    }

    /// Pings each store; the names of those that fail.
    pub async fn failing(&self) -> Vec<&'static str> {
        let mut failing = Vec::new();
        let durable = match &self.durable {
            Durable::Sqlite(s) => s.ping().await,
            Durable::Postgres(s) => s.ping().await,
        };
        if durable.is_err() {
            failing.push("database");
        }
        if let Some(r) = &self.redis {
            if r.ping().await.is_err() {
                failing.push("redis");
            }
        }
        failing
    }

    /// Closes the pools.
    pub async fn close(&self) {
        match &self.durable {
            Durable::Sqlite(s) => s.close().await,
            Durable::Postgres(s) => s.close().await,
        }
    }
}
