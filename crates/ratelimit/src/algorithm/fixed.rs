//! Fixed window: at most `quota` units per window aligned to the epoch; resets at each boundary.

use super::{AlgoState, Eval};
use crate::policy::Limit;

/// Evaluates `cost` units against `(window start, count)`.
#[inline]
pub fn evaluate(limit: &Limit, state: Option<(i64, u64)>, now_ms: i64, cost: u64) -> Eval {
    let w = limit.window_ms as i64;
    let start = now_ms - now_ms.rem_euclid(w);
    let count = match state {
        Some((s, c)) if s == start => c,
        _ => 0,
    };
    let reset = (start + w - now_ms) as u64;
    let fits = count.saturating_add(cost) <= limit.quota;
    if cost == 0 || fits {
        let used = count + cost;
        Eval {
            allowed: true,
            remaining: limit.quota.saturating_sub(used),
            reset_after_ms: if used == 0 { 0 } else { reset },
            retry_after_ms: 0,
            next: (cost > 0).then_some(AlgoState::Fixed {
                start_ms: start,
                count: used,
            }),
        }
    } else {
        Eval {
            allowed: false,
            remaining: limit.quota.saturating_sub(count),
            reset_after_ms: reset,
            retry_after_ms: reset.max(1),
            next: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Algorithm, OnStoreError};
    use proptest::prelude::*;

    fn lim(quota: u64, window_ms: u64) -> Limit {
        Limit {
            algorithm: Algorithm::FixedWindow,
            quota,
            window_ms,
            burst: quota,
            block_ms: 0,
            shadow: false,
            on_store_error: OnStoreError::Fallback,
        }
    }

    fn run(l: &Limit, st: &mut Option<(i64, u64)>, now: i64, cost: u64) -> Eval {
        let e = evaluate(l, *st, now, cost);
        if let Some(AlgoState::Fixed { start_ms, count }) = e.next {
            *st = Some((start_ms, count));
        }
        e
    }

    #[test]
    fn counts_then_resets_at_the_boundary() {
        let l = lim(2, 1000);
        let mut st = None;
        assert_eq!(run(&l, &mut st, 10_250, 1).remaining, 1);
        assert_eq!(run(&l, &mut st, 10_500, 1).remaining, 0);
        let e = run(&l, &mut st, 10_900, 1);
        assert!(!e.allowed);
        assert_eq!((e.retry_after_ms, e.reset_after_ms), (100, 100));
        let e = run(&l, &mut st, 11_000, 1);
        assert!(e.allowed, "a new window starts with the full quota");
        assert_eq!((e.remaining, e.reset_after_ms), (1, 1000));
        assert!(run(&l, &mut st, 11_001, 0).allowed);
        assert_eq!(st, Some((11_000, 1)), "cost 0 changes nothing");
    }

    proptest! {
        /// Each aligned window grants at most `quota` units.
        #[test]
        fn at_most_quota_per_window(
            quota in 1u64..20, steps in proptest::collection::vec((0i64..300, 1u64..3), 1..200),
        ) {
            let l = lim(quota, 1000);
            let (mut st, mut now) = (None, 0i64);
            let mut per = std::collections::HashMap::<i64, u64>::new();
            for (dt, cost) in steps {
                now += dt;
                if run(&l, &mut st, now, cost).allowed { *per.entry(now / 1000).or_default() += cost; }
            }
            prop_assert!(per.values().all(|&v| v <= quota));
        }
    }
}
