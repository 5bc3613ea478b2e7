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

/// Counts of the [`SLOTS`] sub-windows ending at `newest`, in a ring indexed by sub-window
/// number (sub-window `i` lives in slot `i mod SLOTS`): 56 bytes, so a decision copies little.
///
/// States written by [`evaluate`] always hold sub-windows within one span ending at `newest`,
/// so the ring holds them exactly. Counts are `u32`: a sub-window never counts more than the
/// quota (≤ [`crate::policy::MAX_QUOTA`]); a larger stored count reads as `u32::MAX`, which
/// still exceeds every valid quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SlidingState {
    /// The newest sub-window with units (0 when none has).
    newest: i64,
    /// Units per slot; slot `i mod SLOTS` counts sub-window `i` for `i` in
    /// `(newest - SLOTS, newest]`.
    counts: [u32; SLOTS],
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

#[inline]
fn slot(i: i64) -> usize {
    i.rem_euclid(SLOTS as i64) as usize
}

fn narrow(c: u64) -> u32 {
    u32::try_from(c).unwrap_or(u32::MAX)
}

impl SlidingState {
    /// Builds a state from `(index, units)` pairs (as stores keep them). Pairs older than
    /// [`SLOTS`] sub-windows before the newest one never count together with it, and are
    /// dropped.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (i64, u64)> + Clone) -> Self {
        let mut s = Self::default();
        let Some(newest) = pairs
            .clone()
            .into_iter()
            .filter(|p| p.1 > 0)
            .map(|p| p.0)
            .max()
        else {
            return s;
        };
        s.newest = newest;
        for (i, c) in pairs {
            if c > 0 && i > newest - SLOTS as i64 {
                s.counts[slot(i)] = narrow(c);
            }
        }
        s
    }

    /// Units counted in sub-window `i`.
    #[inline]
    fn count(&self, i: i64) -> u64 {
        if i > self.newest || i <= self.newest - SLOTS as i64 {
            return 0;
        }
        u64::from(self.counts[slot(i)])
    }

    /// The `(index, units)` pairs with units, in ring-slot order (the stored text's order).
    pub fn pairs(&self) -> impl Iterator<Item = (i64, u64)> + '_ {
        let top = slot(self.newest);
        (0..SLOTS).filter_map(move |p| {
            let i = self.newest - ((top + SLOTS - p) % SLOTS) as i64;
            let c = self.count(i);
            (c > 0).then_some((i, c))
        })
    }

    /// The live `(index, units)` pairs at `now_ms`, oldest first.
    #[inline]
    pub fn live(&self, limit: &Limit, now_ms: i64) -> impl Iterator<Item = (i64, u64)> + '_ {
        let (lo, cur) = span(limit, now_ms);
        (lo..=cur).filter_map(move |i| {
            let c = self.count(i);
            (c > 0).then_some((i, c))
        })
    }

    /// When the newest counted unit leaves every window.
    pub fn expires_at_ms(&self, limit: &Limit) -> i64 {
        let newest = (0..SLOTS as i64)
            .map(|d| self.newest - d)
            .find(|&i| self.count(i) > 0);
        newest.map_or(0, |m| leaves_at(limit, m))
    }
}

/// The first instant at which sub-window `idx` no longer counts.
fn leaves_at(limit: &Limit, idx: i64) -> i64 {
    (idx + 1) * sub_window_ms(limit) + limit.window_ms as i64 - 1
}

/// The live sub-windows at `now_ms` plus `cost` units in the current one.
fn with_cost(st: &SlidingState, limit: &Limit, now_ms: i64, cost: u64) -> SlidingState {
    let (_, cur) = span(limit, now_ms);
    let mut n = SlidingState {
        newest: cur,
        counts: [0; SLOTS],
    };
    for (i, c) in st.live(limit, now_ms) {
        n.counts[slot(i)] = narrow(c);
    }
    let at = &mut n.counts[slot(cur)];
    *at = narrow(u64::from(*at) + cost);
    n
}

/// Evaluates `cost` units against the sub-window counts.
#[inline(never)]
pub fn evaluate(limit: &Limit, state: Option<&SlidingState>, now_ms: i64, cost: u64) -> Eval {
    let empty = SlidingState::default();
    let st = state.unwrap_or(&empty);
    let total: u64 = st.live(limit, now_ms).map(|(_, c)| c).sum();
    let reset_of =
        |newest: Option<i64>| newest.map_or(0, |m| (leaves_at(limit, m) - now_ms) as u64);
    let newest = st.live(limit, now_ms).last().map(|(i, _)| i);
    if cost == 0 || total + cost <= limit.quota {
        let (_, cur) = span(limit, now_ms);
        let next = (cost > 0).then(|| AlgoState::Sliding(with_cost(st, limit, now_ms, cost)));
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

    #[test]
    fn state_is_compact() {
        assert!(std::mem::size_of::<SlidingState>() <= 56);
        assert!(std::mem::size_of::<crate::decision::KeyState>() <= 72);
    }

    proptest! {
        /// A written state survives the stored text form unchanged.
        #[test]
        fn written_states_round_trip_the_codec(
            steps in proptest::collection::vec((0i64..700, 1u64..3), 1..100),
        ) {
            let l = lim(15, 1000);
            let mut st = SlidingState::default();
            let mut now = -3_000i64;
            for (dt, cost) in steps {
                now += dt;
                run(&l, &mut st, now, cost);
                let text = AlgoState::Sliding(st).encode();
                prop_assert_eq!(AlgoState::decode(&text), Some(AlgoState::Sliding(st)));
            }
        }


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
