//! Redis backend: hot-path stores over one shared multiplexed, auto-reconnecting connection.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod breaker;
mod csrf;
mod idempotency;
mod locks;
mod lua;
mod otp;
mod ratelimit;
mod realtime;
mod stream_slots;

pub use otp::RedisOtp;
pub use ratelimit::RedisRateLimitOnClock;
pub use realtime::RedisFanout;

use palisade_core::{SharedClock, StoreError, TenantId};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::Arc;
use std::time::Duration;

/// Connection settings for [`RedisStore`].
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// `redis://host:port/db`.
    pub url: String,
    /// Prefix of every key this store writes (isolates deployments and tests).
    pub prefix: String,
    /// Deadline of one command; past it the call fails with [`StoreError::Timeout`].
    pub response_timeout: Duration,
    /// Deadline of (re)connecting.
    pub connect_timeout: Duration,
    /// Most rate-limit decisions one script call carries (concurrent calls are batched).
    pub ratelimit_batch: usize,
    /// Most rate-limit batches on the wire at once.
    pub ratelimit_in_flight: usize,
    /// While Redis is known down (the breaker is open), how often a background `PING` checks
    /// whether it is back; calls fail at once meanwhile.
    pub probe_interval: Duration,
}

impl RedisOptions {
    /// Defaults for `url`: prefix `pal`, 1 s command and connect deadlines, rate-limit
    /// batches of at most 64 decisions, 2 on the wire at once, a probe every 250 ms while
    /// Redis is down.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: "pal".into(),
            response_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            ratelimit_batch: 64,
            ratelimit_in_flight: 2,
            probe_interval: Duration::from_millis(250),
        }
    }
}

/// Hot-path state in Redis. Clones share one multiplexed connection: a process opens one
/// connection for all request traffic, whatever the number of callers. Clones also share one
/// batcher of rate-limit decisions (its task starts on first use, in the caller's runtime),
/// and one breaker: once Redis is known down, every call fails at once with
/// [`StoreError::Unavailable`] until a background probe finds it back.
#[derive(Clone)]
pub struct RedisStore {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
    ratelimit: Arc<ratelimit::DecisionBatcher>,
    breaker: Arc<breaker::Breaker>,
    /// The clock of OTP and CSRF decisions; `None`: the Redis server's `TIME`.
    clock: Option<SharedClock>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RedisStore {
    /// Connects once; the connection reconnects by itself after failures.
    pub async fn connect(opts: &RedisOptions) -> Result<Self, StoreError> {
        let client = redis::Client::open(opts.url.as_str()).map_err(map_err)?;
        let cfg = ConnectionManagerConfig::new()
            .set_response_timeout(opts.response_timeout)
            .set_connection_timeout(opts.connect_timeout)
            .set_number_of_retries(1);
        let conn = ConnectionManager::new_with_config(client.clone(), cfg)
            .await
            .map_err(map_err)?;
        metrics::gauge!("palisade_redis_connections").set(1.0);
        let breaker = breaker::Breaker::new(conn.clone(), opts.probe_interval);
        let batcher = ratelimit::batcher(
            conn.clone(),
            breaker.clone(),
            opts.ratelimit_batch,
            opts.ratelimit_in_flight,
        );
        Ok(Self {
            client,
            conn,
            prefix: opts.prefix.clone(),
            ratelimit: Arc::new(batcher),
            breaker,
            clock: None,
        })
    }

    /// This store deciding OTP and CSRF operations on `clock` instead of the Redis server's
    /// `TIME`: for tests that drive time (rate limits have [`RedisStore::ratelimit_on_clock`]).
    /// Keys still expire on Redis's own clock.
    pub fn deciding_on(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// A handle on the shared connection (cheap; it multiplexes).
    pub fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Checks Redis answers (at once `Unavailable` while the breaker is open).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.conn();
        self.guard(redis::cmd("PING").query_async::<String>(&mut c))
            .await?;
        Ok(())
    }

    /// True while Redis is known down and calls fail fast.
    pub fn is_failing_fast(&self) -> bool {
        self.breaker.is_open()
    }

    /// Runs one Redis call through the breaker (see [`breaker`]).
    pub(crate) async fn guard<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        self.breaker.guard(call).await
    }

    /// The key `prefix:capability:{tenant}:rest`; the tenant is the Cluster hash tag, so all
    /// keys one atomic script touches for a tenant live in one slot.
    pub fn key(&self, capability: &str, tenant: &TenantId, rest: &str) -> String {
        format!("{}:{capability}:{{{tenant}}}:{rest}", self.prefix)
    }
}

/// Maps a redis error to the shared [`StoreError`].
pub(crate) fn map_err(e: redis::RedisError) -> StoreError {
    if e.is_timeout() {
        StoreError::Timeout
    } else if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Backend(e.to_string())
    }
}

#[async_trait::async_trait]
impl palisade_core::Backend for RedisStore {
    fn features(&self) -> palisade_core::Features {
        palisade_core::Features {
            name: "redis",
            shared: true,
            expires_state: true,
            durable: false,
        }
    }

    /// Redis has no schema: nothing to migrate.
    async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        RedisStore::ping(self).await
    }

    /// The multiplexed connection closes when the last handle is dropped.
    async fn close(&self) {}
}
