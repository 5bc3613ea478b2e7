//! The in-process worker: leases jobs of one queue, runs their handlers with heartbeats, and
//! shuts down gracefully, handing unfinished jobs back.
//!
//! It emits the jobs metrics ([`crate::metrics`]) as the HTTP routes do: attempts started
//! (with queue latency and checkpoint resumes), completed (with run time), failed (and
//! where they led) and lease losses.

use crate::handler::{JobContext, JobHandler};
use crate::limits::LeaseGate;
use crate::metrics;
use crate::model::{Job, JobKind, QueueName, WorkerId};
use crate::params::{
    FailOutcome, JobComplete, JobFail, JobHeartbeat, JobLease, JobRelease, LeaseScope, Leased,
};
use crate::store::JobStore;
use palisade_core::TenantId;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How a [`Worker`] runs.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// The queue it serves (every tenant's jobs, fairly).
    pub queue: QueueName,
    /// Its id, recorded on the jobs it leases.
    pub id: WorkerId,
    /// Most jobs running at once.
    pub concurrency: usize,
    /// How long to sleep when the queue had nothing due.
    pub poll: Duration,
    /// Most running jobs per tenant in this queue, if capped.
    pub max_running_per_tenant: Option<u32>,
    /// Most running jobs per limit key in this queue, if capped (across every worker).
    pub max_running_per_key: Option<u32>,
    /// The rate per limit key, if the queue has one ([`JobLease::gate`]).
    pub gate: Option<Arc<dyn LeaseGate>>,
}

impl WorkerConfig {
    /// Defaults for `queue`: a random id, 8 at once, polling every 200 ms, no tenant cap.
    pub fn new(queue: QueueName) -> Self {
        let id = format!("wkr_{}", palisade_core::secret::random_token(16));
        Self {
            queue,
            id: WorkerId::parse(&id).expect("a valid worker id"),
            concurrency: 8,
            poll: Duration::from_millis(200),
            max_running_per_tenant: None,
            max_running_per_key: None,
            gate: None,
        }
    }
}

/// How an attempt run by a [`Worker`] ended, for its observer ([`Worker::observe`]): metrics,
/// logs, tests.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttemptEnd {
    /// The store completed the job.
    Completed,
    /// The store recorded the failure (retry, dead or cancelled).
    Failed,
    /// The lease was lost (rescued, or the job deleted): a heartbeat, complete or fail was
    /// refused, and the store kept the successor's state.
    LeaseLost,
    /// Shutdown gave the lease back.
    Released,
    /// The store could not be reached to report the end; the lease will expire.
    StoreError,
}

/// Called with each attempt's job and how it ended.
pub type Observer = Arc<dyn Fn(&Job, AttemptEnd) + Send + Sync>;

/// Runs handlers for one queue until shut down.
pub struct Worker {
    store: Arc<dyn JobStore>,
    config: WorkerConfig,
    handlers: HashMap<JobKind, Arc<dyn JobHandler>>,
    wake: Option<Arc<Notify>>,
    observer: Option<Observer>,
    completions: Option<mpsc::UnboundedSender<Completion>>,
}

/// A finished attempt waiting for the batch that completes it, and where its answer goes.
type Completion = (
    TenantId,
    JobComplete,
    oneshot::Sender<Result<Job, crate::JobError>>,
);

/// Most completions in one [`JobStore::job_complete_many`].
const COMPLETE_BATCH: usize = 100;

/// Completes what the attempts send, in batches: whatever arrived while the previous batch
/// ran goes in the next one, so under load a batch shares one commit and when idle a
/// completion goes alone at once. Ends when every sender is gone.
async fn complete_batches(store: Arc<dyn JobStore>, mut rx: mpsc::UnboundedReceiver<Completion>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < COMPLETE_BATCH {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        let (reqs, answers): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|(t, r, a)| ((t, r), a)).unzip();
        let done = store.job_complete_many(&reqs).await;
        for (r, a) in done.into_iter().zip(answers) {
            let _ = a.send(r); // the attempt may be gone (aborted): nothing to tell
        }
    }
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("config", &self.config)
            .finish()
    }
}

/// Stops a running [`Worker`]: no new leases, running handlers get until `deadline`, then are
/// cancelled and their leases given back.
#[derive(Clone, Debug, Default)]
pub struct Shutdown(CancellationToken);

