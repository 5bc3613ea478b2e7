//! Retry delays: exponential backoff with jitter, per kind and per job.

use crate::model::JobKind;
use palisade_core::FieldError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Longest delay a backoff may give: 7 days.
pub const MAX_DELAY_MS: i64 = 7 * 24 * 3600 * 1000;

/// Delay before retry `n` (after failed attempt `n`, from 1): `base · factorⁿ⁻¹`, capped at
/// `max`, then lowered by up to `jitter` of itself at random (so retries of many jobs that
/// failed together spread out instead of arriving at once).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Backoff {
    /// The first delay (ms), 1 ..= [`MAX_DELAY_MS`].
    pub base_ms: i64,
    /// The longest delay (ms), `base_ms` ..= [`MAX_DELAY_MS`].
    pub max_ms: i64,
    /// Growth per attempt, 1.0 ..= 10.0.
    pub factor: f64,
    /// Fraction of the delay that is random, 0.0 ..= 1.0.
    pub jitter: f64,
}

impl Default for Backoff {
    /// 1 s doubling up to 1 h, with 20 % jitter.
    fn default() -> Self {
        Self {
            base_ms: 1_000,
            max_ms: 3_600_000,
            factor: 2.0,
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// Every invalid field, named under `prefix` (e.g. `backoff`).
    pub fn check(&self, prefix: &str) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if !(1..=MAX_DELAY_MS).contains(&self.base_ms) {
            errs.push(FieldError::new(
                format!("{prefix}.base_ms"),
                "between 1 and 604800000 (7 days)",
            ));
        }
        if !(self.base_ms.max(1)..=MAX_DELAY_MS).contains(&self.max_ms) {
            errs.push(FieldError::new(
                format!("{prefix}.max_ms"),
                "at least base_ms and at most 604800000 (7 days)",
            ));
        }
        if !(1.0..=10.0).contains(&self.factor) {
            errs.push(FieldError::new(
                format!("{prefix}.factor"),
                "a number from 1.0 to 10.0",
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            errs.push(FieldError::new(
                format!("{prefix}.jitter"),
                "a number from 0.0 to 1.0",
            ));
        }
        errs
    }

    /// The delay without jitter after failed attempt `attempt` (from 1).
    pub fn ceiling_ms(&self, attempt: u32) -> i64 {
        let exp = attempt.saturating_sub(1).min(64) as i32;
        let d = self.base_ms as f64 * self.factor.powi(exp);
        if d.is_finite() {
            (d as i64).clamp(self.base_ms.min(self.max_ms), self.max_ms)
        } else {
            self.max_ms
        }
    }

    /// The delay after failed attempt `attempt`, with `unit` (0.0 ..= 1.0, uniform at random)
    /// choosing where in `[ceiling · (1 − jitter), ceiling]` it falls.
    pub fn delay_ms_with(&self, attempt: u32, unit: f64) -> i64 {
        let ceiling = self.ceiling_ms(attempt) as f64;
        let off = ceiling * self.jitter * unit.clamp(0.0, 1.0);
        ((ceiling - off).round() as i64).max(0)
    }

    /// The delay after failed attempt `attempt`, jittered from the thread's random source.
    pub fn delay_ms(&self, attempt: u32) -> i64 {
        self.delay_ms_with(attempt, rand::random::<f64>())
    }
}

/// Backoff per job kind, with a default: resolves the schedule an enqueue stores.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BackoffByKind {
    /// For kinds not listed.
    #[serde(default)]
    pub default: Backoff,
    /// Per kind.
    #[serde(default)]
    pub kinds: HashMap<String, Backoff>,
}

impl BackoffByKind {
    /// The job's own backoff when it names one, else its kind's, else the default.
    pub fn resolve(&self, kind: &JobKind, own: Option<Backoff>) -> Backoff {
        own.or_else(|| self.kinds.get(kind.as_str()).copied())
            .unwrap_or(self.default)
    }

    /// Every invalid field.
    pub fn check(&self) -> Vec<FieldError> {
        let mut errs = self.default.check("backoff.default");
        for (k, b) in &self.kinds {
            errs.extend(b.check(&format!("backoff.kinds.{k}")));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn plain() -> Backoff {
        Backoff {
            base_ms: 1_000,
            max_ms: 60_000,
            factor: 2.0,
            jitter: 0.0,
        }
    }

    #[test]
    fn grows_exponentially_then_caps() {
        let b = plain();
        let got: Vec<i64> = (1..=8).map(|a| b.delay_ms(a)).collect();
        assert_eq!(
            got,
            [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]
        );
        assert_eq!(b.delay_ms(u32::MAX), 60_000, "huge attempts stay capped");
    }

    #[test]
    fn jitter_lowers_within_its_fraction() {
        let b = Backoff {
            jitter: 0.5,
            ..plain()
        };
        assert_eq!(b.delay_ms_with(3, 0.0), 4_000);
        assert_eq!(b.delay_ms_with(3, 1.0), 2_000);
        assert_eq!(b.delay_ms_with(3, 0.5), 3_000);
    }

    #[test]
    fn check_names_every_bad_field() {
        let bad = Backoff {
            base_ms: 0,
            max_ms: -1,
            factor: 0.5,
            jitter: 2.0,
        };
        let fields: Vec<_> = bad.check("backoff").into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "backoff.base_ms",
                "backoff.max_ms",
                "backoff.factor",
                "backoff.jitter"
            ]
        );
        assert!(Backoff::default().check("backoff").is_empty());
    }

    #[test]
    fn resolve_prefers_job_then_kind_then_default() {
        let mut by = BackoffByKind::default();
        by.kinds.insert("email".into(), plain());
        let email = JobKind::parse("email").unwrap();
        let other = JobKind::parse("other").unwrap();
        let own = Backoff {
            base_ms: 7,
            ..plain()
        };
        assert_eq!(by.resolve(&email, Some(own)), own);
        assert_eq!(by.resolve(&email, None), plain());
        assert_eq!(by.resolve(&other, None), Backoff::default());
    }

    fn backoff() -> impl Strategy<Value = Backoff> {
        (1i64..100_000, 0i64..10_000_000, 1.0f64..10.0, 0.0f64..=1.0).prop_map(
            |(base, extra, factor, jitter)| Backoff {
                base_ms: base,
                max_ms: (base + extra).min(MAX_DELAY_MS),
                factor,
                jitter,
            },
        )
    }

    proptest! {
        #[test]
        fn delay_within_jitter_band_and_cap(b in backoff(), attempt in 1u32..200, unit in 0.0f64..=1.0) {
            let ceiling = b.ceiling_ms(attempt);
            let d = b.delay_ms_with(attempt, unit);
            prop_assert!(ceiling <= b.max_ms);
            prop_assert!(d <= ceiling);
            prop_assert!(d as f64 >= (ceiling as f64 * (1.0 - b.jitter)).floor() - 1.0);
        }

        #[test]
        fn ceiling_never_decreases(b in backoff(), attempt in 1u32..200) {
            prop_assert!(b.ceiling_ms(attempt) <= b.ceiling_ms(attempt + 1));
        }
    }
}
