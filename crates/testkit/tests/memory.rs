//! Every conformance suite against the in-memory stores.

use palisade_core::ManualClock;
use palisade_testkit::Time;

/// A manual clock at a fixed start, as [`Time`].
fn manual() -> (std::sync::Arc<ManualClock>, Time) {
    let clock = ManualClock::new(1_700_000_000_000);
    (clock.clone(), Time::Manual(clock))
}

palisade_testkit::conformance!(tenancy, async |_| Some(
    palisade_tenancy::MemoryTenantStore::default()
));

palisade_testkit::conformance!(locks, async |_| {
    let (clock, time) = manual();
    Some((palisade_locks::MemoryLockStore::new(clock), time))
});

palisade_testkit::conformance!(idempotency, async |_| {
    let (clock, time) = manual();
    Some((
        palisade_idempotency::MemoryIdempotencyStore::new(clock),
        time,
    ))
});

palisade_testkit::conformance!(ratelimit, manual_clock, async |_| {
    let (clock, time) = manual();
    let store = palisade_ratelimit::MemoryRateLimitStore::default().with_clock(clock);
    Some((store, time))
});

palisade_testkit::conformance!(ratelimit_config, async |_| Some(
    palisade_ratelimit::MemoryPolicyStore::default()
));

/// The suites again with the stores on the system clock.
mod real_time {
    use palisade_testkit::Time;

    palisade_testkit::conformance!(locks, async |_| Some((
        palisade_locks::MemoryLockStore::default(),
        Time::Real
    )));

    palisade_testkit::conformance!(ratelimit, real_time, async |_| Some((
        palisade_ratelimit::MemoryRateLimitStore::default(),
        Time::Real
    )));
}

palisade_testkit::conformance!(audit, async |_| Some(
    palisade_audit::MemoryAuditStore::default()
));

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
