//! Redis down: after the first failure every call fails fast, and calls recover by themselves.

use crate::common;
use palisade_core::{StoreError, TenantId};
use palisade_idempotency::{Fingerprint, IdempotencyBegin, IdempotencyKey, IdempotencyStore};
use palisade_locks::{HolderId, LockAcquire, LockName, LockStore, Ttl};
use palisade_testkit::own_redis::OwnRedis;
use std::time::{Duration, Instant};

fn acquire() -> LockAcquire {
    LockAcquire {
        name: LockName::parse("breaker").unwrap(),
        holder: HolderId::parse("w1").unwrap(),
        ttl: Ttl::from_ms(1_000).unwrap(),
    }
}

fn begin() -> IdempotencyBegin {
    IdempotencyBegin {
        principal: "p".into(),
        key: IdempotencyKey::new("order-1".into()).unwrap(),
        fingerprint: Fingerprint::from_hex(format!("{:0>64}", "f1")),
        lock_ttl: Duration::from_secs(5),
        retention: Duration::from_secs(60),
    }
}

/// Far below one failed call's latency (~1 s: the command and connect deadlines), far above a
/// call that never touches the network: a behaviour check, not a benchmark.
const FAST: Duration = Duration::from_millis(200);

#[tokio::test]
async fn calls_fail_fast_while_redis_is_down_and_recover_when_it_returns() {
    let port = OwnRedis::free_port();
    let Some(mut redis) = OwnRedis::start_or_skip("breaker", port) else {
        return;
    };
    redis.wait_ready().await;
    let s = common::store_at(&redis.url()).await;
    let t = TenantId::generate();
    s.lock_acquire(&t, &acquire()).await.unwrap();

    redis.stop();
    let first = s.lock_acquire(&t, &acquire()).await;
    assert!(first.is_err(), "Redis is down: {first:?}");
    assert!(s.is_failing_fast(), "the failure opened the breaker");
    for round in 0..10 {
        let start = Instant::now();
        let lock = s.lock_acquire(&t, &acquire()).await;
        let idem = s.idempotency_begin(&t, &begin()).await;
        let took = start.elapsed();
        assert!(matches!(lock, Err(StoreError::Unavailable(_))), "{lock:?}");
        assert!(matches!(idem, Err(StoreError::Unavailable(_))), "{idem:?}");
        assert!(took < FAST, "round {round}: two calls took {took:?}");
    }

    redis = OwnRedis::start_or_skip("breaker", port).expect("restart redis-server");
    redis.wait_ready().await;
    let start = Instant::now();
    loop {
        match s.lock_acquire(&t, &acquire()).await {
            Ok(_) => break,
            Err(e) => assert!(
                start.elapsed() < Duration::from_secs(5),
                "never recovered: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!s.is_failing_fast(), "the probe closed the breaker");
    s.idempotency_begin(&t, &begin()).await.unwrap();
    drop(redis);
}
