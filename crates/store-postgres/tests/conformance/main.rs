//! Every conformance suite (and backend-specific test) against this store, in one test binary:
//! one named test per check, each in a fresh schema.

mod cancel;
mod common;
mod decisions;
mod errors;
mod fanout;
mod fencing;
mod jobs_counts;
mod jobs_index;
mod restart;
mod tls;

use common::{clocked, corrupt_subject, cron, store, timed};

palisade_testkit::conformance!(tenancy, store);
palisade_testkit::conformance!(audit, store);
palisade_testkit::conformance!(locks, timed);
palisade_testkit::conformance!(idempotency, timed);
palisade_testkit::conformance!(ratelimit, manual_clock_purged, timed);
palisade_testkit::conformance!(ratelimit_config, store);
palisade_testkit::conformance!(jobs, clocked);
palisade_testkit::conformance!(realtime, clocked);
palisade_testkit::conformance!(stream_slots, timed);
palisade_testkit::conformance!(otp, clocked);
palisade_testkit::conformance!(csrf, clocked);
palisade_testkit::conformance!(tokens, clocked);
palisade_testkit::conformance!(cron, cron);
palisade_testkit::conformance!(corrupt, corrupt_subject);
palisade_testkit::webhooks_conformance!(async |test| {
    let s = std::sync::Arc::new(store(test).await?);
    Some(palisade_testkit::webhooks::Subject {
        inbox: s.clone(),
        jobs: s,
    })
});
