//! Concurrent callers' requests gathered into batches: one store round trip per batch.
//!
//! A [`Batcher`] queues each call and a background task drains the queue: it takes whatever
//! is waiting (never lingering for more, so a lone caller pays no added latency), runs one
//! batch, and keeps at most `in_flight` batches running. Under load calls pile up while the
//! previous batches are on the wire, so batches grow with concurrency by themselves.
//!
//! A caller that stops waiting while its call is still queued takes it out (it is never
//! sent). [`Batcher::with_run_timeout`] bounds a whole batch, so a store that hangs frees the
//! queue.
//!
//! The batch function must not own the [`Batcher`] (directly or through a store that holds
//! it): the task ends when the last [`Batcher`] handle is dropped.

use palisade_core::StoreError;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// What a batch function returns: one result per item in order, or one error for all.
pub type BatchFuture<R> = Pin<Box<dyn Future<Output = Result<Vec<R>, StoreError>> + Send>>;

type BatchFn<T, R> = dyn Fn(Vec<T>) -> BatchFuture<R> + Send + Sync;

struct Job<T, R> {
    item: T,
    reply: oneshot::Sender<Result<R, StoreError>>,
}

/// A queue that runs its items in batches (see the module documentation).
pub struct Batcher<T, R> {
    run: Arc<BatchFn<T, R>>,
    max_batch: usize,
    in_flight: usize,
    run_timeout: Option<Duration>,
    /// Started on first use, inside the caller's runtime.
    tx: OnceLock<mpsc::UnboundedSender<Job<T, R>>>,
}

impl<T, R> std::fmt::Debug for Batcher<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("max_batch", &self.max_batch)
            .field("in_flight", &self.in_flight)
            .finish()
    }
}

impl<T: Send + 'static, R: Send + 'static> Batcher<T, R> {
    /// A batcher running at most `in_flight` batches of at most `max_batch` items at a time.
    pub fn new<F>(max_batch: usize, in_flight: usize, run: F) -> Self
    where
        F: Fn(Vec<T>) -> BatchFuture<R> + Send + Sync + 'static,
    {
        Self {
            run: Arc::new(run),
            max_batch: max_batch.max(1),
            in_flight: in_flight.max(1),
            run_timeout: None,
            tx: OnceLock::new(),
        }
    }

    /// Fails a batch that runs longer than `limit` with [`StoreError::Timeout`] (its
    /// future is dropped), so a hung store cannot hold the queue forever.
    pub fn with_run_timeout(mut self, limit: Duration) -> Self {
        self.run_timeout = Some(limit);
        self
    }

    /// Runs `item` in the next batch and returns its result.
    pub async fn call(&self, item: T) -> Result<R, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.sender()
            .send(Job { item, reply })
            .map_err(|_| StoreError::Unavailable("batcher stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Backend("batch dropped before answering".into()))?
    }

    fn sender(&self) -> &mpsc::UnboundedSender<Job<T, R>> {
        self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let limits = Limits {
                max_batch: self.max_batch,
                in_flight: self.in_flight,
                run_timeout: self.run_timeout,
            };
            tokio::spawn(drain(rx, self.run.clone(), limits));
            tx
        })
    }
}

/// The drain task's bounds.
#[derive(Clone, Copy)]
struct Limits {
    max_batch: usize,
    in_flight: usize,
    run_timeout: Option<Duration>,
}

/// The background task: waits for a free slot, then takes what is queued as one batch.
/// Jobs whose caller stopped waiting are dropped unsent.
async fn drain<T: Send + 'static, R: Send + 'static>(
    mut rx: mpsc::UnboundedReceiver<Job<T, R>>,
    run: Arc<BatchFn<T, R>>,
    limits: Limits,
) {
    let slots = Arc::new(Semaphore::new(limits.in_flight));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut jobs = Vec::with_capacity(limits.max_batch);
        if rx.recv_many(&mut jobs, limits.max_batch).await == 0 {
            return;
        }
        jobs.retain(|j| !j.reply.is_closed());
        if jobs.is_empty() {
            continue;
        }
        let run = run.clone();
        tokio::spawn(async move {
            answer(jobs, &*run, limits.run_timeout).await;
            drop(slot);
        });
    }
}

