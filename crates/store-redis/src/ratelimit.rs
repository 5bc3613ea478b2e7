//! Redis implementation of the ratelimit decision store: concurrent decisions batched, ONE Lua
//! script call per tenant per batch.
//!
//! The script (`ratelimit.lua`) decides every check of a request atomically, all or nothing,
//! with the same arithmetic as `palisade_ratelimit::decide_all`, and decides several such
//! requests per call, in order, each independent of the others. Concurrent calls are gathered
//! by a [`Batcher`] (no linger: a lone call goes out at once); a batch is split by tenant and
//! each tenant's decisions go out as one `EVALSHA`, all pipelined on the shared multiplexed
//! connection. One call's keys therefore share one hash tag (one Cluster slot), and Redis pays
//! its per-command cost (parsing, script setup, `TIME`, reply) once per group, not per decision.
//!
//! The script reads the Redis server's `TIME` once per call, so instances with skewed clocks
//! still share one timeline; the conformance suite therefore runs against Redis with
//! `Time::Real`. Each check's state is one hash under `prefix:rl:{tenant}:<policy>\x1f<key>`,
//! read with one `HGETALL` and expiring by itself: its field `exp` records the expiry, and a
//! write extends it (`PEXPIRE`, a window past the need) only when the state needs longer.
//! A decision whose caller stopped waiting is not sent (nor its group, if all callers left).
//! A decision, once sent, is awaited for its answer (bounded by the command deadline and the
//! breaker): the fallback deadline never abandons it ([`RateLimitStore::ratelimit_check_within`]),
//! and its time in the queue is not store slowness.

use crate::breaker::{open_error, Breaker};
use crate::{map_err, RedisStore};
use palisade_core::{SharedClock, StoreError, TenantId};
use palisade_ratelimit::{Algorithm, BatchFuture, Batcher, Check, Decision, Limit, RateLimitStore};
use redis::aio::ConnectionManager;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::oneshot;

fn script() -> &'static redis::Script {
    static S: OnceLock<redis::Script> = OnceLock::new();
    S.get_or_init(|| redis::Script::new(include_str!("ratelimit.lua")))
}

/// One decision waiting for its batch.
pub(crate) struct Pending {
    job: Job,
    /// Closed when the caller stopped waiting (e.g. the fallback deadline): a decision nobody
    /// waits for is not sent, so it consumes nothing.
    caller: oneshot::Sender<()>,
}

/// What the script needs for one decision, its keys already built by the caller.
struct Job {
    tenant: TenantId,
    now_ms: Option<i64>,
    keys: Vec<String>,
    checks: Vec<(Limit, u64)>,
}

type Answer = Result<Vec<Decision>, StoreError>;

/// The batcher of rate-limit decisions one [`RedisStore`] (and its clones) share.
pub(crate) type DecisionBatcher = Batcher<Pending, Answer>;

/// A batcher over `conn` (not over the store: the store holds the batcher).
pub(crate) fn batcher(
    conn: ConnectionManager,
    breaker: Arc<Breaker>,
    max_batch: usize,
    in_flight: usize,
) -> DecisionBatcher {
    Batcher::new(max_batch, in_flight, move |items| {
        decide_batch(conn.clone(), breaker.clone(), items)
    })
}

