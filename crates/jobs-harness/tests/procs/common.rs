//! Test plumbing: a fresh database per test, `palisade-job-worker` processes (spawn, read
//! their lines, signal them), and waits on the store.

use palisade_core::TenantId;
use palisade_jobs::{Backoff, Job, JobEnqueue, JobId, JobKind, JobState, JobStore, QueueName};
use palisade_jobs_harness::{db, Backend, Db};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A database the test and its worker processes share.
pub struct Target {
    pub backend: Backend,
    pub url: String,
    pub schema: Option<String>,
    pub store: Arc<dyn JobStore>,
    pub db: Db,
    pub tenant: TenantId,
}

/// A fresh PostgreSQL schema, or `None` (skipped loudly) when PostgreSQL is absent outside CI.
pub async fn pg(test: &str) -> Option<Target> {
    let url = palisade_testkit::backends::postgres_or_skip(test).await?;
    let schema = palisade_testkit::backends::unique("jh");
    Some(target(Backend::Postgres, url, Some(schema)).await)
}

/// A fresh SQLite file.
pub async fn sqlite() -> Target {
    let dir = std::env::temp_dir().join(palisade_testkit::backends::unique("jh_sqlite"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("jobs.db").display());
    target(Backend::Sqlite, url, None).await
}

async fn target(backend: Backend, url: String, schema: Option<String>) -> Target {
    let o = db::open(backend, &url, schema.as_deref(), 4, true)
        .await
        .unwrap();
    Target {
        backend,
        url,
        schema,
        store: o.store,
        db: o.db,
        tenant: TenantId::generate(),
    }
}

impl Target {
    /// The store arguments of a worker command line.
    pub fn args(&self) -> Vec<String> {
        let backend = match self.backend {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        };
        let mut a = vec![
            "--backend".into(),
            backend.into(),
            "--url".into(),
            self.url.clone(),
        ];
        if let Some(s) = &self.schema {
            a.extend(["--schema".into(), s.clone()]);
        }
        a
    }

    /// Starts a worker (`work` with `extra` arguments) and waits for its ready line.
    pub fn worker(&self, extra: &[&str]) -> Proc {
        let mut args = self.args();
        args.push("work".into());
        args.extend(extra.iter().map(|s| s.to_string()));
        let p = Proc::spawn(&args);
        p.wait_line(|l| l.starts_with("ready"), Duration::from_secs(30))
            .expect("the worker never printed its ready line");
        p
    }

    /// Enqueues a job of `kind` with `payload`, the given lease, and a short fixed backoff.
    pub async fn enqueue(&self, kind: &str, payload: serde_json::Value, lease_ms: i64) -> JobId {
        let mut e = JobEnqueue::new(
            QueueName::parse("work").unwrap(),
            JobKind::parse(kind).unwrap(),
            payload,
        );
        e.lease_ms = lease_ms;
        e.backoff = Backoff {
            base_ms: 50,
            max_ms: 50,
            factor: 1.0,
            jitter: 0.0,
        };
        let done = self.store.job_enqueue(&self.tenant, e).await.unwrap();
        done.job.id
    }

    pub async fn job(&self, id: &JobId) -> Job {
        self.store.job_get(&self.tenant, id).await.unwrap().unwrap()
    }

    /// Waits (up to `within`) until `ok` holds for the job; panics with its state otherwise.
    pub async fn wait_job(&self, id: &JobId, within: Duration, ok: impl Fn(&Job) -> bool) -> Job {
        let end = Instant::now() + within;
        loop {
            let j = self.job(id).await;
            if ok(&j) {
                return j;
            }
            assert!(
                Instant::now() < end,
                "job did not get there in {within:?}: {:?} attempt {}",
                j.state,
                j.attempt
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn wait_state(&self, id: &JobId, state: JobState, within: Duration) -> Job {
        self.wait_job(id, within, |j| j.state == state).await
    }

    /// An integer the test reads from the shared database.
    pub async fn scalar(&self, sql: &str, texts: &[&str]) -> i64 {
        self.db.scalar(sql, &[], texts).await.unwrap()
    }
}

/// Now on the store's (system) clock, ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A `palisade-job-worker` child process; SIGKILLed on drop.
pub struct Proc {
    child: Child,
    lines: Receiver<String>,
}

impl Proc {
    pub fn spawn(args: &[String]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_palisade-job-worker"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn palisade-job-worker");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self { child, lines }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `sig` (`KILL`, `STOP`, `CONT`, `TERM`).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args(["-s", sig, &self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -s {sig} failed");
    }

    /// The first line (read from now on) for which `want` holds, within `within`.
    pub fn wait_line(&self, want: impl Fn(&str) -> bool, within: Duration) -> Option<String> {
        let end = Instant::now() + within;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if want(&l) => return Some(l),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Waits (up to `within`) for the process to exit; its success.
    pub fn wait_exit(&mut self, within: Duration) -> Option<bool> {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s.success());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}