async fn answer<T, R>(jobs: Vec<Job<T, R>>, run: &BatchFn<T, R>, limit: Option<Duration>) {
    let (items, replies): (Vec<T>, Vec<_>) = jobs.into_iter().map(|j| (j.item, j.reply)).unzip();
    let n = items.len();
    let result = match limit {
        Some(limit) => tokio::time::timeout(limit, run(items))
            .await
            .unwrap_or(Err(StoreError::Timeout)),
        None => run(items).await,
    };
    match result {
        Ok(results) if results.len() == n => {
            for (reply, r) in replies.into_iter().zip(results) {
                let _ = reply.send(Ok(r));
            }
        }
        Ok(_) => fail(replies, StoreError::Corrupt("batch answer length".into())),
        Err(e) => fail(replies, e),
    }
}

fn fail<R>(replies: Vec<oneshot::Sender<Result<R, StoreError>>>, e: StoreError) {
    for reply in replies {
        let _ = reply.send(Err(e.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn doubling(batches: Arc<AtomicUsize>, largest: Arc<AtomicUsize>) -> Batcher<u32, u32> {
        Batcher::new(8, 2, move |items: Vec<u32>| {
            batches.fetch_add(1, Ordering::SeqCst);
            largest.fetch_max(items.len(), Ordering::SeqCst);
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok(items.into_iter().map(|i| i * 2).collect())
            })
        })
    }

    #[tokio::test]
    async fn concurrent_calls_share_batches_and_get_their_own_answer() {
        let (batches, largest) = (Arc::default(), Arc::default());
        let b = Arc::new(doubling(Arc::clone(&batches), Arc::clone(&largest)));
        let calls: Vec<_> = (0..64u32)
            .map(|i| {
                let b = b.clone();
                tokio::spawn(async move { (i, b.call(i).await.unwrap()) })
            })
            .collect();
        for c in calls {
            let (i, r) = c.await.unwrap();
            assert_eq!(r, i * 2);
        }
        let (n, big) = (
            batches.load(Ordering::SeqCst),
            largest.load(Ordering::SeqCst),
        );
        assert!(n < 64, "64 calls ran in {n} batches");
        assert!(big > 1 && big <= 8, "largest batch {big}");
    }

    #[tokio::test]
    async fn a_call_abandoned_while_queued_is_never_sent() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let b = Arc::new(Batcher::new(4, 1, move |items: Vec<u32>| {
            log.lock().unwrap().extend(items.iter().copied());
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok(items)
            })
        }));
        let first = tokio::spawn({
            let b = b.clone();
            async move { b.call(1).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let queued = tokio::time::timeout(Duration::from_millis(10), b.call(2)).await;
        assert!(queued.is_err(), "still queued behind the first batch");
        assert_eq!(first.await.unwrap().unwrap(), 1);
        assert_eq!(b.call(3).await.unwrap(), 3);
        assert_eq!(*seen.lock().unwrap(), vec![1, 3], "2 was never sent");
    }

    #[tokio::test]
    async fn a_batch_past_its_run_timeout_fails_and_frees_the_queue() {
        let b: Batcher<u32, u32> = Batcher::new(4, 1, |items: Vec<u32>| {
            Box::pin(async move {
                if items.contains(&0) {
                    std::future::pending::<()>().await;
                }
                Ok(items)
            })
        })
        .with_run_timeout(Duration::from_millis(50));
        assert!(matches!(b.call(0).await, Err(StoreError::Timeout)));
        assert_eq!(b.call(7).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_lone_call_runs_at_once() {
        let b = doubling(Arc::default(), Arc::default());
        let r = tokio::time::timeout(Duration::from_millis(500), b.call(21)).await;
        assert_eq!(r.unwrap().unwrap(), 42);
    }

    #[tokio::test]
    async fn a_failed_batch_fails_each_of_its_calls() {
        let b: Batcher<u32, u32> = Batcher::new(4, 1, |_| {
            Box::pin(async { Err(StoreError::Unavailable("down".into())) })
        });
        let (x, y) = tokio::join!(b.call(1), b.call(2));
        assert!(matches!(x, Err(StoreError::Unavailable(_))));
        assert!(matches!(y, Err(StoreError::Unavailable(_))));
    }

    #[tokio::test]
    async fn a_short_answer_is_an_error_not_a_wrong_pairing() {
        let b: Batcher<u32, u32> = Batcher::new(4, 1, |_| Box::pin(async { Ok(vec![]) }));
        assert!(matches!(b.call(1).await, Err(StoreError::Corrupt(_))));
    }
}