/// Groups `items` by (tenant, clock), runs one script call per group concurrently, and
/// answers each item from its group's reply (a failed group fails only its own decisions).
fn decide_batch(
    conn: ConnectionManager,
    breaker: Arc<Breaker>,
    items: Vec<Pending>,
) -> BatchFuture<Answer> {
    Box::pin(async move {
        if breaker.is_open() {
            return Ok(items.iter().map(|_| Err(open_error())).collect());
        }
        let (items, mut callers): (Vec<Job>, Vec<_>) =
            items.into_iter().map(|p| (p.job, Some(p.caller))).unzip();
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for (i, p) in items.iter().enumerate() {
            if callers[i].as_ref().is_none_or(|c| c.is_closed()) {
                continue;
            }
            let same = |g: &&mut Vec<usize>| {
                let f = &items[g[0]];
                f.tenant == p.tenant && f.now_ms == p.now_ms
            };
            match groups.iter_mut().find(same) {
                Some(g) => g.push(i),
                None => groups.push(vec![i]),
            }
        }
        let cmds: Vec<_> = groups
            .iter()
            .map(|g| script_cmd(g.iter().map(|&i| &items[i])))
            .collect();
        let mut waiting: Vec<Vec<oneshot::Sender<()>>> = groups
            .iter()
            .map(|g| g.iter().filter_map(|&i| callers[i].take()).collect())
            .collect();
        let calls = cmds
            .into_iter()
            .zip(waiting.iter_mut())
            .map(|(cmd, waiting)| eval_while_awaited(conn.clone(), &breaker, cmd, waiting));
        let replies = futures::future::join_all(calls).await;
        let mut answers: Vec<Answer> = items.iter().map(|_| Err(StoreError::Timeout)).collect();
        for (g, reply) in groups.iter().zip(replies) {
            answer_group(g, &items, reply, &mut answers);
        }
        Ok(answers)
    })
}

fn answer_group(
    group: &[usize],
    items: &[Job],
    reply: Result<Vec<i64>, StoreError>,
    answers: &mut [Answer],
) {
    let expected: usize = group.iter().map(|&i| items[i].checks.len() * 5).sum();
    let out = match reply {
        Ok(out) if out.len() == expected => out,
        Ok(_) => {
            let e = StoreError::Corrupt("ratelimit script reply length".into());
            return fail(group, answers, e);
        }
        Err(e) => return fail(group, answers, e),
    };
    let mut rest = out.as_slice();
    for &i in group {
        let checks = &items[i].checks;
        let (mine, tail) = rest.split_at(checks.len() * 5);
        rest = tail;
        answers[i] = checks
            .iter()
            .zip(mine.chunks(5))
            .map(|((l, _), v)| decision(l, v))
            .collect();
    }
}

/// Fails every decision of `group` with `e`.
fn fail(group: &[usize], answers: &mut [Answer], e: StoreError) {
    for &i in group {
        answers[i] = Err(e.clone());
    }
}

/// One `EVALSHA` deciding `decisions` in order, built straight into one command buffer.
fn script_cmd<'a>(decisions: impl Iterator<Item = &'a Job> + Clone) -> redis::Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    let nkeys: usize = decisions.clone().map(|p| p.keys.len()).sum();
    cmd.arg(script().get_hash()).arg(nkeys);
    for p in decisions.clone() {
        for k in &p.keys {
            cmd.arg(k.as_str());
        }
    }
    let now = decisions.clone().next().and_then(|p| p.now_ms);
    match now {
        Some(n) => cmd.arg(n),
        None => cmd.arg(""),
    };
    let mut limits: Vec<&Limit> = Vec::new();
    let checks = decisions.clone().flat_map(|p| p.checks.iter());
    for (l, _) in checks {
        if !limits.contains(&l) {
            limits.push(l);
        }
    }
    cmd.arg(limits.len());
    for l in &limits {
        cmd.arg(algo(l.algorithm))
            .arg(l.quota)
            .arg(l.window_ms)
            .arg(l.burst)
            .arg(l.block_ms)
            .arg(u8::from(l.shadow));
    }
    for p in decisions {
        cmd.arg(p.checks.len());
        for (l, cost) in &p.checks {
            let index = limits.iter().position(|x| *x == l).unwrap_or(0) + 1;
            cmd.arg(index).arg(*cost);
        }
    }
    cmd
}

