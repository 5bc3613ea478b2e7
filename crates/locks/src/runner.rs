//! The held-lock runner: work runs with the lock held, renewed, and released on every exit path.

use crate::error::LockError;
use crate::model::{Acquired, FencingToken, Lease, LockAcquire, LockRelease, MaxWait, Ttl};
use crate::wait::Locks;
use futures::FutureExt;
use palisade_core::TenantId;
use parking_lot::Mutex;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What the guarded work gets: its lease, and a signal that fires when the lease is lost.
///
/// Pass [`LockContext::token`] to every resource the work writes, so a resource can refuse a
/// stale holder; stop as soon as [`LockContext::lost`] fires.
#[derive(Clone, Debug)]
pub struct LockContext {
    lease: Arc<Mutex<Lease>>,
    lost: CancellationToken,
}

impl LockContext {
    fn new(lease: Lease) -> Self {
        Self {
            lease: Arc::new(Mutex::new(lease)),
            lost: CancellationToken::new(),
        }
    }

    /// The lease's fencing token.
    pub fn token(&self) -> FencingToken {
        self.lease.lock().token
    }

    /// The lease as last granted or renewed.
    pub fn lease(&self) -> Lease {
        self.lease.lock().clone()
    }

    /// True once the lease is lost (taken over, expired, or not renewable before expiry).
    pub fn is_lost(&self) -> bool {
        self.lost.is_cancelled()
    }

    /// Completes when the lease is lost.
    pub async fn lost(&self) {
        self.lost.cancelled().await
    }

    /// The lost signal as a cancellation token, e.g. to hand to child tasks.
    pub fn lost_signal(&self) -> CancellationToken {
        self.lost.clone()
    }
}

/// The outcome of work run under a lock.
#[must_use = "check `lost`: when true, the work did not hold the lock throughout"]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locked<T> {
    /// What the work returned.
    pub value: T,
    /// The fencing token the work ran under.
    pub token: FencingToken,
    /// True when the lease was lost before the work finished.
    pub lost: bool,
}

/// Releases on drop (cancellation, panic) by spawning the release; `finish` releases inline.
struct ReleaseGuard {
    locks: Locks,
    tenant: TenantId,
    req: Option<LockRelease>,
    stop: CancellationToken,
}

impl ReleaseGuard {
    async fn finish(&mut self) {
        self.stop.cancel();
        if let Some(req) = self.req.take() {
            release_quietly(&self.locks, &self.tenant, &req).await;
        }
    }
}

impl Drop for ReleaseGuard {
    fn drop(&mut self) {
        self.stop.cancel();
        let Some(req) = self.req.take() else { return };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                let (locks, tenant) = (self.locks.clone(), self.tenant.clone());
                rt.spawn(async move { release_quietly(&locks, &tenant, &req).await });
            }
            Err(_) => tracing::warn!("lock dropped outside a runtime; it expires by its TTL"),
        }
    }
}

async fn release_quietly(locks: &Locks, tenant: &TenantId, req: &LockRelease) {
    match locks.release(tenant, req).await {
        Ok(()) | Err(LockError::NotHolder | LockError::Expired) => {}
        Err(e) => tracing::warn!(error = %e, "lock release failed; it expires by its TTL"),
    }
}

