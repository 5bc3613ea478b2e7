//! A Redis store under a fresh key prefix per test.

use palisade_store_redis::{RedisOptions, RedisStore};

/// A store whose keys all start with a fresh prefix, or `None` when Redis is absent outside CI.
pub async fn store(test: &str) -> Option<RedisStore> {
    let url = palisade_testkit::backends::redis_or_skip(test).await?;
    let mut opts = RedisOptions::new(url);
    opts.prefix = palisade_testkit::backends::unique("t");
    Some(RedisStore::connect(&opts).await.unwrap())
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
