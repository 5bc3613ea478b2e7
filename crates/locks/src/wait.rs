//! [`Locks`]: the store plus bounded, first-come-first-served waiting and the metrics.

use crate::error::LockError;
use crate::metrics;
use crate::model::{Acquired, Lease, LockAcquire, LockName, LockRelease, LockRenew, MaxWait};
use crate::store::LockStore;
use palisade_core::TenantId;
use parking_lot::Mutex;
use rand::Rng;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::time::Instant;

/// First delay between polls of a held lock.
const BACKOFF_START: Duration = Duration::from_millis(10);
/// Longest delay between polls of a held lock.
const BACKOFF_CAP: Duration = Duration::from_millis(100);

type Key = (TenantId, LockName);

/// The lock operations over a [`LockStore`], with waiting, the held-lock runner and metrics.
///
/// Cheap to clone; clones share the waiter queues. Use one per process so local waiters queue
/// together.
#[derive(Clone, Debug)]
pub struct Locks {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn LockStore>,
    queues: Mutex<HashMap<Key, Arc<Queue>>>,
    /// True once [`Locks::end_waits`] was called.
    ending: watch::Sender<bool>,
}

/// The local waiters of one lock: a FIFO turn (a fair semaphore) and a release signal.
#[derive(Debug)]
struct Queue {
    turn: Semaphore,
    released: Notify,
}

/// A reference to a lock's queue; removes the queue when the last waiter leaves.
struct QueueRef<'a> {
    locks: &'a Locks,
    key: Key,
    queue: Arc<Queue>,
}

impl Drop for QueueRef<'_> {
    fn drop(&mut self) {
        let mut map = self.locks.inner.queues.lock();
        // The map and this reference: no one else waits. Clones happen under the map lock.
        if Arc::strong_count(&self.queue) == 2 {
            map.remove(&self.key);
        }
    }
}

