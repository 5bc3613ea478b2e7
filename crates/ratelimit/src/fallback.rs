//! Fallback: when the shared store fails or misses its deadline, decide by `on_store_error`.
//!
//! The deadline measures the store call, not the time a decision waits in this instance's
//! own queue ([`RateLimitStore::ratelimit_check_within`]): a busy instance is not a failing
//! store. A fallback grant for a key is bounded by the shared store's last known remaining
//! for it ([`KnownRemaining`]); only a key without such knowledge gets the share of its quota.

use crate::decision::{Check, Decision, Outcome};
use crate::known::{Known, KnownRemaining};
use crate::memory::MemoryRateLimitStore;
use crate::metrics;
use crate::policy::OnStoreError;
use crate::store::RateLimitStore;
use palisade_core::{SharedClock, StoreError, SystemClock, TenantId};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Settings of [`FallbackStore`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FallbackOptions {
    /// Deadline of one shared-store decision (default 50 ms).
    pub deadline: Duration,
    /// Share of a policy's quota (and burst) one instance may grant for a key while falling
    /// back, when the shared store's remaining for the key is not known (default
    /// 1 / expected instances).
    pub share: f64,
    /// After a failure, how long to decide locally before trying the shared store again.
    pub probe_interval: Duration,
    /// Most keys whose last known remaining is kept (the bound of fallback grants).
    pub known_keys: usize,
}

impl FallbackOptions {
    /// Defaults for `expected_instances` instances: 50 ms deadline, quota ÷ instances,
    /// a probe of the shared store every 500 ms while it is failing.
    pub fn for_instances(expected_instances: u32) -> Self {
        Self {
            deadline: Duration::from_millis(50),
            share: 1.0 / f64::from(expected_instances.max(1)),
            probe_interval: Duration::from_millis(500),
            known_keys: 100_000,
        }
    }
}

/// A decision store that wraps a shared store and falls back per policy when it fails.
///
/// Fallback decisions are counted ([`metrics::FALLBACK`]); an incident is logged once when it
/// starts and once when the shared store answers again. Recovery needs no action.
#[derive(Debug)]
pub struct FallbackStore {
    shared: Arc<dyn RateLimitStore>,
    local: MemoryRateLimitStore,
    known: KnownRemaining,
    opts: FallbackOptions,
    clock: SharedClock,
    failing: AtomicBool,
    retry_at_ms: AtomicI64,
}

impl FallbackStore {
    /// Wraps `shared`; `local` holds the fallback counts (bounded).
    pub fn new(
        shared: Arc<dyn RateLimitStore>,
        local: MemoryRateLimitStore,
        opts: FallbackOptions,
    ) -> Self {
        Self {
            shared,
            local,
            known: KnownRemaining::new(opts.known_keys),
            opts,
            clock: SystemClock::shared(),
            failing: AtomicBool::new(false),
            retry_at_ms: AtomicI64::new(0),
        }
    }

    /// Replaces the clock of the local decisions and the probe schedule.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// True while an incident is open (the shared store last failed).
    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    async fn try_shared(
        &self,
        tenant: &TenantId,
        checks: &[Check],
    ) -> Result<Vec<Decision>, StoreError> {
        let start = Instant::now();
        let r = self
            .shared
            .ratelimit_check_within(tenant, checks, self.opts.deadline)
            .await;
        let label = match &r {
            Ok(d) => {
                self.known
                    .record(tenant, checks, &self.capped(checks, d), self.clock.now_ms());
                "ok"
            }
            Err(StoreError::Timeout) => "timeout",
            Err(_) => "error",
        };
        metrics::record_latency(metrics::SHARED_STORE_SECONDS, label, start.elapsed());
        r
    }

    fn open_incident(&self, e: &StoreError) {
        let now = self.clock.now_ms();
        self.retry_at_ms.store(
            now + self.opts.probe_interval.as_millis() as i64,
            Ordering::Relaxed,
        );
        if !self.failing.swap(true, Ordering::Relaxed) {
            tracing::warn!(error = %e, "rate limit store failing: deciding by on_store_error until it recovers");
        }
    }

    fn close_incident(&self) {
        if self.failing.swap(false, Ordering::Relaxed) {
            tracing::info!("rate limit store recovered: decisions are shared again");
        }
    }

    /// Decides without the shared store, each check by its `on_store_error`, all or nothing.
    /// A `fallback` check of a key whose remaining the shared store last reported is granted
    /// from that figure (counting down); any other `fallback` check from the local counts with
    /// the share of its quota.
    pub fn decide_locally(&self, tenant: &TenantId, checks: &[Check]) -> Vec<Decision> {
        let now = self.clock.now_ms();
        let known = self.known.lookup(tenant, checks, now);
        let is_fallback = |i: usize| checks[i].limit.on_store_error == OnStoreError::Fallback;
        let (from_known, from_share): (Vec<usize>, Vec<usize>) = (0..checks.len())
            .filter(|&i| is_fallback(i))
            .partition(|&i| known[i] != Known::Unknown);
        let enforced_known: Vec<usize> = from_known
            .iter()
            .copied()
            .filter(|&i| !checks[i].limit.shadow)
            .collect();
        let deny = checks
            .iter()
            .any(|c| c.limit.on_store_error == OnStoreError::Deny && !c.limit.shadow);
        let took = !deny && self.known.take(tenant, checks, &enforced_known, now);
        let spend = took || (!deny && enforced_known.is_empty());
        let local_checks: Vec<Check> = from_share
            .iter()
            .map(|&i| {
                let c = self.scaled(&checks[i]);
                Check {
                    cost: if spend { c.cost } else { 0 },
                    ..c
                }
            })
            .collect();
        let local_d = self.local.check_at(tenant, &local_checks, now);
        let local_ok = local_d.iter().all(|d| d.allowed);
        if took && !local_ok {
            self.known.give_back(tenant, checks, &enforced_known);
        }
        let granted = spend && local_ok;
        let mut local_d = local_d.into_iter();
        checks
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let d = match (c.limit.on_store_error, known[i]) {
                    (
                        OnStoreError::Fallback,
                        Known::Left {
                            remaining,
                            until_ms,
                        },
                    ) => from_knowledge(c, remaining, until_ms - now, granted),
                    (OnStoreError::Fallback, Known::Unknown) => {
                        local_d.next().unwrap_or_else(|| fixed(c, true))
                    }
                    (OnStoreError::Allow, _) => fixed(c, true),
                    (OnStoreError::Deny, _) => fixed(c, false),
                };
                metrics::record_fallback(action(c.limit.on_store_error));
                Decision {
                    fallback: true,
                    ..d
                }
            })
            .collect()
    }

    /// `d` with each remaining capped at this instance's share of its check's capacity: a
    /// fallback grants at most what the shared store last said remained, and never more than
    /// the share (the other instances may be granting from the same remaining).
    fn capped(&self, checks: &[Check], d: &[Decision]) -> Vec<Decision> {
        checks
            .iter()
            .zip(d)
            .map(|(c, d)| Decision {
                remaining: d.remaining.min(self.scaled(c).limit.capacity()),
                ..*d
            })
            .collect()
    }

    fn scaled(&self, c: &Check) -> Check {
        let share = |n: u64| ((n as f64 * self.opts.share).ceil() as u64).clamp(1, n.max(1));
        let mut limit = c.limit;
        limit.quota = share(limit.quota);
        limit.burst = share(limit.burst);
        Check {
            limit,
            cost: c.cost.min(limit.capacity()),
            ..c.clone()
        }
    }
}

