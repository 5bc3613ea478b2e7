//! Sliding window: at most `quota` units in ANY window of the given length.
//!
//! The window is counted in [`SUB_WINDOWS`] sub-windows of `b = ceil(window / 10)` ms. At
//! time `t`, every sub-window that overlaps `[t - window + 1, t]` counts in full, so the
//! guarantee is exact (never more than `quota` in any window ending at a check) and errs
//! towards denying: a unit is forgotten up to one sub-window late.

use super::{AlgoState, Eval};
use crate::policy::Limit;

/// How many sub-windows a window is counted in.
pub const SUB_WINDOWS: i64 = 10;
/// Slots of the ring: enough for every sub-window that can overlap one window.
pub const SLOTS: usize = SUB_WINDOWS as usize + 1;

/// Counts per sub-window, in a ring indexed by sub-window number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SlidingState {
    /// `(sub-window index, units)`; a slot is live when its index is in the current span.
    pub slots: [(i64, u64); SLOTS],
}

/// Sub-window length in ms.
pub fn sub_window_ms(limit: &Limit) -> i64 {
    super::ceil_div(limit.window_ms as i64, SUB_WINDOWS).max(1)
}

/// The span `[lo, cur]` of sub-window indexes counted at `now_ms`.
pub fn span(limit: &Limit, now_ms: i64) -> (i64, i64) {
    let b = sub_window_ms(limit);
    let lo = (now_ms - limit.window_ms as i64 + 1).div_euclid(b);
    (lo, now_ms.div_euclid(b))
}

impl SlidingState {
    /// Builds a state from `(index, units)` pairs (as stores keep them).
    pub fn from_pairs(pairs: impl IntoIterator<Item = (i64, u64)>) -> Self {
        let mut s = Self::default();
        for (i, c) in pairs {
            s.slots[i.rem_euclid(SLOTS as i64) as usize] = (i, c);
        }
        s
    }

    /// The live `(index, units)` pairs at `now_ms`, oldest first.
    pub fn live(&self, limit: &Limit, now_ms: i64) -> impl Iterator<Item = (i64, u64)> + '_ {
        let (lo, cur) = span(limit, now_ms);
        (lo..=cur).filter_map(move |i| {
            let (idx, c) = self.slots[i.rem_euclid(SLOTS as i64) as usize];
            (idx == i && c > 0).then_some((idx, c))
        })
    }

    /// When the newest counted unit leaves every window.
    pub fn expires_at_ms(&self, limit: &Limit) -> i64 {
        let newest = self.slots.iter().filter(|s| s.1 > 0).map(|s| s.0).max();
        newest.map_or(0, |m| leaves_at(limit, m))
    }
}

/// The first instant at which sub-window `idx` no longer counts.
fn leaves_at(limit: &Limit, idx: i64) -> i64 {
    (idx + 1) * sub_window_ms(limit) + limit.window_ms as i64 - 1
}

/// Evaluates `cost` units against the sub-window counts.
pub fn evaluate(limit: &Limit, state: Option<&SlidingState>, now_ms: i64, cost: u64) -> Eval {
    let empty = SlidingState::default();
    let st = state.unwrap_or(&empty);
    let total: u64 = st.live(limit, now_ms).map(|(_, c)| c).sum();
    let reset_of =
        |newest: Option<i64>| newest.map_or(0, |m| (leaves_at(limit, m) - now_ms) as u64);
    let newest = st.live(limit, now_ms).last().map(|(i, _)| i);
    if cost == 0 || total + cost <= limit.quota {
        let (_, cur) = span(limit, now_ms);
        let next = (cost > 0).then(|| {
            let mut n = SlidingState::default();
            for (i, c) in st.live(limit, now_ms) {
                n.slots[i.rem_euclid(SLOTS as i64) as usize] = (i, c);
            }
            let slot = &mut n.slots[cur.rem_euclid(SLOTS as i64) as usize];
            *slot = (cur, if slot.0 == cur { slot.1 } else { 0 } + cost);
            AlgoState::Sliding(n)
        });
        let newest = if cost > 0 { Some(cur) } else { newest };
        return Eval {
            allowed: true,
            remaining: limit.quota.saturating_sub(total + cost),
            reset_after_ms: reset_of(newest),
            retry_after_ms: 0,
            next,
        };
    }
    let reset = reset_of(newest);
    let retry = if cost > limit.quota {
        reset
    } else {
        let need = total + cost - limit.quota;
        let mut freed = 0;
        let mut at = reset;
        for (i, c) in st.live(limit, now_ms) {
            freed += c;
            if freed >= need {
                at = (leaves_at(limit, i) - now_ms) as u64;
                break;
            }
        }
        at
    };
    Eval {
        allowed: false,
        remaining: limit.quota.saturating_sub(total),
        reset_after_ms: reset,
        retry_after_ms: retry.max(1),
        next: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Algorithm, OnStoreError};
    use proptest::prelude::*;

    fn lim(quota: u64, window_ms: u64) -> Limit {
        Limit {
            algorithm: Algorithm::SlidingWindow,
            quota,
            window_ms,
            burst: quota,
            block_ms: 0,
            shadow: false,
            on_store_error: OnStoreError::Fallback,
        }
    }

    fn run(l: &Limit, st: &mut SlidingState, now: i64, cost: u64) -> Eval {
        let e = evaluate(l, Some(st), now, cost);
        if let Some(AlgoState::Sliding(n)) = e.next {
            *st = n;
        }
        e
    }

    #[test]
    fn no_double_quota_at_a_boundary() {
        let l = lim(10, 1000);
        let mut st = SlidingState::default();
        for _ in 0..10 {
            assert!(run(&l, &mut st, 10_950, 1).allowed);
        }
        let e = run(&l, &mut st, 11_000, 1);
        assert!(!e.allowed, "a fixed window would allow here");
        // sub-window 109 ([10900, 11000)) leaves every window at 11999.
        assert_eq!(e.retry_after_ms, 999);
        assert!(!run(&l, &mut st, 11_998, 1).allowed);
        let e = run(&l, &mut st, 11_999, 1);
        assert!(e.allowed);
        assert_eq!(e.remaining, 9);
    }

    proptest! {
        /// In any window of the policy's length ending at a check instant, at most `quota`
        /// units are granted.
        #[test]
        fn at_most_quota_in_any_window(
            quota in 1u64..20, window_ms in 1000u64..3000,
            steps in proptest::collection::vec((0i64..400, 1u64..3), 1..300),
        ) {
            let l = lim(quota, window_ms);
            let mut st = SlidingState::default();
            let mut now = 50_000i64;
            let mut grants: Vec<(i64, u64)> = Vec::new();
            for (dt, cost) in steps {
                now += dt;
                let e = run(&l, &mut st, now, cost);
                if e.allowed { grants.push((now, cost)); }
                let in_window: u64 = grants.iter()
                    .filter(|(t, _)| *t > now - window_ms as i64).map(|(_, c)| c).sum();
                prop_assert!(in_window <= quota, "{} > {} at {}", in_window, quota, now);
                if !e.allowed {
                    prop_assert!(e.retry_after_ms > 0);
                    let later = evaluate(&l, Some(&st), now + e.retry_after_ms as i64, cost);
                    prop_assert!(cost > quota || later.allowed, "retry_after too short");
                }
            }
        }
    }
}