impl Shutdown {
    /// A shutdown signal not yet fired.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fires it.
    pub fn fire(&self) {
        self.0.cancel();
    }
}

impl Worker {
    /// A worker over `store` with no handlers yet.
    pub fn new(store: Arc<dyn JobStore>, config: WorkerConfig) -> Self {
        Self {
            store,
            config,
            handlers: HashMap::new(),
            wake: None,
            observer: None,
            completions: None,
        }
    }

    /// Wakes the idle worker when `wake` is notified (e.g. by PostgreSQL's LISTEN/NOTIFY on
    /// enqueue) instead of at its next poll; polling stays the fallback.
    pub fn wake_on(mut self, wake: Arc<Notify>) -> Self {
        self.wake = Some(wake);
        self
    }

    /// Calls `observer` with every attempt's end.
    pub fn observe(mut self, observer: Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    fn ended(&self, job: &Job, end: AttemptEnd) {
        if end == AttemptEnd::LeaseLost {
            metrics::lease_lost();
        }
        if let Some(o) = &self.observer {
            o(job, end);
        }
    }

    /// Runs `handler` for jobs of `kind`.
    pub fn handle(mut self, kind: JobKind, handler: Arc<dyn JobHandler>) -> Self {
        self.handlers.insert(kind, handler);
        self
    }

    /// Leases and runs jobs until `stop` fires; then waits up to `grace` for running handlers,
    /// cancels the rest and gives their leases back so another worker takes them at once.
    pub async fn run(mut self, stop: Shutdown, grace: Duration) {
        let (tx, rx) = mpsc::unbounded_channel();
        self.completions = Some(tx);
        let completer = tokio::spawn(complete_batches(self.store.clone(), rx));
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(this.config.concurrency.max(1)));
        // Lease once half the slots are free (or none is busy, or a poll interval passed):
        // one lease fills many slots, so its cost is shared instead of paid per finished job.
        let batch = (this.config.concurrency / 2).max(1);
        let abort = CancellationToken::new();
        let mut tasks = JoinSet::new();
        while !stop.0.is_cancelled() {
            while tasks.try_join_next().is_some() {}
            let free = slots.available_permits();
            if free < batch && !tasks.is_empty() {
                // Busy: look again when an attempt ends, or lease the few free slots after a
                // poll interval (long jobs must not keep slots idle).
                let lingered = tokio::select! {
                    _ = tasks.join_next() => false,
                    _ = tokio::time::sleep(this.config.poll) => true,
                    _ = stop.0.cancelled() => false,
                };
                if !lingered || free == 0 {
                    continue;
                }
            }
            let leased = this.lease(free).await;
            let idle = leased.is_empty();
            for l in leased {
                let permit = slots.clone().acquire_owned().await.expect("never closed");
                let (w, abort) = (this.clone(), abort.child_token());
                tasks.spawn(async move {
                    w.attempt(l, abort).await;
                    drop(permit);
                });
            }
            if idle {
                this.idle(&stop).await;
            }
        }
        let drained =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            abort.cancel();
            while tasks.join_next().await.is_some() {}
        }
        drop(this); // the last sender: the completer ends once it answered the last batch
        let _ = completer.await;
    }

    /// Sleeps until the poll interval passes, a wake-up arrives or `stop` fires.
    async fn idle(&self, stop: &Shutdown) {
        let woken = async {
            match &self.wake {
                Some(w) => w.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(self.config.poll) => {}
            _ = woken => {}
            _ = stop.0.cancelled() => {}
        }
    }

    async fn lease(&self, free: usize) -> Vec<Leased> {
        let req = JobLease {
            scope: LeaseScope::AllTenants,
            queue: self.config.queue.clone(),
            worker: self.config.id.clone(),
            limit: free.min(crate::params::MAX_BATCH as usize) as u32,
            max_running_per_tenant: self.config.max_running_per_tenant,
            max_running_per_key: self.config.max_running_per_key,
            gate: self.config.gate.clone(),
        };
        let leased = self.store.job_lease(&req).await.unwrap_or_default();
        leased.iter().for_each(metrics::leased);
        leased
    }

    /// Runs one attempt with heartbeats at a third of the lease; reports its end.
    async fn attempt(&self, l: Leased, abort: CancellationToken) {
        let job = Arc::new(l.job);
        let cancel = CancellationToken::new();
        let ctx = JobContext {
            job: job.clone(),
            token: l.token,
            store: self.store.clone(),
            cancel: cancel.clone(),
        };
        let Some(handler) = self.handlers.get(&job.kind).cloned() else {
            let msg = format!("no handler for kind {}", job.kind);
            self.report(&job, l.token, Err((msg, FailOutcome::GiveUp)))
                .await;
            return;
        };
        let timeout = Duration::from_millis(job.timeout_ms.max(1) as u64);
        let run = tokio::time::timeout(timeout, handler.run(ctx.clone()));
        let beats = self.heartbeats(&ctx);
        tokio::pin!(run);
        let result = tokio::select! {
            r = &mut run => Some(r),
            _ = beats => None,
            _ = abort.cancelled() => None,
        };
        if abort.is_cancelled() && result.is_none() {
            cancel.cancel();
            let rel = JobRelease {
                id: job.id.clone(),
                token: l.token,
            };
            let end = match self.store.job_release(&job.tenant, &rel).await {
                Ok(_) => AttemptEnd::Released,
                Err(e) => Self::end_of(&e),
            };
            self.ended(&job, end);
            return;
        }
        match result {
            // the lease is lost: another attempt owns the job now
            None => self.ended(&job, AttemptEnd::LeaseLost),
            Some(Err(_elapsed)) => {
                cancel.cancel();
                let msg = "attempt timed out".to_owned();
                self.report(&job, l.token, Err((msg, FailOutcome::Backoff)))
                    .await;
            }
            Some(Ok(r)) => {
                let r = r.map_err(|e| (e.message, e.outcome));
                self.report(&job, l.token, r).await;
            }
        }
    }

    /// Renews the lease every third of its length; ends when the lease is lost. A cancel
    /// answer fires the handler's signal and keeps beating until the handler returns.
    async fn heartbeats(&self, ctx: &JobContext) {
        let every = Duration::from_millis((ctx.job.lease_ms / 3).max(10) as u64);
        loop {
            tokio::time::sleep(every).await;
            let hb = JobHeartbeat::new(ctx.job.id.clone(), ctx.token);
            match self.store.job_heartbeat(&ctx.job.tenant, &hb).await {
                Ok(a) if a.cancel_requested => ctx.cancel.cancel(),
                Ok(_) => {}
                Err(e) if e.is_lease_lost() || e.is_not_found() => {
                    ctx.cancel.cancel();
                    return;
                }
                Err(_) => {} // a store hiccup: try again at the next beat
            }
        }
    }

    fn end_of(e: &crate::JobError) -> AttemptEnd {
        if e.is_lease_lost() || e.is_not_found() {
            AttemptEnd::LeaseLost
        } else {
            AttemptEnd::StoreError
        }
    }

    /// Completes through the batching completer of [`Worker::run`] (or alone outside it).
    async fn complete(&self, tenant: &TenantId, req: JobComplete) -> Result<Job, crate::JobError> {
        if let Some(tx) = &self.completions {
            let (a, answer) = oneshot::channel();
            if tx.send((tenant.clone(), req.clone(), a)).is_ok() {
                if let Ok(r) = answer.await {
                    return r;
                }
            }
        }
        self.store.job_complete(tenant, &req).await
    }

    async fn report(&self, job: &Job, token: u64, r: Result<(), (String, FailOutcome)>) {
        let ok = if r.is_ok() {
            AttemptEnd::Completed
        } else {
            AttemptEnd::Failed
        };
        let done = match r {
            Ok(()) => {
                let req = JobComplete {
                    id: job.id.clone(),
                    token,
                };
                let done = self.complete(&job.tenant, req).await;
                done.inspect(metrics::completed)
            }
            Err((error, outcome)) => {
                let req = JobFail {
                    id: job.id.clone(),
                    token,
                    error,
                    outcome,
                };
                self.store
                    .job_fail(&job.tenant, &req)
                    .await
                    .inspect(metrics::failed)
            }
        };
        let end = done.map_or_else(|e| Self::end_of(&e), |_| ok);
        self.ended(job, end);
    }
}
