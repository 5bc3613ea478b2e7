//! A Redis store under a fresh key prefix per test.

use palisade_core::ManualClock;
use palisade_otp::MemoryOtpStore;
use palisade_store_redis::{RedisOptions, RedisOtp, RedisRateLimitOnClock, RedisStore};
use palisade_testkit::Time;
use std::sync::Arc;

/// A store whose keys all start with a fresh prefix, or `None` when Redis is absent outside CI.
pub async fn store(test: &str) -> Option<RedisStore> {
    let url = palisade_testkit::backends::redis_or_skip(test).await?;
    let mut opts = RedisOptions::new(url);
    opts.prefix = palisade_testkit::backends::unique("t");
    Some(RedisStore::connect(&opts).await.unwrap())
}

/// A fresh store on Redis's own clock (server `TIME`, `PX` expiry).
pub async fn real_time(test: &str) -> Option<(RedisStore, Time)> {
    Some((store(test).await?, Time::Real))
}

/// A fresh store's rate-limit script on a manual clock.
pub async fn driven_clock(test: &str) -> Option<(RedisRateLimitOnClock, Time)> {
    let clock = ManualClock::new(1_700_000_000_000);
    let s = store(test).await?.ratelimit_on_clock(clock.clone());
    Some((s, Time::Manual(clock)))
}

/// A store on the Redis at `url` (e.g. a test's own redis-server), fresh prefix.
pub async fn store_at(url: &str) -> RedisStore {
    let mut opts = RedisOptions::new(url);
    opts.prefix = palisade_testkit::backends::unique("t");
    RedisStore::connect(&opts).await.unwrap()
}

/// Waits (up to 10 s) until `s` answers a PING again (after its Redis came back).
pub async fn wait_answering(s: &RedisStore) {
    let start = std::time::Instant::now();
    while s.ping().await.is_err() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "Redis never answered again"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The retention OTP state is kept after its last change in these tests (the default's).
pub fn otp_retention() -> std::time::Duration {
    palisade_otp::OtpSettings::default().retention()
}

/// A fresh store's OTP state on a manual clock, over a memory durable store on that clock.
pub async fn otp_clocked(test: &str) -> Option<(RedisOtp, Arc<ManualClock>)> {
    let clock = ManualClock::new(1_700_000_000_000);
    let durable = Arc::new(MemoryOtpStore::new(clock.clone()));
    let s = store(test).await?.deciding_on(clock.clone());
    Some((s.otp(durable, otp_retention()), clock))
}

/// A fresh store deciding CSRF tokens on a manual clock.
pub async fn csrf_clocked(test: &str) -> Option<(RedisStore, Arc<ManualClock>)> {
    let clock = ManualClock::new(1_700_000_000_000);
    Some((store(test).await?.deciding_on(clock.clone()), clock))
}