impl Locks {
    /// Runs `work` with the lock held: acquires (waiting up to `wait`), renews every third of
    /// the TTL, and releases when the work ends — returning, panicking (the panic is resumed
    /// after the release) or being dropped (the release is spawned).
    ///
    /// When the lease is lost, the work is told through [`LockContext`] and keeps running
    /// until it stops; the result then has `lost: true`. Fails with [`LockError::Held`] when
    /// the lock stays held by someone else past `wait`.
    pub async fn run<T, F, Fut>(
        &self,
        tenant: &TenantId,
        req: &LockAcquire,
        wait: MaxWait,
        work: F,
    ) -> Result<Locked<T>, LockError>
    where
        F: FnOnce(LockContext) -> Fut,
        Fut: Future<Output = T>,
    {
        let (acquired, sent) = self.acquire_timed(tenant, req, wait).await;
        let lease = match acquired? {
            Acquired::Granted { lease, .. } => lease,
            Acquired::Held(holder) => return Err(LockError::Held(Box::new(holder))),
        };
        let token = lease.token;
        let ctx = LockContext::new(lease.clone());
        let stop = CancellationToken::new();
        let mut guard = ReleaseGuard {
            locks: self.clone(),
            tenant: tenant.clone(),
            req: Some(lease.release_req()),
            stop: stop.clone(),
        };
        tokio::spawn(renew_loop(
            self.clone(),
            tenant.clone(),
            req.ttl,
            ctx.clone(),
            sent,
            stop,
        ));
        let out = AssertUnwindSafe(async { work(ctx.clone()).await })
            .catch_unwind()
            .await;
        guard.finish().await;
        match out {
            Ok(value) => Ok(Locked {
                value,
                token,
                lost: ctx.is_lost(),
            }),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// Renews every `ttl / 3`. Signals `ctx.lost` when the store says the lease is gone, or when
/// renewals keep failing until the local estimate of the expiry passes.
async fn renew_loop(
    locks: Locks,
    tenant: TenantId,
    ttl: Ttl,
    ctx: LockContext,
    granted_at: Instant,
    stop: CancellationToken,
) {
    let interval = ttl.as_duration() / 3;
    let retry = (interval / 4).max(Duration::from_millis(10));
    let mut expires = granted_at + ttl.as_duration();
    let mut next = granted_at + interval;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep_until(next) => {}
        }
        let sent = Instant::now();
        let req = ctx.lease().renew_req(ttl);
        let r = tokio::select! {
            _ = stop.cancelled() => return,
            r = locks.renew(&tenant, &req) => r,
        };
        match r {
            Ok(lease) => {
                *ctx.lease.lock() = lease;
                expires = sent + ttl.as_duration();
                next = sent + interval;
            }
            Err(e) if e.is_lease_lost() => break,
            Err(_) if Instant::now() >= expires => break,
            Err(_) => next = (Instant::now() + retry).min(expires),
        }
    }
    ctx.lost.cancel();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryLockStore;
    use crate::model::{HolderId, LockName};
    use palisade_core::{Clock, ManualClock};

    struct Fixture {
        locks: Locks,
        clock: Arc<ManualClock>,
        tenant: TenantId,
    }

    fn fixture() -> Fixture {
        let clock = ManualClock::new(1_000_000);
        let store = MemoryLockStore::new(clock.clone());
        Fixture {
            locks: Locks::new(Arc::new(store)),
            clock,
            tenant: TenantId::generate(),
        }
    }

    fn req(holder: &str, ttl_ms: i64) -> LockAcquire {
        LockAcquire {
            name: LockName::parse("report").unwrap(),
            holder: HolderId::parse(holder).unwrap(),
            ttl: Ttl::from_ms(ttl_ms).unwrap(),
        }
    }

    impl Fixture {
        async fn holder(&self) -> Option<String> {
            let name = LockName::parse("report").unwrap();
            let lease = self.locks.inspect(&self.tenant, &name).await.unwrap();
            lease.map(|l| l.holder.to_string())
        }

        /// Waits (bounded) for an effect that a spawned task produces.
        async fn until_holder(&self, want: Option<&str>) {
            for _ in 0..2_000 {
                if self.holder().await.as_deref() == want {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            panic!("holder never became {want:?}");
        }
    }

    #[tokio::test]
    async fn releases_after_success_and_returns_the_value() {
        let f = fixture();
        let out = f
            .locks
            .run(
                &f.tenant,
                &req("a", 10_000),
                MaxWait::ZERO,
                |ctx| async move {
                    assert!(!ctx.is_lost());
                    ctx.token()
                },
            )
            .await
            .unwrap();
        assert_eq!(out.value, out.token);
        assert!(!out.lost);
        assert_eq!(f.holder().await, None, "released on success");
    }

    #[tokio::test]
    async fn releases_after_error() {
        let f = fixture();
        let out = f
            .locks
            .run(&f.tenant, &req("a", 10_000), MaxWait::ZERO, |_| async {
                Err::<(), _>("failed")
            })
            .await
            .unwrap();
        assert_eq!(out.value, Err("failed"));
        assert_eq!(f.holder().await, None, "released on error");
    }

    #[tokio::test]
    async fn releases_on_panic_then_resumes_it() {
        let f = fixture();
        let (locks, tenant) = (f.locks.clone(), f.tenant.clone());
        let task = tokio::spawn(async move {
            locks
                .run(&tenant, &req("a", 10_000), MaxWait::ZERO, |_| async {
                    panic!("work panicked")
                })
                .await
        });
        assert!(task.await.unwrap_err().is_panic(), "panic propagates");
        assert_eq!(f.holder().await, None, "released before the panic resumed");
    }

    #[tokio::test]
    async fn releases_on_cancellation() {
        let f = fixture();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let (locks, tenant) = (f.locks.clone(), f.tenant.clone());
        let task = tokio::spawn(async move {
            locks
                .run(&tenant, &req("a", 10_000), MaxWait::ZERO, |_| async move {
                    started_tx.send(()).unwrap();
                    std::future::pending::<()>().await
                })
                .await
        });
        started_rx.await.unwrap();
        assert_eq!(f.holder().await.as_deref(), Some("a"));
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        f.until_holder(None).await;
    }

    #[tokio::test]
    async fn held_lock_is_reported_without_running_the_work() {
        let f = fixture();
        f.locks
            .try_acquire(&f.tenant, &req("other", 10_000))
            .await
            .unwrap();
        let r = f
            .locks
            .run(&f.tenant, &req("a", 10_000), MaxWait::ZERO, |_| async {
                panic!("must not run")
            })
            .await;
        match r {
            Err(LockError::Held(l)) => assert_eq!(l.holder.as_str(), "other"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn renews_in_the_background() {
        let f = fixture();
        let clock = f.clock.clone();
        let locks = f.locks.clone();
        let tenant = f.tenant.clone();
        let out = f
            .locks
            .run(&f.tenant, &req("a", 300), MaxWait::ZERO, |ctx| async move {
                let first = ctx.lease().expires_at_ms;
                for _ in 0..3 {
                    // 200 ms of store time per round: without renewals the lease (300 ms)
                    // would expire in the second round.
                    clock.advance(Duration::from_millis(200));
                    let want = clock.now_ms() + 300;
                    for _ in 0..2_000 {
                        if ctx.lease().expires_at_ms == want {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    assert_eq!(ctx.lease().expires_at_ms, want, "renewed");
                }
                let live = locks.inspect(&tenant, &ctx.lease().name).await.unwrap();
                assert_eq!(live.map(|l| l.token), Some(ctx.token()));
                assert!(ctx.lease().expires_at_ms > first + 300);
            })
            .await
            .unwrap();
        assert!(!out.lost);
        assert_eq!(f.holder().await, None);
    }

    #[tokio::test]
    async fn lost_lease_signals_the_work_and_spares_the_successor() {
        let f = fixture();
        let (clock, locks, tenant) = (f.clock.clone(), f.locks.clone(), f.tenant.clone());
        let out = f
            .locks
            .run(&f.tenant, &req("a", 300), MaxWait::ZERO, |ctx| async move {
                // The holder stalls: its lease expires and a successor takes the lock.
                clock.advance(Duration::from_millis(301));
                let next = locks.try_acquire(&tenant, &req("b", 10_000)).await.unwrap();
                let next = next.granted().expect("successor granted");
                assert!(next.token > ctx.token());
                tokio::time::timeout(Duration::from_secs(10), ctx.lost())
                    .await
                    .expect("lost signal fires");
                ctx.is_lost()
            })
            .await
            .unwrap();
        assert!(out.value && out.lost);
        assert_eq!(
            f.holder().await.as_deref(),
            Some("b"),
            "the stale holder's exit does not release its successor's lock"
        );
    }
}
