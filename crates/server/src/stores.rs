//! Opens the configured stores: the durable one (SQLite or PostgreSQL) and the optional hot one (Redis).

use crate::config::Config;
use palisade_audit::AuditStore;
use palisade_core::{Backend, StoreError};
use palisade_idempotency::IdempotencyStore;
use palisade_jobs::cron::CronStore;
use palisade_jobs::JobStore;
use palisade_locks::LockStore;
use palisade_ratelimit::{RateLimitPolicyStore, RateLimitStore};
use palisade_store_postgres::{PgOptions, PgStore, PoolSizing};
use palisade_store_redis::{RedisOptions, RedisStore};
use palisade_store_sqlite::{SqliteOptions, SqliteStore};
use palisade_tenancy::TenantStore;
use palisade_webhooks::InboxStore;
use std::any::Any;
use std::sync::Arc;

/// The durable store: every capability's state that must survive a restart. A backend is
/// durable by implementing every capability's store trait and [`Backend`]; a new capability
/// adds its store trait here.
pub trait Durable:
    Backend
    + TenantStore
    + LockStore
    + IdempotencyStore
    + RateLimitPolicyStore
    + RateLimitStore
    + AuditStore
    + JobStore
    + CronStore
    + InboxStore
{
    /// The concrete store (tests reach a backend's pool through it).
    fn as_any(&self) -> &dyn Any;
}

impl<T> Durable for T
where
    T: Backend + TenantStore + LockStore + IdempotencyStore + RateLimitPolicyStore + RateLimitStore,
    T: AuditStore + JobStore + CronStore + InboxStore,
    T: 'static,
{
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The hot store: state on the hot path that many instances share (counters, claims, locks).
pub trait Hot: Backend + LockStore + IdempotencyStore + RateLimitStore {}

impl<T> Hot for T where T: Backend + LockStore + IdempotencyStore + RateLimitStore {}

/// The stores of one process.
#[derive(Debug, Clone)]
pub struct Stores {
    /// The durable store.
    pub durable: Arc<dyn Durable>,
    /// The hot store (Redis), when configured.
    pub hot: Option<Arc<dyn Hot>>,
}

impl Stores {
    /// Connects to every configured store. Does not migrate.
    pub async fn open(cfg: &Config) -> Result<Self, StoreError> {
        let durable = match cfg.is_postgres() {
            true => open_postgres(cfg).await?,
            false => open_sqlite(cfg).await?,
        };
        let hot = match &cfg.storage.redis_url {
            Some(u) => {
                let r = RedisStore::connect(&RedisOptions::new(u.expose())).await?;
                Some(Arc::new(r) as Arc<dyn Hot>)
            }
            None => None,
        };
        Ok(Self { durable, hot })
    }

    /// Applies every migration of every store.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.durable.migrate().await?;
        match &self.hot {
            Some(h) => h.migrate().await,
            None => Ok(()),
        }
    }

    /// Pings each store; the names of those that fail (`database`, `redis`).
    pub async fn failing(&self) -> Vec<&'static str> {
        let mut failing = Vec::new();
        if self.durable.ping().await.is_err() {
            failing.push("database");
        }
        if let Some(h) = &self.hot {
            if h.ping().await.is_err() {
                failing.push(h.features().name);
            }
        }
        failing
    }

    /// Closes the pools.
    pub async fn close(&self) {
        self.durable.close().await;
        if let Some(h) = &self.hot {
            h.close().await;
        }
    }
}

async fn open_postgres(cfg: &Config) -> Result<Arc<dyn Durable>, StoreError> {
    let mut o = PgOptions::new(cfg.storage_url().expose().to_owned());
    o.max_connections = cfg.storage.pool_size;
    o.schema = cfg.storage.schema.clone();
    o.acquire_timeout = cfg.storage.acquire_timeout;
    o.sizing = PoolSizing {
        expected_instances: cfg.storage.expected_instances,
        reserve: cfg.storage.pool_reserve,
    };
    let pg = PgStore::connect(&o).await?;
    metrics::gauge!("palisade_db_pool_size").set(pg.pool_size() as f64);
    Ok(Arc::new(pg))
}

async fn open_sqlite(cfg: &Config) -> Result<Arc<dyn Durable>, StoreError> {
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|e| StoreError::Unavailable(format!("data dir: {e}")))?;
    let mut o = SqliteOptions::new(cfg.storage_url().expose().to_owned());
    o.acquire_timeout = cfg.storage.acquire_timeout;
    if let Some(n) = cfg.storage.pool_size {
        o.max_connections = n;
    }
    metrics::gauge!("palisade_db_pool_size").set(o.max_connections as f64);
    Ok(Arc::new(SqliteStore::connect(&o).await?))
}
