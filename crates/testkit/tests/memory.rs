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

palisade_testkit::conformance!(jobs, async |_| {
    let clock = ManualClock::new(1_700_000_000_000);
    Some((palisade_jobs::MemoryJobStore::new(clock.clone()), clock))
});

/// Every jobs check in a row on one memory store (checks must not depend on a fresh store).
#[tokio::test]
async fn jobs_every_check_on_one_store() {
    let clock = ManualClock::new(1_700_000_000_000);
    let store = palisade_jobs::MemoryJobStore::new(clock.clone());
    palisade_testkit::jobs::run(std::sync::Arc::new(store), clock).await;
}

palisade_testkit::conformance!(cron, async |_| {
    let clock = ManualClock::new(palisade_testkit::cron::T0);
    let jobs = std::sync::Arc::new(palisade_jobs::MemoryJobStore::new(clock.clone()));
    let cron = palisade_jobs::cron::MemoryCronStore::new(clock.clone(), jobs.clone());
    Some(palisade_testkit::cron::Subject {
        cron: std::sync::Arc::new(cron),
        jobs,
        clock,
    })
});

palisade_testkit::conformance!(realtime, async |_| {
    let clock = ManualClock::new(1_700_000_000_000);
    Some((
        palisade_realtime::MemoryRealtimeStore::new(clock.clone()),
        clock,
    ))
});

palisade_testkit::conformance!(stream_slots, async |_| {
    let (clock, time) = manual();
    Some((palisade_realtime::MemoryRealtimeStore::new(clock), time))
});

palisade_testkit::conformance!(otp, async |_| {
    let clock = ManualClock::new(1_700_000_000_000);
    Some((palisade_otp::MemoryOtpStore::new(clock.clone()), clock))
});

palisade_testkit::conformance!(tokens, async |_| {
    let clock = ManualClock::new(1_700_000_000_000);
    Some((palisade_tokens::MemoryTokenStore::new(clock.clone()), clock))
});

palisade_testkit::conformance!(csrf, async |_| {
    let clock = ManualClock::new(1_700_000_000_000);
    Some((palisade_csrf::MemoryCsrfStore::new(clock.clone()), clock))
});

palisade_testkit::webhooks_conformance!(async |_| {
    let jobs = std::sync::Arc::new(palisade_jobs::MemoryJobStore::default());
    let inbox = palisade_webhooks::MemoryInboxStore::new(jobs.clone());
    Some(palisade_testkit::webhooks::Subject {
        inbox: std::sync::Arc::new(inbox),
        jobs,
    })
});
