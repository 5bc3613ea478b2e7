//! GCRA (generic cell rate algorithm): a token bucket in one timestamp, with a burst.
//!
//! Time runs in µs. The emission interval `T = ceil(window / quota)`; the bucket holds
//! `burst` units, i.e. a tolerance `tau = burst * T`. A check of `n` units is allowed when
//! `max(tat, now) + n*T - now <= tau`, and then `tat` becomes `max(tat, now) + n*T`.

use super::{us_to_ms_ceil, AlgoState, Eval};
use crate::policy::Limit;

/// The emission interval in µs (at least 1).
#[inline]
pub fn interval_us(limit: &Limit) -> i64 {
    let w = limit.window_ms.wrapping_mul(1000);
    w.div_ceil(limit.quota.max(1)).max(1) as i64
}

/// Evaluates `cost` units against the theoretical arrival time `tat_us`.
#[inline(always)]
pub fn evaluate(limit: &Limit, tat_us: Option<i64>, now_ms: i64, cost: u64) -> Eval {
    let t = interval_us(limit);
    let tau = limit.burst as i64 * t;
    let now = now_ms * 1000;
    let base = tat_us.unwrap_or(now).max(now);
    let left = |used: i64| (tau - used).max(0) as u64 / t as u64;
    if cost == 0 {
        return Eval {
            allowed: true,
            remaining: left(base - now),
            reset_after_ms: us_to_ms_ceil(base - now),
            retry_after_ms: 0,
            next: None,
        };
    }
    let new_tat = base + cost as i64 * t;
    if new_tat - now <= tau {
        // an idle key (the common case) needs no division: (burst*T - cost*T) / T
        let remaining = if base == now {
            limit.burst.saturating_sub(cost)
        } else {
            left(new_tat - now)
        };
        Eval {
            allowed: true,
            remaining,
            reset_after_ms: us_to_ms_ceil(new_tat - now),
            retry_after_ms: 0,
            next: Some(AlgoState::Gcra { tat_us: new_tat }),
        }
    } else {
        let reset = us_to_ms_ceil(base - now);
        let retry = if cost > limit.burst {
            reset
        } else {
            us_to_ms_ceil(new_tat - now - tau)
        };
        Eval {
            allowed: false,
            remaining: left(base - now),
            reset_after_ms: reset,
            retry_after_ms: retry.max(1),
            next: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Algorithm, OnStoreError};
    use proptest::prelude::*;

    fn lim(quota: u64, window_ms: u64, burst: u64) -> Limit {
        Limit {
            algorithm: Algorithm::Gcra,
            quota,
            window_ms,
            burst,
            block_ms: 0,
            shadow: false,
            on_store_error: OnStoreError::Fallback,
        }
    }

    #[test]
    fn burst_then_steady_rate() {
        let l = lim(10, 1000, 3);
        let mut tat = None;
        for want in [2, 1, 0] {
            let e = evaluate(&l, tat, 0, 1);
            assert!(e.allowed);
            assert_eq!(e.remaining, want);
            tat = Some(match e.next.unwrap() {
                AlgoState::Gcra { tat_us } => tat_us,
                _ => unreachable!(),
            });
        }
        let e = evaluate(&l, tat, 0, 1);
        assert!(!e.allowed);
        assert_eq!(
            (e.remaining, e.retry_after_ms, e.reset_after_ms),
            (0, 100, 300)
        );
        let e = evaluate(&l, tat, 99, 1);
        assert!(!e.allowed);
        assert_eq!(e.retry_after_ms, 1);
        let e = evaluate(&l, tat, 100, 1);
        assert!(e.allowed);
        assert_eq!(e.remaining, 0);
        assert!(evaluate(&l, tat, 0, 0).allowed, "cost 0 never limits");
    }

    #[test]
    fn cost_above_burst_never_fits() {
        let e = evaluate(&lim(10, 1000, 3), None, 0, 4);
        assert!(!e.allowed);
        assert!(e.retry_after_ms >= 1);
    }

    proptest! {
        /// Over any run of checks, the units granted never exceed burst + elapsed / T.
        #[test]
        fn never_more_than_burst_plus_elapsed(
            quota in 1u64..50, window_s in 1u64..5, burst in 1u64..20,
            steps in proptest::collection::vec((0i64..400, 1u64..4), 1..200),
        ) {
            let l = lim(quota, window_s * 1000, burst);
            let t = interval_us(&l);
            let (mut now, mut tat, mut granted) = (1_000_000i64, None, 0u64);
            let start = now;
            for (dt, cost) in steps {
                now += dt;
                let e = evaluate(&l, tat, now, cost);
                if let Some(AlgoState::Gcra { tat_us }) = e.next { tat = Some(tat_us); granted += cost; }
                let bound = burst + ((now - start) * 1000 / t) as u64;
                prop_assert!(granted <= bound, "granted {} > bound {}", granted, bound);
                if !e.allowed { prop_assert!(e.retry_after_ms > 0); }
            }
        }

        /// Remaining is always `(tau - (new_tat - now)) / T`, idle key (no division) or not.
        #[test]
        fn remaining_is_the_units_left_in_the_bucket(
            quota in 1u64..5000, window_ms in 1u64..100_000, burst in 1u64..50,
            tat_ahead_us in -5_000_000i64..5_000_000, cost in 1u64..50,
        ) {
            let l = lim(quota, window_ms, burst);
            let (t, now_ms) = (interval_us(&l), 1_000_000i64);
            let now = now_ms * 1000;
            let e = evaluate(&l, Some(now + tat_ahead_us), now_ms, cost);
            if let Some(AlgoState::Gcra { tat_us }) = e.next {
                prop_assert_eq!(e.remaining, ((burst as i64 * t - (tat_us - now)) / t) as u64);
            }
        }

        /// A denied check retried exactly after retry_after is allowed.
        #[test]
        fn retry_after_is_exact_enough(
            quota in 1u64..50, burst in 1u64..10, n in 1usize..30, cost in 1u64..3,
        ) {
            let l = lim(quota, 1000, burst.max(cost));
            let mut tat = None;
            let mut now = 5_000i64;
            for _ in 0..n {
                let e = evaluate(&l, tat, now, cost);
                if let Some(AlgoState::Gcra { tat_us }) = e.next { tat = Some(tat_us); continue; }
                now += e.retry_after_ms as i64;
                prop_assert!(evaluate(&l, tat, now, cost).allowed);
                break;
            }
        }
    }
}
