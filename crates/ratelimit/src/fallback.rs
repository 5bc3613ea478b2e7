//! Fallback: when the shared store fails or misses its deadline, decide by `on_store_error`.

use crate::decision::{Check, Decision, Outcome};
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
    /// Share of a policy's quota (and burst) one instance may grant while falling back
    /// (default 1 / expected instances).
    pub share: f64,
    /// After a failure, how long to decide locally before trying the shared store again.
    pub probe_interval: Duration,
}

impl FallbackOptions {
    /// Defaults for `expected_instances` instances: 50 ms deadline, quota ÷ instances,
    /// a probe of the shared store every 500 ms while it is failing.
    pub fn for_instances(expected_instances: u32) -> Self {
        Self {
            deadline: Duration::from_millis(50),
            share: 1.0 / f64::from(expected_instances.max(1)),
            probe_interval: Duration::from_millis(500),
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
        let r = tokio::time::timeout(
            self.opts.deadline,
            self.shared.ratelimit_check(tenant, checks),
        )
        .await;
        let (label, out) = match r {
            Ok(Ok(d)) => ("ok", Ok(d)),
            Ok(Err(e)) => ("error", Err(e)),
            Err(_) => ("timeout", Err(StoreError::Timeout)),
        };
        metrics::record_latency(metrics::SHARED_STORE_SECONDS, label, start.elapsed());
        out
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
    pub fn decide_locally(&self, tenant: &TenantId, checks: &[Check]) -> Vec<Decision> {
        let local: Vec<Check> = checks
            .iter()
            .filter(|c| c.limit.on_store_error == OnStoreError::Fallback)
            .map(|c| self.scaled(c))
            .collect();
        let deny = checks
            .iter()
            .any(|c| c.limit.on_store_error == OnStoreError::Deny && !c.limit.shadow);
        let local_checks = if deny {
            local
                .iter()
                .map(|c| Check {
                    cost: 0,
                    ..c.clone()
                })
                .collect()
        } else {
            local
        };
        let mut local_d = self
            .local
            .check_at(tenant, &local_checks, self.clock.now_ms())
            .into_iter();
        checks
            .iter()
            .map(|c| {
                let d = match c.limit.on_store_error {
                    OnStoreError::Fallback => local_d.next().unwrap_or_else(|| fixed(c, true)),
                    OnStoreError::Allow => fixed(c, true),
                    OnStoreError::Deny => fixed(c, false),
                };
                metrics::record_fallback(action(c.limit.on_store_error));
                Decision {
                    fallback: true,
                    ..d
                }
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
