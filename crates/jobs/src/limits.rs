//! Per-key limits of a queue: how many jobs of one limit key may run at once and start per
//! window, and the lease gate that enforces the rate.

use crate::model::Job;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::time::Duration;

/// The limits of one queue (`[jobs.limits.<queue>]`), per limit key of a tenant
/// ([`Job::limit_key`]; the tenant itself when a job names none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueLimits {
    /// Most running jobs per key, across every instance (in the store's lease statement).
    pub concurrency_per_key: Option<u32>,
    /// Most jobs started per key per `rate_window`, evenly spaced, across every instance
    /// (through the rate-limiting capability's store).
    pub rate_per_key: Option<u32>,
    /// The window of `rate_per_key`.
    #[serde(with = "humantime_serde")]
    pub rate_window: Duration,
}

impl Default for QueueLimits {
    fn default() -> Self {
        Self {
            concurrency_per_key: None,
            rate_per_key: None,
            rate_window: Duration::from_secs(1),
        }
    }
}

impl QueueLimits {
    /// Every problem of these limits, each naming its key under `at`.
    pub fn errors(&self, at: &str) -> Vec<String> {
        let mut e = Vec::new();
        if self
            .concurrency_per_key
            .is_some_and(|n| !(1..=100_000).contains(&n))
        {
            e.push(format!(
                "{at}.concurrency_per_key: must be between 1 and 100000"
            ));
        }
        if self
            .rate_per_key
            .is_some_and(|n| !(1..=1_000_000).contains(&n))
        {
            e.push(format!("{at}.rate_per_key: must be between 1 and 1000000"));
        }
        if !(1_000..=86_400_000).contains(&self.rate_window.as_millis()) {
            e.push(format!("{at}.rate_window: must be between 1s and 1d"));
        }
        e
    }
}

/// Admits the start of a job by its key's rate. Implemented by the host over a rate limit
/// every instance shares (the server: its rate-limiting capability); a lease asks it for each
/// job it would take, inside the lease's transaction.
#[async_trait::async_trait]
pub trait LeaseGate: Send + Sync + std::fmt::Debug {
    /// True when one more job of `job`'s key (tenant, queue, limit key) may start now; an
    /// admitted start is counted.
    async fn admit(&self, job: &Job) -> bool;
}

/// The jobs of `picked` (in order) that `gate` admits, at most `limit`; a key refused once is
/// not asked again in the same lease.
pub async fn admitted<'a>(gate: &dyn LeaseGate, picked: &'a [Job], limit: usize) -> Vec<&'a Job> {
    let mut refused: HashSet<(&str, &str)> = HashSet::new();
    let mut out = Vec::new();
    for job in picked {
        if out.len() >= limit {
            break;
        }
        let key = (job.tenant.as_str(), job.limit_key_str());
        if refused.contains(&key) {
            continue;
        }
        if gate.admit(job).await {
            out.push(job);
        } else {
            refused.insert(key);
        }
    }
    out
}

/// Orders picked jobs as a fair lease takes them: each tenant's `k`-th job (by priority, then
/// run-at) before any tenant's `k + 1`-th, so a gate admitting only the first few keeps the
/// lease fair across tenants.
pub fn rank_fairly(jobs: &mut [Job]) {
    let order = |j: &Job| (j.priority, j.run_at_ms, j.id.clone());
    jobs.sort_by(|a, b| (&a.tenant, order(a)).cmp(&(&b.tenant, order(b))));
    let mut k = 0u64;
    let ranks: Vec<u64> = (0..jobs.len())
        .map(|i| {
            k = match i > 0 && jobs[i - 1].tenant == jobs[i].tenant {
                true => k + 1,
                false => 1,
            };
            k
        })
        .collect();
    let mut ranked: Vec<(u64, Job)> = ranks.into_iter().zip(jobs.iter().cloned()).collect();
    ranked.sort_by_key(|(k, j)| (*k, order(j)));
    for (slot, (_, j)) in jobs.iter_mut().zip(ranked) {
        *slot = j;
    }
}

/// How many due jobs a gated lease looks at for `limit` admitted ones: some keys may be
/// refused by their rate.
pub fn gated_pick(limit: u32) -> u32 {
    limit
        .saturating_mul(4)
        .clamp(limit, crate::params::MAX_BATCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{JobId, JobKind, QueueName};
    use crate::params::JobEnqueue;
    use palisade_core::TenantId;

    #[test]
    fn fair_rank_takes_each_tenants_first_job_before_anyones_second() {
        let (a, b) = (TenantId::generate(), TenantId::generate());
        let q = QueueName::parse("q").unwrap();
        let kind = JobKind::parse("k").unwrap();
        let job = |t: &TenantId, at: i64| {
            JobEnqueue::new(q.clone(), kind.clone(), serde_json::json!({})).into_job(
                t,
                JobId::generate(at),
                at,
            )
        };
        let mut jobs = vec![job(&a, 1), job(&a, 2), job(&a, 3), job(&b, 4), job(&b, 5)];
        rank_fairly(&mut jobs);
        let order: Vec<(bool, i64)> = jobs.iter().map(|j| (j.tenant == a, j.run_at_ms)).collect();
        assert_eq!(
            order,
            [(true, 1), (false, 4), (true, 2), (false, 5), (true, 3)]
        );
    }

    #[test]
    fn bad_limits_name_their_keys() {
        let l = QueueLimits {
            concurrency_per_key: Some(0),
            rate_per_key: Some(0),
            rate_window: Duration::from_millis(10),
        };
        let keys: Vec<String> = l
            .errors("jobs.limits.q")
            .iter()
            .map(|m| m.split(':').next().unwrap().to_owned())
            .collect();
        assert_eq!(
            keys,
            [
                "jobs.limits.q.concurrency_per_key",
                "jobs.limits.q.rate_per_key",
                "jobs.limits.q.rate_window"
            ]
        );
        assert!(QueueLimits::default().errors("x").is_empty());
    }
}
