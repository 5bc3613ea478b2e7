//! A Redis store under a fresh key prefix per test.

use palisade_store_redis::{RedisOptions, RedisStore};

/// A store whose keys all start with a fresh prefix, or `None` when Redis is absent outside CI.
pub async fn store(test: &str) -> Option<RedisStore> {
    let url = palisade_testkit::backends::redis_or_skip(test).await?;
    let mut opts = RedisOptions::new(url);
    opts.prefix = palisade_testkit::backends::unique("t");
    Some(RedisStore::connect(&opts).await.unwrap())
}
