//! Every conformance suite against the in-memory stores.

use std::sync::Arc;

#[tokio::test]
async fn tenancy_conformance() {
    palisade_testkit::tenancy::run(Arc::new(palisade_tenancy::MemoryTenantStore::default())).await;
}

#[tokio::test]
async fn locks_conformance() {
    use palisade_testkit::locks::{run, Time};
    let clock = palisade_core::ManualClock::new(1_700_000_000_000);
    let store = palisade_locks::MemoryLockStore::new(clock.clone());
    run(Arc::new(store), Time::Manual(clock)).await;
}

#[tokio::test]
async fn locks_conformance_in_real_time() {
    use palisade_testkit::locks::{run, Time};
    run(
        Arc::new(palisade_locks::MemoryLockStore::default()),
        Time::Real,
    )
    .await;
}

#[tokio::test]
async fn ratelimit_conformance() {
    let clock = palisade_core::ManualClock::new(0);
    let store = palisade_ratelimit::MemoryRateLimitStore::default().with_clock(clock.clone());
    palisade_testkit::ratelimit::run(
        Arc::new(store),
        palisade_testkit::ratelimit::Time::Manual(clock),
    )
    .await;
}

#[tokio::test]
async fn ratelimit_policy_conformance() {
    palisade_testkit::ratelimit::run_policies(Arc::new(
        palisade_ratelimit::MemoryPolicyStore::default(),
    ))
    .await;
}

#[tokio::test]
async fn ratelimit_memory_store_with_real_time() {
    palisade_testkit::ratelimit::run(
        Arc::new(palisade_ratelimit::MemoryRateLimitStore::default()),
        palisade_testkit::ratelimit::Time::Real,
    )
    .await;
}

#[tokio::test]
async fn idempotency_conformance() {
    let clock = palisade_core::ManualClock::new(1_700_000_000_000);
    let store = palisade_idempotency::MemoryIdempotencyStore::new(clock.clone());
    palisade_testkit::idempotency::run(Arc::new(store), palisade_testkit::Time::Manual(clock))
        .await;
}

/// The jobs suite, one test per check, each on a fresh memory store.
mod jobs {
    use palisade_testkit::jobs as suite;
    use std::sync::Arc;

    fn store() -> (suite::Store, suite::Time) {
        let clock = palisade_core::ManualClock::new(1_700_000_000_000);
        let store = palisade_jobs::MemoryJobStore::new(clock.clone());
        (Arc::new(store), clock)
    }

    macro_rules! checks {
        ($($name:ident),* $(,)?) => {$(
            #[tokio::test]
            async fn $name() {
                let (s, c) = store();
                suite::$name(&s, &c).await;
            }
        )*};
    }

    checks!(
        enqueue_and_get,
        unique_duplicate_marker,
        concurrent_unique_enqueue_makes_one_job,
        lease_order_priority_then_run_at,
        delayed_job_not_leased_early,
        stale_token_refused_after_rescue,
        rescue_after_lease_expiry,
        backoff_schedules_retry,
        give_up_and_last_attempt_are_dead,
        redrive_dead_one_and_filtered,
        cancel_queued,
        cancel_running_learned_by_heartbeat,
        checkpoint_handed_to_retry,
        release_gives_the_job_back_at_once,
        event_log_from_offset,
        tenant_isolation,
        fairness_across_tenants,
        per_tenant_running_cap,
        prune_by_state,
        list_paginates_and_filters,
        bad_input_refused,
    );

    #[tokio::test]
    async fn every_check_on_one_store() {
        let (s, c) = store();
        suite::run(s, c).await;
    }
}