fn action(o: OnStoreError) -> &'static str {
    match o {
        OnStoreError::Fallback => "fallback",
        OnStoreError::Allow => "allow",
        OnStoreError::Deny => "deny",
    }
}

/// A check decided from the shared store's last known `remaining` (before this check), which
/// holds for `holds_ms` more; `consumed` when the whole decision was granted.
fn from_knowledge(c: &Check, remaining: u64, holds_ms: i64, consumed: bool) -> Decision {
    let holds_ms = holds_ms.max(0) as u64;
    let fits = remaining >= c.cost;
    let outcome = match (fits, c.limit.shadow) {
        (true, _) => Outcome::Allowed,
        (false, false) => Outcome::Limited,
        (false, true) => Outcome::ShadowLimited,
    };
    let spent = fits && consumed && !c.limit.shadow;
    Decision {
        allowed: outcome != Outcome::Limited,
        outcome,
        limit: c.limit.quota,
        remaining: if spent { remaining - c.cost } else { remaining },
        reset_after_ms: holds_ms,
        retry_after_ms: if fits { 0 } else { holds_ms.max(1) },
        fallback: true,
    }
}

/// A decision not backed by any count: allow with the full quota, or deny.
fn fixed(c: &Check, allow: bool) -> Decision {
    let denied = !allow && !c.limit.shadow;
    Decision {
        allowed: !denied,
        outcome: match (allow, c.limit.shadow) {
            (true, _) => Outcome::Allowed,
            (false, false) => Outcome::Limited,
            (false, true) => Outcome::ShadowLimited,
        },
        limit: c.limit.quota,
        remaining: if allow { c.limit.quota } else { 0 },
        reset_after_ms: 0,
        retry_after_ms: if allow { 0 } else { 1000 },
        fallback: true,
    }
}

#[async_trait::async_trait]
impl RateLimitStore for FallbackStore {
    async fn ratelimit_check(
        &self,
        tenant: &TenantId,
        checks: &[Check],
    ) -> Result<Vec<Decision>, StoreError> {
        let skip_shared =
            self.is_failing() && self.clock.now_ms() < self.retry_at_ms.load(Ordering::Relaxed);
        if !skip_shared {
            match self.try_shared(tenant, checks).await {
                Ok(d) => {
                    self.close_incident();
                    return Ok(d);
                }
                Err(e) => self.open_incident(&e),
            }
        }
        Ok(self.decide_locally(tenant, checks))
    }