impl Locks {
    /// Lock operations over `store`.
    pub fn new(store: Arc<dyn LockStore>) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                queues: Mutex::new(HashMap::new()),
                ending: watch::Sender::new(false),
            }),
        }
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn LockStore> {
        &self.inner.store
    }

    /// One attempt: grants the lock when free, else reports the current holder.
    pub async fn try_acquire(
        &self,
        tenant: &TenantId,
        req: &LockAcquire,
    ) -> Result<Acquired, LockError> {
        let r = self.attempt(tenant, req, &mut Instant::now()).await;
        count_outcome(&r);
        r
    }

    /// Acquires, waiting up to `wait` while someone else holds the lock. Local waiters are
    /// served in arrival order; when the wait ends first, reports the current holder.
    pub async fn acquire(
        &self,
        tenant: &TenantId,
        req: &LockAcquire,
        wait: MaxWait,
    ) -> Result<Acquired, LockError> {
        self.acquire_timed(tenant, req, wait).await.0
    }

    /// [`Locks::acquire`], also telling when the last store attempt was sent: a lease it
    /// granted expires at most one TTL after that instant.
    pub(crate) async fn acquire_timed(
        &self,
        tenant: &TenantId,
        req: &LockAcquire,
        wait: MaxWait,
    ) -> (Result<Acquired, LockError>, Instant) {
        let started = Instant::now();
        let mut sent = started;
        if wait == MaxWait::ZERO {
            let r = self.attempt(tenant, req, &mut sent).await;
            count_outcome(&r);
            return (r, sent);
        }
        let deadline = started + wait.as_duration();
        let (r, contended) = self.wait_turn(tenant, req, deadline, &mut sent).await;
        count_outcome(&r);
        if contended {
            let granted = matches!(r, Ok(Acquired::Granted { .. }));
            metrics::contended_wait(started.elapsed(), granted);
        }
        (r, sent)
    }

    /// Renews the caller's lease for `req.ttl` from now.
    pub async fn renew(&self, tenant: &TenantId, req: &LockRenew) -> Result<Lease, LockError> {
        let r = self.inner.store.lock_renew(tenant, req).await;
        let r = r.map_err(LockError::from).and_then(|c| c.into_result());
        if let Err(e) = &r {
            metrics::renew_failure(match e {
                LockError::Expired => "expired",
                LockError::NotHolder => "not_holder",
                _ => "store",
            });
        }
        r
    }

    /// Releases the caller's lease and wakes the next local waiter.
    pub async fn release(&self, tenant: &TenantId, req: &LockRelease) -> Result<(), LockError> {
        self.inner
            .store
            .lock_release(tenant, req)
            .await?
            .into_result()?;
        let key = (tenant.clone(), req.name.clone());
        if let Some(q) = self.inner.queues.lock().get(&key) {
            q.released.notify_one();
        }
        Ok(())
    }

    /// The live lease of `name`, if any.
    pub async fn inspect(
        &self,
        tenant: &TenantId,
        name: &LockName,
    ) -> Result<Option<Lease>, LockError> {
        Ok(self.inner.store.lock_inspect(tenant, name).await?)
    }

    /// Ends every current and future wait of this process early: waiters stop at their next
    /// safe point (never while a store call is in flight), make one last attempt and return
    /// its result. Called at shutdown so that waiting acquires answer before the drain ends.
    pub fn end_waits(&self) {
        self.inner.ending.send_replace(true);
    }

    /// How many callers of this process are waiting for `name` in [`Locks::acquire`].
    pub fn waiters(&self, tenant: &TenantId, name: &LockName) -> usize {
        let key = (tenant.clone(), name.clone());
        self.inner
            .queues
            .lock()
            .get(&key)
            .map_or(0, |q| Arc::strong_count(q) - 1)
    }

    async fn attempt(
        &self,
        tenant: &TenantId,
        req: &LockAcquire,
        sent: &mut Instant,
    ) -> Result<Acquired, LockError> {
        *sent = Instant::now();
        let r = self.inner.store.lock_acquire(tenant, req).await?;
        if let Acquired::Granted {
            took_over_expired: true,
            ..
        } = r
        {
            metrics::lease_expired();
        }
        Ok(r)
    }

    fn queue(&self, tenant: &TenantId, name: &LockName) -> QueueRef<'_> {
        let key = (tenant.clone(), name.clone());
        let queue = self
            .inner
            .queues
            .lock()
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(Queue {
                    turn: Semaphore::new(1),
                    released: Notify::new(),
                })
            })
            .clone();
        QueueRef {
            locks: self,
            key,
            queue,
        }
    }

    /// Waits for this caller's turn among local waiters, then polls until granted or the
    /// deadline. Returns the result and whether the caller had to wait at all.
    async fn wait_turn(
        &self,
        tenant: &TenantId,
        req: &LockAcquire,
        deadline: Instant,
        sent: &mut Instant,
    ) -> (Result<Acquired, LockError>, bool) {
        let q = self.queue(tenant, &req.name);
        let mut ending = self.inner.ending.subscribe();
        let mut contended = false;
        let _turn = match q.queue.turn.try_acquire() {
            Ok(p) => p,
            Err(_) => {
                contended = true;
                let turn = tokio::select! {
                    t = tokio::time::timeout_at(deadline, q.queue.turn.acquire()) => t.ok(),
                    _ = ending.wait_for(|e| *e) => None,
                };
                match turn {
                    Some(Ok(p)) => p,
                    // Deadline or end of waits while queued (or a closed semaphore, which
                    // never happens): one last attempt reports the holder.
                    _ => return (self.attempt(tenant, req, sent).await, contended),
                }
            }
        };
        let mut backoff = BACKOFF_START;
        loop {
            let r = self.attempt(tenant, req, sent).await;
            let over = Instant::now() >= deadline || *ending.borrow();
            if !matches!(r, Ok(Acquired::Held(_))) || over {
                return (r, contended);
            }
            contended = true;
            let pause = jittered(backoff).min(deadline - Instant::now());
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = q.queue.released.notified() => {}
                _ = ending.wait_for(|e| *e) => {}
            }
            backoff = (backoff * 2).min(BACKOFF_CAP);
        }
    }
}

/// A delay uniformly drawn from `[d/2, d]`.
fn jittered(d: Duration) -> Duration {
    let ms = d.as_millis() as u64;
    Duration::from_millis(rand::rng().random_range(ms / 2..=ms))
}