/// Runs `cmd` unless every caller of its group stops waiting first (e.g. while the connection
/// is being re-established): then the command is dropped before it is sent, as an unbatched
/// call would be. A failure of the command itself goes to the breaker.
async fn eval_while_awaited(
    conn: ConnectionManager,
    breaker: &Arc<Breaker>,
    cmd: redis::Cmd,
    waiting: &mut [oneshot::Sender<()>],
) -> Result<Vec<i64>, StoreError> {
    let gone = futures::future::join_all(waiting.iter_mut().map(|c| c.closed()));
    tokio::select! {
        biased;
        r = eval(conn, cmd) => {
            if let Err(e) = &r {
                breaker.record_failure(e);
            }
            r
        }
        _ = gone => Err(StoreError::Timeout),
    }
}

/// Runs `cmd`; `NOSCRIPT` (a restarted or flushed Redis) loads the script once and retries.
async fn eval(mut conn: ConnectionManager, cmd: redis::Cmd) -> Result<Vec<i64>, StoreError> {
    match cmd.query_async(&mut conn).await {
        Err(e) if e.kind() == redis::ErrorKind::NoScriptError => {
            script()
                .prepare_invoke()
                .load_async(&mut conn)
                .await
                .map_err(map_err)?;
            cmd.query_async(&mut conn).await.map_err(map_err)
        }
        r => r.map_err(map_err),
    }
}

impl RedisStore {
    fn ratelimit_key(&self, tenant: &TenantId, policy: &str, key: &str) -> String {
        self.key("rl", tenant, &format!("{policy}\u{1f}{key}"))
    }

    /// The state key of every check, built from one prefix.
    fn ratelimit_keys(&self, tenant: &TenantId, checks: &[Check]) -> Vec<String> {
        let base = self.key("rl", tenant, "");
        checks
            .iter()
            .map(|c| {
                let mut k = String::with_capacity(base.len() + c.policy.len() + 1 + c.key.len());
                k.push_str(&base);
                k.push_str(&c.policy);
                k.push('\u{1f}');
                k.push_str(&c.key);
                k
            })
            .collect()
    }

    /// This store deciding on `clock` instead of the server's `TIME`: for tests that drive
    /// time, and single-clock deployments. Same script, same keys, same batching.
    pub fn ratelimit_on_clock(self, clock: SharedClock) -> RedisRateLimitOnClock {
        RedisRateLimitOnClock { store: self, clock }
    }

    /// Queues one decision for the next batch and waits for its answer.
    async fn ratelimit_decide(
        &self,
        tenant: &TenantId,
        checks: &[Check],
        now_ms: Option<i64>,
    ) -> Result<Vec<Decision>, StoreError> {
        let (caller, waiting) = oneshot::channel();
        let job = Job {
            tenant: tenant.clone(),
            now_ms,
            keys: self.ratelimit_keys(tenant, checks),
            checks: checks.iter().map(|c| (c.limit, c.cost)).collect(),
        };
        let pending = Pending { job, caller };
        let answer = self.ratelimit.call(pending).await;
        drop(waiting);
        answer?
    }
}

/// A [`RedisStore`] deciding rate limits on a given clock (see
/// [`RedisStore::ratelimit_on_clock`]).
#[derive(Debug, Clone)]
pub struct RedisRateLimitOnClock {
    store: RedisStore,
    clock: SharedClock,
}

#[async_trait::async_trait]
impl RateLimitStore for RedisRateLimitOnClock {
    async fn ratelimit_check(
        &self,
        tenant: &TenantId,
        checks: &[Check],
    ) -> Result<Vec<Decision>, StoreError> {
        let now = self.clock.now_ms();
        self.store.ratelimit_decide(tenant, checks, Some(now)).await
    }

    async fn ratelimit_check_within(
        &self,
        tenant: &TenantId,
        checks: &[Check],
        _deadline: Duration,
    ) -> Result<Vec<Decision>, StoreError> {
        self.ratelimit_check(tenant, checks).await
    }

    async fn ratelimit_reset(
        &self,
        tenant: &TenantId,
        policy: &str,
        key: &str,
    ) -> Result<bool, StoreError> {
        self.store.ratelimit_reset(tenant, policy, key).await
    }
}