    async fn ratelimit_reset(
        &self,
        tenant: &TenantId,
        policy: &str,
        key: &str,
    ) -> Result<bool, StoreError> {
        let _ = self.local.ratelimit_reset(tenant, policy, key).await;
        self.shared.ratelimit_reset(tenant, policy, key).await
    }
}

#[cfg(test)]
mod tests {
    //! The fallback bound, over real memory stores (the "shared" one is healthy here: the
    //! checks call `decide_locally` as a failing store would make them).

    use super::*;
    use crate::key::KeyPart;
    use crate::policy::{Algorithm, Policy};
    use palisade_core::ManualClock;

    fn check(quota: u64) -> Check {
        let p = Policy::new(
            "p",
            Algorithm::Gcra,
            quota,
            Duration::from_secs(3600),
            vec![KeyPart::Tenant],
        );
        Check {
            policy: p.name.clone(),
            limit: p.limit(),
            key: "k".into(),
            cost: 1,
        }
    }

    fn store(clock: &Arc<ManualClock>) -> FallbackStore {
        let shared = MemoryRateLimitStore::default().with_clock(clock.clone());
        let mut opts = FallbackOptions::for_instances(2);
        opts.deadline = Duration::from_secs(5);
        FallbackStore::new(Arc::new(shared), MemoryRateLimitStore::default(), opts)
            .with_clock(clock.clone())
    }

    fn allowed_locally(s: &FallbackStore, t: &TenantId, c: &Check, n: usize) -> usize {
        (0..n)
            .filter(|_| s.decide_locally(t, std::slice::from_ref(c))[0].allowed)
            .count()
    }

    #[tokio::test]
    async fn a_fallback_never_grants_more_than_the_last_known_remaining() {
        let clock = ManualClock::new(1_700_000_000_000);
        let s = store(&clock);
        let (t, c) = (TenantId::generate(), check(10));
        for _ in 0..8 {
            assert!(
                s.ratelimit_check(&t, std::slice::from_ref(&c))
                    .await
                    .unwrap()[0]
                    .allowed
            );
        }
        // The share would be 5; the shared store said 2 were left.
        assert_eq!(allowed_locally(&s, &t, &c, 10), 2);
    }

    #[tokio::test]
    async fn a_key_the_store_limited_gets_nothing_from_the_fallback() {
        let clock = ManualClock::new(1_700_000_000_000);
        let s = store(&clock);
        let (t, c) = (TenantId::generate(), check(3));
        for _ in 0..5 {
            s.ratelimit_check(&t, std::slice::from_ref(&c))
                .await
                .unwrap();
        }
        assert_eq!(allowed_locally(&s, &t, &c, 10), 0);
        let d = s.decide_locally(&t, std::slice::from_ref(&c))[0];
        assert!(d.fallback && d.retry_after_ms > 0, "{d:?}");
    }

    #[tokio::test]
    async fn local_grants_count_down_across_fallback_periods() {
        let clock = ManualClock::new(1_700_000_000_000);
        let s = store(&clock);
        let (t, c) = (TenantId::generate(), check(10));
        for _ in 0..6 {
            s.ratelimit_check(&t, std::slice::from_ref(&c))
                .await
                .unwrap();
        }
        assert_eq!(allowed_locally(&s, &t, &c, 3), 3);
        clock.advance(Duration::from_millis(600));
        assert_eq!(allowed_locally(&s, &t, &c, 10), 1, "4 were left in all");
    }

    #[tokio::test]
    async fn a_known_remaining_above_the_share_is_capped_at_the_share() {
        let clock = ManualClock::new(1_700_000_000_000);
        let s = store(&clock);
        let (t, c) = (TenantId::generate(), check(10));
        s.ratelimit_check(&t, std::slice::from_ref(&c))
            .await
            .unwrap();
        assert_eq!(
            allowed_locally(&s, &t, &c, 20),
            5,
            "9 were left; the share is 5"
        );
    }

    #[tokio::test]
    async fn without_knowledge_the_share_applies_and_knowledge_expires() {
        let clock = ManualClock::new(1_700_000_000_000);
        let s = store(&clock);
        let (t, c) = (TenantId::generate(), check(10));
        assert_eq!(allowed_locally(&s, &t, &c, 20), 5, "half of 10");
        let other = TenantId::generate();
        s.ratelimit_check(&other, std::slice::from_ref(&c))
            .await
            .unwrap();
        // GCRA: full again after one emission interval (1/10 h).
        clock.advance(Duration::from_secs(361));
        assert_eq!(allowed_locally(&s, &other, &c, 20), 5, "expired: the share");
    }
}
