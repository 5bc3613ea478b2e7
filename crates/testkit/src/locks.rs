//! Conformance suite of the locks stores ([`conformance!`](crate::conformance)`(locks, ..)`).

use palisade_core::{Clock, TenantId};
use palisade_locks::{
    Acquired, FencingToken, HolderId, Lease, LeaseCheck, LockAcquire, LockName, LockStore, Locks,
    MaxWait, Ttl,
};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::Time;

impl Time {
    /// A TTL that the expiry checks wait out.
    fn short(&self) -> Ttl {
        match self {
            Time::Manual(_) => Ttl::from_ms(1_000).unwrap(),
            Time::Real => Ttl::from_ms(250).unwrap(),
        }
    }

    /// Lets `ttl` pass on the store's clock.
    async fn pass(&self, ttl: Ttl) {
        match self {
            Time::Manual(c) => c.advance(ttl.as_duration()),
            Time::Real => tokio::time::sleep(ttl.as_duration() + Duration::from_millis(150)).await,
        }
    }
}

/// A TTL no check outlives.
fn long() -> Ttl {
    Ttl::from_ms(60_000).unwrap()
}

fn acq(name: &LockName, holder: &str, ttl: Ttl) -> LockAcquire {
    LockAcquire {
        name: name.clone(),
        holder: HolderId::parse(holder).unwrap(),
        ttl,
    }
}

/// A fresh lock name for one check.
fn fresh(check: &str) -> LockName {
    LockName::parse(&format!("{check}:{}", rand::random::<u32>())).unwrap()
}

async fn grant(s: &dyn LockStore, t: &TenantId, req: &LockAcquire) -> (Lease, bool) {
    match s.lock_acquire(t, req).await.unwrap() {
        Acquired::Granted {
            lease,
            took_over_expired,
        } => (lease, took_over_expired),
        Acquired::Held(l) => panic!("expected a grant to {}, held by {}", req.holder, l.holder),
    }
}

async fn held(s: &dyn LockStore, t: &TenantId, req: &LockAcquire) -> Lease {
    match s.lock_acquire(t, req).await.unwrap() {
        Acquired::Held(l) => l,
        Acquired::Granted { lease, .. } => panic!("expected held, {} was granted", lease.holder),
    }
}

/// A free lock is granted; a live lease refuses everyone (its holder too) until it expires.
pub async fn grant_and_deny(store: Arc<dyn LockStore>, time: Time) {
    let s = &*store;
    let time = &time;
    let (t, name) = (TenantId::generate(), fresh("grant"));
    assert_eq!(s.lock_inspect(&t, &name).await.unwrap(), None);
    let (a, took_over) = grant(s, &t, &acq(&name, "a", long())).await;
    assert!(!took_over);
    assert_eq!((a.name.clone(), a.holder.as_str()), (name.clone(), "a"));
    assert!(a.token > FencingToken(0));
    if let Time::Manual(c) = time {
        assert_eq!(a.expires_at_ms, c.now_ms() + long().as_ms());
    }
    assert_eq!(held(s, &t, &acq(&name, "b", long())).await, a);
    assert_eq!(
        held(s, &t, &acq(&name, "a", long())).await,
        a,
        "re-acquiring is not re-entrant"
    );
    assert_eq!(s.lock_inspect(&t, &name).await.unwrap(), Some(a.clone()));
    if let Time::Manual(c) = time {
        c.advance(Duration::from_millis(long().as_ms() as u64 - 1));
        assert_eq!(
            held(s, &t, &acq(&name, "b", long())).await,
            a,
            "live until expiry"
        );
        c.advance(Duration::from_millis(1));
        let (b, took_over) = grant(s, &t, &acq(&name, "b", long())).await;
        assert!(took_over, "the grant reports the expired lease it replaced");
        assert!(b.token > a.token);
    }
}

