//! Opens the configured stores: the durable one (SQLite or PostgreSQL) and the optional hot one (Redis).

use crate::config::Config;
use palisade_audit::AuditStore;
use palisade_core::{Backend, StoreError};
use palisade_csrf::CsrfStore;
use palisade_idempotency::IdempotencyStore;
use palisade_jobs::cron::CronStore;
use palisade_jobs::JobStore;
use palisade_locks::LockStore;
use palisade_otp::OtpStore;
use palisade_ratelimit::{RateLimitPolicyStore, RateLimitStore};
use palisade_realtime::{RealtimeStore, StreamSlotStore};
use palisade_store_postgres::{PgOptions, PgStore, PoolSizing};
use palisade_store_redis::{RedisOptions, RedisStore};
use palisade_store_sqlite::{SqliteOptions, SqliteStore};
use palisade_tenancy::TenantStore;
use palisade_tokens::TokenStore;
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
    + RealtimeStore
    + StreamSlotStore
    + OtpStore
    + CsrfStore
    + InboxStore
    + TokenStore
{
    /// The concrete store (tests reach a backend's pool through it).
    fn as_any(&self) -> &dyn Any;
}

impl<T> Durable for T
where
    T: Backend + TenantStore + LockStore + IdempotencyStore + RateLimitPolicyStore + RateLimitStore,
    T: AuditStore + JobStore + CronStore + RealtimeStore + StreamSlotStore,
    T: OtpStore + CsrfStore + InboxStore + TokenStore,
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
    /// The same Redis store, for what is Redis-only (pub/sub fan-out).
    pub redis: Option<RedisStore>,
}

impl Stores {
    /// Connects to every configured store. Does not migrate. An error names the store and its
    /// address, never credentials ("cannot reach Redis at 127.0.0.1:6390: …").
    pub async fn open(cfg: &Config) -> Result<Self, String> {
        let url = cfg.storage_url();
        let durable = match cfg.is_postgres() {
            true => open_postgres(cfg)
                .await
                .map_err(|e| unreachable("PostgreSQL", &url, e))?,
            false => open_sqlite(cfg)
                .await
                .map_err(|e| unreachable("the SQLite database", &url, e))?,
        };
        let redis = match &cfg.storage.redis_url {
            Some(u) => {
                let opts = RedisOptions {
                    prefix: cfg.storage.redis_prefix.clone(),
                    ..RedisOptions::new(u.expose())
                };
                let r = RedisStore::connect(&opts)
                    .await
                    .map_err(|e| unreachable("Redis", u, e))?;
                Some(r)
            }
            None => None,
        };
        let hot = redis.clone().map(|r| Arc::new(r) as Arc<dyn Hot>);
        Ok(Self {
            durable,
            hot,
            redis,
        })
    }

    /// Where open realtime streams are counted across instances: Redis when configured, else
    /// the durable store.
    pub fn stream_slots(&self) -> Arc<dyn StreamSlotStore> {
        match &self.redis {
            Some(r) => Arc::new(r.clone()),
            None => self.durable.clone(),
        }
    }

    /// Where OTP state lives: Redis when configured, over the durable store for the hash key
    /// and the lockouts (written through, so a Redis that lost its data never ends one); else
    /// the durable store. `retention`: how long Redis keeps an identity's state after its last
    /// change ([`palisade_otp::OtpSettings::retention`]).
    pub fn otp(&self, retention: std::time::Duration) -> Arc<dyn OtpStore> {
        match &self.redis {
            Some(r) => Arc::new(r.otp(self.durable.clone(), retention)),
            None => self.durable.clone(),
        }
    }

    /// Where CSRF tokens live: Redis when configured, else the durable store.
    pub fn csrf(&self) -> Arc<dyn CsrfStore> {
        match &self.redis {
            Some(r) => Arc::new(r.clone()),
            None => self.durable.clone(),
        }
    }

    /// Applies every migration of every store; the names of those applied now.
    pub async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        let mut applied = self.durable.migrate().await?;
        if let Some(h) = &self.hot {
            applied.extend(h.migrate().await?);
        }
        Ok(applied)
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

/// "cannot reach `what` at host:port: cause" (a SQLite URL names its file).
fn unreachable(what: &str, url: &palisade_core::sensitive::SecretUrl, e: StoreError) -> String {
    let place = match url.expose().strip_prefix("sqlite://") {
        Some(file) => file.split('?').next().unwrap_or(file).to_owned(),
        None => url
            .host()
            .unwrap_or_else(|| "its configured address".into()),
    };
    let cause = match e {
        StoreError::Unavailable(c) | StoreError::Backend(c) => c,
        StoreError::Timeout => "timed out".into(),
        other => other.to_string(),
    };
    format!("cannot reach {what} at {place}: {cause}")
}
