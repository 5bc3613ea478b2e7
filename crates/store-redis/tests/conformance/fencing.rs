//! Fencing tokens stay increasing after the store lost its lock state (backend-specific faults).

use crate::common;

/// A private Redis restarted empty (no persistence): the next token is still above every
/// earlier one (tokens never fall below Redis's clock in microseconds).
#[tokio::test]
async fn tokens_stay_increasing_when_redis_restarts_empty() {
    use palisade_testkit::own_redis::OwnRedis;
    let port = OwnRedis::free_port();
    let Some(mut redis) = OwnRedis::start_or_skip("tokens_after_redis_restart", port) else {
        return;
    };
    redis.wait_ready().await;
    let s = common::store_at(&redis.url()).await;
    let t = palisade_core::TenantId::generate();
    let (r, store) = (&mut redis, &s);
    let lose = move || async move {
        r.stop();
        *r = OwnRedis::start_or_skip("tokens_after_redis_restart", port).expect("restart");
        r.wait_ready().await;
        common::wait_answering(store).await;
    };
    let (before, after) =
        palisade_testkit::locks::tokens_survive_losing_lock_state(&s, &t, lose).await;
    eprintln!("highest token before the restart {before}, first after {after}");
}