/// Only the holder with its token renews, to now + ttl.
pub async fn renew_is_holder_only(store: Arc<dyn LockStore>, time: Time) {
    let s = &*store;
    let time = &time;
    let (t, name) = (TenantId::generate(), fresh("renew"));
    let (a, _) = grant(s, &t, &acq(&name, "a", long())).await;
    let mut wrong_token = a.renew_req(long());
    wrong_token.token = FencingToken(a.token.0 + 1);
    assert_eq!(
        s.lock_renew(&t, &wrong_token).await.unwrap(),
        LeaseCheck::NotHolder
    );
    let mut wrong_holder = a.renew_req(long());
    wrong_holder.holder = HolderId::parse("b").unwrap();
    assert_eq!(
        s.lock_renew(&t, &wrong_holder).await.unwrap(),
        LeaseCheck::NotHolder
    );

    if let Time::Manual(c) = time {
        c.advance(Duration::from_secs(10));
    }
    let renewed = match s.lock_renew(&t, &a.renew_req(long())).await.unwrap() {
        LeaseCheck::Valid(l) => l,
        other => panic!("holder renew: {other:?}"),
    };
    assert_eq!((renewed.token, &renewed.holder), (a.token, &a.holder));
    match time {
        Time::Manual(c) => assert_eq!(renewed.expires_at_ms, c.now_ms() + long().as_ms()),
        Time::Real => assert!(renewed.expires_at_ms >= a.expires_at_ms),
    }
    let seen = s.lock_inspect(&t, &name).await.unwrap();
    assert_eq!(seen, Some(renewed), "inspect shows the renewed expiry");
}

/// Only the holder with its token releases; a released lock is granted afresh with a greater token.
pub async fn release_is_holder_only(store: Arc<dyn LockStore>, time: Time) {
    let s = &*store;
    let _ = time;
    let (t, name) = (TenantId::generate(), fresh("release"));
    let (a, _) = grant(s, &t, &acq(&name, "a", long())).await;
    let mut wrong = a.release_req();
    wrong.token = FencingToken(a.token.0.saturating_sub(1));
    assert_eq!(
        s.lock_release(&t, &wrong).await.unwrap(),
        LeaseCheck::NotHolder
    );
    let mut wrong = a.release_req();
    wrong.holder = HolderId::parse("b").unwrap();
    assert_eq!(
        s.lock_release(&t, &wrong).await.unwrap(),
        LeaseCheck::NotHolder
    );
    assert_eq!(s.lock_inspect(&t, &name).await.unwrap(), Some(a.clone()));

    assert_eq!(
        s.lock_release(&t, &a.release_req()).await.unwrap(),
        LeaseCheck::Valid(())
    );
    assert_eq!(s.lock_inspect(&t, &name).await.unwrap(), None);
    assert_eq!(
        s.lock_release(&t, &a.release_req()).await.unwrap(),
        LeaseCheck::NotHolder,
        "a second release finds no lease of the caller"
    );
    assert_eq!(
        s.lock_renew(&t, &a.renew_req(long())).await.unwrap(),
        LeaseCheck::NotHolder
    );
    let (b, took_over) = grant(s, &t, &acq(&name, "b", long())).await;
    assert!(!took_over, "a released lease is not an expiration");
    assert!(b.token > a.token);
}

/// An expired lease is neither renewed nor released; the next grant reports the takeover.
pub async fn expired_lease_cannot_be_renewed_or_released(store: Arc<dyn LockStore>, time: Time) {
    let s = &*store;
    let time = &time;
    let (t, name) = (TenantId::generate(), fresh("expired"));
    let (a, _) = grant(s, &t, &acq(&name, "a", time.short())).await;
    time.pass(time.short()).await;
    assert_eq!(s.lock_inspect(&t, &name).await.unwrap(), None);
    assert_eq!(
        s.lock_renew(&t, &a.renew_req(long())).await.unwrap(),
        LeaseCheck::Expired
    );
    assert_eq!(
        s.lock_release(&t, &a.release_req()).await.unwrap(),
        LeaseCheck::Expired
    );
    let (b, took_over) = grant(s, &t, &acq(&name, "a", long())).await;
    assert!(took_over, "the grant reports the expired lease it replaced");
    assert!(
        b.token > a.token,
        "the same holder's new grant has a new token"
    );
}