fn algo(a: Algorithm) -> &'static str {
    match a {
        Algorithm::Gcra => "g",
        Algorithm::FixedWindow => "f",
        Algorithm::SlidingWindow => "s",
    }
}

fn decision(l: &Limit, v: &[i64]) -> Result<Decision, StoreError> {
    let v: &[i64; 5] = v.try_into().map_err(|_| corrupt_reply())?;
    Decision::from_reply(l.quota, v).ok_or_else(corrupt_reply)
}

fn corrupt_reply() -> StoreError {
    StoreError::Corrupt("ratelimit script reply".into())
}

#[async_trait::async_trait]
impl RateLimitStore for RedisStore {
    async fn ratelimit_check(
        &self,
        tenant: &TenantId,
        checks: &[Check],
    ) -> Result<Vec<Decision>, StoreError> {
        self.ratelimit_decide(tenant, checks, None).await
    }

    /// A decision that was sent is awaited for its answer (bounded by the command deadline and
    /// the breaker), never abandoned at `deadline` (see [`RateLimitStore::ratelimit_check_within`]).
    async fn ratelimit_check_within(
        &self,
        tenant: &TenantId,
        checks: &[Check],
        _deadline: Duration,
    ) -> Result<Vec<Decision>, StoreError> {
        self.ratelimit_check(tenant, checks).await
    }

    async fn ratelimit_reset(
        &self,
        tenant: &TenantId,
        policy: &str,
        key: &str,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.ratelimit_key(tenant, policy, key));
        let n: i64 = self.guard(cmd.query_async(&mut conn)).await?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RedisOptions;
    use palisade_ratelimit::{KeyPart, Policy};
    use std::time::Duration;

    fn check(quota: u64) -> Check {
        let p = Policy::new(
            "p",
            Algorithm::FixedWindow,
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

    fn pending(s: &RedisStore, t: &TenantId, c: &[Check]) -> (Pending, oneshot::Receiver<()>) {
        let (caller, waiting) = oneshot::channel();
        let job = Job {
            tenant: t.clone(),
            now_ms: None,
            keys: s.ratelimit_keys(t, c),
            checks: c.iter().map(|c| (c.limit, c.cost)).collect(),
        };
        (Pending { job, caller }, waiting)
    }

    /// One batch mixing two tenants (same policy and key names): each tenant's decisions
    /// count only against its own state, in order; an abandoned decision consumes nothing.
    #[tokio::test]
    async fn one_batch_keeps_tenants_apart_and_skips_abandoned_calls() {
        let test = "one_batch_keeps_tenants_apart";
        let Some(url) = palisade_testkit::backends::redis_or_skip(test).await else {
            return;
        };
        let mut o = RedisOptions::new(url);
        o.prefix = palisade_testkit::backends::unique("t");
        let s = RedisStore::connect(&o).await.unwrap();
        let (a, b) = (TenantId::generate(), TenantId::generate());
        let c = [check(3)];
        let (mut items, mut waiting) = (Vec::new(), Vec::new());
        for i in 0..8 {
            let t = if i % 2 == 0 { &a } else { &b };
            let (p, w) = pending(&s, t, &c);
            items.push(p);
            if i != 1 {
                waiting.push(w); // the second caller stops waiting
            }
        }
        let answers = decide_batch(s.conn(), s.breaker.clone(), items)
            .await
            .unwrap();
        let got: Vec<_> = answers
            .iter()
            .map(|r| r.as_ref().ok().map(|d| (d[0].allowed, d[0].remaining)))
            .collect();
        let a_side = [(true, 2), (true, 1), (true, 0), (false, 0)];
        let b_side = [None, Some((true, 2)), Some((true, 1)), Some((true, 0))];
        for i in 0..4 {
            assert_eq!(got[2 * i], Some(a_side[i]), "tenant a, call {i}: {got:?}");
            assert_eq!(got[2 * i + 1], b_side[i], "tenant b, call {i}: {got:?}");
        }
    }
}