fn count_outcome(r: &Result<Acquired, LockError>) {
    metrics::acquisition(match r {
        Ok(Acquired::Granted { .. }) => "granted",
        Ok(Acquired::Held(_)) => "held",
        Err(_) => "error",
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryLockStore;
    use crate::model::{HolderId, Ttl};
    use palisade_core::ManualClock;

    fn setup() -> (Locks, TenantId) {
        let store = MemoryLockStore::new(ManualClock::new(1_000_000));
        (Locks::new(Arc::new(store)), TenantId::generate())
    }

    fn req(holder: &str) -> LockAcquire {
        LockAcquire {
            name: LockName::parse("job").unwrap(),
            holder: HolderId::parse(holder).unwrap(),
            ttl: Ttl::from_ms(10_000).unwrap(),
        }
    }

    async fn until(mut f: impl FnMut() -> bool) {
        for _ in 0..2_000 {
            if f() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("condition not reached");
    }

    #[tokio::test]
    async fn waiters_are_served_in_arrival_order() {
        let (locks, t) = setup();
        let first = locks.try_acquire(&t, &req("h0")).await.unwrap();
        let mut lease = first.granted().unwrap();
        let mut tasks = Vec::new();
        for i in 1..=3 {
            let (l, t2) = (locks.clone(), t.clone());
            tasks.push(tokio::spawn(async move {
                let wait = MaxWait::from_ms(30_000).unwrap();
                l.acquire(&t2, &req(&format!("h{i}")), wait).await
            }));
            let name = req("x").name;
            until(|| locks.waiters(&t, &name) == i).await;
        }
        for (i, task) in tasks.into_iter().enumerate() {
            locks.release(&t, &lease.release_req()).await.unwrap();
            let next = task.await.unwrap().unwrap().granted().expect("granted");
            assert_eq!(next.holder.as_str(), format!("h{}", i + 1), "FIFO order");
            assert!(next.token > lease.token);
            lease = next;
        }
        assert_eq!(
            locks.waiters(&t, &lease.name),
            0,
            "queue removed when empty"
        );
    }

    #[tokio::test]
    async fn wait_ends_at_deadline_with_the_holder() {
        let (locks, t) = setup();
        let held = locks
            .try_acquire(&t, &req("a"))
            .await
            .unwrap()
            .granted()
            .unwrap();
        let started = std::time::Instant::now();
        let wait = MaxWait::from_ms(150).unwrap();
        match locks.acquire(&t, &req("b"), wait).await.unwrap() {
            Acquired::Held(l) => assert_eq!(l, held),
            other => panic!("{other:?}"),
        }
        assert!(started.elapsed() >= Duration::from_millis(150));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(locks.waiters(&t, &held.name), 0);
    }

    #[tokio::test]
    async fn end_waits_ends_current_and_later_waits_with_the_holder() {
        let (locks, t) = setup();
        locks.try_acquire(&t, &req("a")).await.unwrap();
        let wait = MaxWait::from_ms(30_000).unwrap();
        let mut tasks = Vec::new();
        for h in ["b", "c"] {
            let (l, t2) = (locks.clone(), t.clone());
            tasks.push(tokio::spawn(
                async move { l.acquire(&t2, &req(h), wait).await },
            ));
        }
        let name = req("x").name;
        until(|| locks.waiters(&t, &name) == 2).await;
        let started = std::time::Instant::now();
        locks.end_waits();
        for task in tasks {
            let r = task.await.unwrap().unwrap();
            assert!(
                matches!(r, Acquired::Held(ref l) if l.holder.as_str() == "a"),
                "{r:?}"
            );
        }
        let later = locks.acquire(&t, &req("d"), wait).await.unwrap();
        assert!(matches!(later, Acquired::Held(_)));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "waits ended early"
        );
    }

    #[tokio::test]
    async fn cancelled_waiter_leaves_the_queue() {
        let (locks, t) = setup();
        locks.try_acquire(&t, &req("a")).await.unwrap();
        let (l, t2) = (locks.clone(), t.clone());
        let task = tokio::spawn(async move {
            l.acquire(&t2, &req("b"), MaxWait::from_ms(30_000).unwrap())
                .await
        });
        let name = req("x").name;
        until(|| locks.waiters(&t, &name) == 1).await;
        task.abort();
        until(|| locks.waiters(&t, &name) == 0).await;
    }
}