/// A holder whose lease expired and was taken over can neither renew nor release.
pub async fn stale_holder_is_fenced_out(store: Arc<dyn LockStore>, time: Time) {
    let s = &*store;
    let time = &time;
    let (t, name) = (TenantId::generate(), fresh("stale"));
    let (a, _) = grant(s, &t, &acq(&name, "a", time.short())).await;
    time.pass(time.short()).await;
    let (b, _) = grant(s, &t, &acq(&name, "b", long())).await;
    assert!(b.token > a.token, "the successor's token is greater");
    assert_eq!(
        s.lock_renew(&t, &a.renew_req(long())).await.unwrap(),
        LeaseCheck::NotHolder
    );
    assert_eq!(
        s.lock_release(&t, &a.release_req()).await.unwrap(),
        LeaseCheck::NotHolder
    );
    assert_eq!(s.lock_inspect(&t, &name).await.unwrap(), Some(b.clone()));
    // Same holder id, old token: still refused.
    let (c, _) = {
        s.lock_release(&t, &b.release_req()).await.unwrap();
        grant(s, &t, &acq(&name, "a", long())).await
    };
    assert_eq!(
        s.lock_release(&t, &a.release_req()).await.unwrap(),
        LeaseCheck::NotHolder
    );
    assert_eq!(s.lock_inspect(&t, &name).await.unwrap(), Some(c));
}

/// Fencing tokens strictly increase across releases and expiries.
pub async fn tokens_increase_across_release_and_expiry(store: Arc<dyn LockStore>, time: Time) {
    let s = &*store;
    let time = &time;
    let (t, name) = (TenantId::generate(), fresh("tokens"));
    let mut last = FencingToken(0);
    for round in 0..6 {
        let expire = round % 2 == 1;
        let ttl = if expire { time.short() } else { long() };
        let (l, _) = grant(s, &t, &acq(&name, &format!("h{round}"), ttl)).await;
        assert!(l.token > last, "round {round}: {} after {}", l.token, last);
        last = l.token;
        if expire {
            time.pass(ttl).await;
        } else {
            assert_eq!(
                s.lock_release(&t, &l.release_req()).await.unwrap(),
                LeaseCheck::Valid(())
            );
        }
    }
}

/// One lock name in two tenants is two locks.
pub async fn tenants_are_isolated(store: Arc<dyn LockStore>, time: Time) {
    let s = &*store;
    let _ = time;
    let (t1, t2, name) = (TenantId::generate(), TenantId::generate(), fresh("tenants"));
    let (a, _) = grant(s, &t1, &acq(&name, "a", long())).await;
    let (b, _) = grant(s, &t2, &acq(&name, "b", long())).await;
    assert_eq!(s.lock_inspect(&t1, &name).await.unwrap(), Some(a.clone()));
    assert_eq!(s.lock_inspect(&t2, &name).await.unwrap(), Some(b.clone()));
    assert_eq!(
        s.lock_release(&t2, &a.release_req()).await.unwrap(),
        LeaseCheck::NotHolder
    );
    assert_eq!(
        s.lock_renew(&t2, &a.renew_req(long())).await.unwrap(),
        LeaseCheck::NotHolder
    );
    assert_eq!(
        s.lock_release(&t1, &a.release_req()).await.unwrap(),
        LeaseCheck::Valid(())
    );
    assert_eq!(s.lock_inspect(&t1, &name).await.unwrap(), None);
    assert_eq!(
        s.lock_inspect(&t2, &name).await.unwrap(),
        Some(b),
        "releasing in one tenant leaves the other's lock held"
    );
}

/// A resource that remembers the highest token it accepted and refuses older ones, and
/// counts writers inside it.
#[derive(Default)]
struct FencedRecord {
    highest: Mutex<FencingToken>,
    inside: AtomicUsize,
}

impl FencedRecord {
    fn enter(&self, token: FencingToken) {
        let mut h = self.highest.lock();
        assert!(token > *h, "token {token} not above {}", *h);
        *h = token;
        let before = self.inside.fetch_add(1, Ordering::SeqCst);
        assert_eq!(before, 0, "two holders at once");
    }

