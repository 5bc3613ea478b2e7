//! A circuit breaker: once Redis is known down, calls fail at once until a probe answers.
//!
//! Every command of the store goes through [`Breaker::guard`]. A connection failure (refused,
//! dropped, I/O error) or a command timeout opens the breaker; while it is open every call
//! answers [`StoreError::Unavailable`] without touching the network, and one background task
//! sends `PING` every `probe_interval` until Redis answers, which closes it. A Redis outage
//! therefore costs one failed call's latency per process, not one per call. Errors that Redis
//! itself answered (a script error, a wrong type) say Redis is up and never open it.

use crate::map_err;
use palisade_core::StoreError;
use redis::aio::ConnectionManager;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The breaker one [`crate::RedisStore`] (and its clones and batcher) share.
pub(crate) struct Breaker {
    open: AtomicBool,
    conn: ConnectionManager,
    probe_interval: Duration,
}

impl Breaker {
    /// A closed breaker probing `conn` every `probe_interval` while open.
    pub(crate) fn new(conn: ConnectionManager, probe_interval: Duration) -> Arc<Self> {
        Arc::new(Self {
            open: AtomicBool::new(false),
            conn,
            probe_interval,
        })
    }

    /// True while Redis is known down.
    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Runs `call` unless the breaker is open (then fails at once); a connection failure or
    /// timeout of `call` opens it.
    pub(crate) async fn guard<T>(
        self: &Arc<Self>,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        if self.is_open() {
            return Err(open_error());
        }
        let r = call.await.map_err(map_err);
        if let Err(e) = &r {
            self.record_failure(e);
        }
        r
    }

    /// Opens the breaker when `e` says Redis is unreachable (starting the probe once).
    pub(crate) fn record_failure(self: &Arc<Self>, e: &StoreError) {
        if !is_outage(e) || self.open.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::warn!(error = %e, "redis unreachable: failing fast until a probe answers");
        metrics::gauge!("palisade_redis_breaker_open").set(1.0);
        tokio::spawn(probe(self.clone()));
    }

    fn close(&self) {
        if self.open.swap(false, Ordering::AcqRel) {
            tracing::info!("redis answers again: breaker closed");
            metrics::gauge!("palisade_redis_breaker_open").set(0.0);
        }
    }
}

/// The error every call gets while the breaker is open.
pub(crate) fn open_error() -> StoreError {
    StoreError::Unavailable("redis is unreachable (failing fast until it answers)".into())
}

/// True for the failures that say Redis cannot be reached (not an error Redis answered).
fn is_outage(e: &StoreError) -> bool {
    matches!(e, StoreError::Unavailable(_) | StoreError::Timeout)
}

/// Pings every `probe_interval` until Redis answers, then closes the breaker.
async fn probe(b: Arc<Breaker>) {
    loop {
        tokio::time::sleep(b.probe_interval).await;
        let mut c = b.conn.clone();
        let ping = redis::cmd("PING").query_async::<String>(&mut c).await;
        if ping.is_ok() {
            b.close();
            return;
        }
    }
}
