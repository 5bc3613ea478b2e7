//! The counting algorithms as pure functions over a small state and the current time.

mod codec;
pub mod fixed;
pub mod gcra;
pub mod sliding;

use crate::policy::{Algorithm, Limit};
pub use sliding::SlidingState;

/// The per-key state of one algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlgoState {
    /// GCRA: the theoretical arrival time, µs since the epoch.
    Gcra {
        /// Theoretical arrival time (µs).
        tat_us: i64,
    },
    /// Fixed window: the window's start (ms) and the units counted in it.
    Fixed {
        /// Start of the counted window (ms, aligned to the window length).
        start_ms: i64,
        /// Units counted.
        count: u64,
    },
    /// Sliding window: counts of the recent sub-windows.
    Sliding(SlidingState),
}

/// The result of evaluating one check against one state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eval {
    /// The units fit.
    pub allowed: bool,
    /// Units left after this check (if allowed) or now (if not).
    pub remaining: u64,
    /// Milliseconds until the quota is fully available again.
    pub reset_after_ms: u64,
    /// Milliseconds until this check could succeed (0 when allowed).
    pub retry_after_ms: u64,
    /// The state to store when the check is committed (`None`: unchanged).
    pub next: Option<AlgoState>,
}

/// Evaluates `cost` units of `limit` at `now_ms` against `state` (a state of another
/// algorithm counts as empty). Cost 0 never limits and never changes the state.
#[inline(always)]
pub fn evaluate(limit: &Limit, state: Option<&AlgoState>, now_ms: i64, cost: u64) -> Eval {
    match limit.algorithm {
        Algorithm::Gcra => {
            let tat = match state {
                Some(AlgoState::Gcra { tat_us }) => Some(*tat_us),
                _ => None,
            };
            gcra::evaluate(limit, tat, now_ms, cost)
        }
        Algorithm::FixedWindow => {
            let st = match state {
                Some(AlgoState::Fixed { start_ms, count }) => Some((*start_ms, *count)),
                _ => None,
            };
            fixed::evaluate(limit, st, now_ms, cost)
        }
        Algorithm::SlidingWindow => {
            let st = match state {
                Some(AlgoState::Sliding(s)) => Some(s),
                _ => None,
            };
            sliding::evaluate(limit, st, now_ms, cost)
        }
    }
}

/// When the state stops mattering (ms): past it, an empty state decides the same.
#[inline(always)]
pub fn expires_at_ms(limit: &Limit, state: &AlgoState) -> i64 {
    match state {
        AlgoState::Gcra { tat_us } => ceil_div(*tat_us, 1000),
        AlgoState::Fixed { start_ms, .. } => start_ms + limit.window_ms as i64,
        AlgoState::Sliding(s) => s.expires_at_ms(limit),
    }
}

/// Integer division rounding up, for non-negative divisors.
#[inline]
pub(crate) fn ceil_div(a: i64, b: i64) -> i64 {
    -((-a).div_euclid(b))
}

/// A positive µs span as whole ms, rounded up; negative spans are 0.
#[inline]
pub(crate) fn us_to_ms_ceil(us: i64) -> u64 {
    (us.max(0) as u64).div_ceil(1000)
}