    fn leave(&self) {
        self.inside.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Eight racing holders never hold the lock at once, and tokens only grow.
pub async fn racing_holders_never_overlap(store: Arc<dyn LockStore>, time: Time) {
    let s = store;
    let _ = time;
    let (t, name) = (TenantId::generate(), fresh("race"));
    let record = Arc::new(FencedRecord::default());
    let tasks = (0..8).map(|i| {
        let (s, t, record) = (s.clone(), t.clone(), record.clone());
        let req = acq(&name, &format!("w{i}"), long());
        tokio::spawn(async move {
            let mut grants = 0;
            for _ in 0..40 {
                match s.lock_acquire(&t, &req).await.unwrap() {
                    Acquired::Granted { lease, .. } => {
                        record.enter(lease.token);
                        for _ in 0..3 {
                            tokio::task::yield_now().await;
                        }
                        record.leave();
                        let r = s.lock_release(&t, &lease.release_req()).await.unwrap();
                        assert_eq!(r, LeaseCheck::Valid(()));
                        grants += 1;
                    }
                    Acquired::Held(_) => tokio::task::yield_now().await,
                }
            }
            grants
        })
    });
    let grants: usize = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("racing task"))
        .sum();
    assert!(
        grants >= 8,
        "the lock was granted {grants} times in 320 attempts"
    );
}

/// A bounded wait reports the holder on timeout and acquires after a release elsewhere.
pub async fn bounded_wait_acquires_after_release(store: Arc<dyn LockStore>, time: Time) {
    let s = store;
    let _ = time;
    let (t, name) = (TenantId::generate(), fresh("wait"));
    // Two `Locks` stand for two processes: the release does not wake the waiter locally.
    let (here, there) = (Locks::new(s.clone()), Locks::new(s));
    let a = here
        .try_acquire(&t, &acq(&name, "a", long()))
        .await
        .unwrap();
    let a = a.granted().expect("a is granted");

    let started = Instant::now();
    let wait = MaxWait::from_ms(200).unwrap();
    match there
        .acquire(&t, &acq(&name, "b", long()), wait)
        .await
        .unwrap()
    {
        Acquired::Held(l) => assert_eq!(l, a, "a timed-out wait reports the holder"),
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_millis(200));

    let waiter = {
        let (there, t, req) = (there.clone(), t.clone(), acq(&name, "b", long()));
        tokio::spawn(async move {
            let wait = MaxWait::from_ms(20_000).unwrap();
            there.acquire(&t, &req, wait).await
        })
    };
    for _ in 0..2_000 {
        if there.waiters(&t, &name) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(there.waiters(&t, &name), 1, "b is waiting");
    here.release(&t, &a.release_req()).await.unwrap();
    let b = waiter
        .await
        .unwrap()
        .unwrap()
        .granted()
        .expect("b acquires after release");
    assert_eq!(b.holder.as_str(), "b");
    assert!(b.token > a.token);
}

/// Fencing tokens stay strictly increasing when the store loses its lock state: grants and
/// releases `name` a few times, lets `lose` wipe the store's lock data (a Redis restarted
/// empty, a deleted lock row), then checks that the next grant's token is above every earlier
/// one. Call it with a fresh tenant; `time` must have moved on (≥ 1 ms) when `lose` returns,
/// as any real loss takes longer than that.
pub async fn tokens_survive_losing_lock_state<F, Fut>(
    s: &dyn LockStore,
    t: &TenantId,
    lose: F,
) -> (FencingToken, FencingToken)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let name = fresh("lost");
    let mut highest = FencingToken(0);
    for round in 0..5 {
        let (l, _) = grant(s, t, &acq(&name, &format!("h{round}"), long())).await;
        assert!(
            l.token > highest,
            "round {round}: {} after {highest}",
            l.token
        );
        highest = l.token;
        let released = s.lock_release(t, &l.release_req()).await.unwrap();
        assert_eq!(released, LeaseCheck::Valid(()));
    }
    lose().await;
    let (after, _) = grant(s, t, &acq(&name, "after-loss", long())).await;
    assert!(
        after.token > highest,
        "the token after the loss ({}) is above every earlier token ({highest})",
        after.token
    );
    (highest, after.token)
}
