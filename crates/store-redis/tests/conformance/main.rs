//! Every conformance suite (and backend-specific test) against this store, in one test binary:
//! one named test per check, each under a fresh key prefix.

mod breaker;
mod common;
mod csrf_expiry;
mod fallback;
mod fencing;
mod otp_wipe;
mod realtime;

use common::real_time;

palisade_testkit::conformance!(locks, real_time);
palisade_testkit::conformance!(idempotency, real_time);
palisade_testkit::conformance!(stream_slots, real_time);
palisade_testkit::conformance!(ratelimit, real_time, real_time);
// State and tokens expire by themselves in Redis: every check but purge's.
palisade_testkit::conformance!(otp, self_expiring, common::otp_clocked);
palisade_testkit::conformance!(csrf, self_expiring, common::csrf_clocked);

/// The rate-limit script on a clock the suite drives (`RedisStore::ratelimit_on_clock`).
mod driven_clock {
    palisade_testkit::conformance!(ratelimit, manual_clock, crate::common::driven_clock);
}
