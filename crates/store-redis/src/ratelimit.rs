//! Redis implementation of the ratelimit decision store: ONE Lua script per decision.
//!
//! The script (`ratelimit.lua`) decides every check of a request atomically, all or nothing,
//! with the same arithmetic as `palisade_ratelimit::decide_all`. It reads the Redis server's
//! `TIME`, so instances with skewed clocks still share one timeline; the conformance suite
//! therefore runs against Redis with `Time::Real`. Each check's state is one hash under
//! `prefix:rl:{tenant}:<policy>\x1f<key>`: all keys of a decision share the tenant's hash tag
//! (one Cluster slot). Keys expire by themselves (`PEXPIRE`) when their state stops mattering.

use crate::{map_err, RedisStore};
use palisade_core::{SharedClock, StoreError, TenantId};
use palisade_ratelimit::{Algorithm, Check, Decision, Outcome, RateLimitStore};
use std::sync::OnceLock;

fn script() -> &'static redis::Script {
    static S: OnceLock<redis::Script> = OnceLock::new();
    S.get_or_init(|| redis::Script::new(include_str!("ratelimit.lua")))
}

impl RedisStore {
    fn ratelimit_key(&self, tenant: &TenantId, policy: &str, key: &str) -> String {
        self.key("rl", tenant, &format!("{policy}\u{1f}{key}"))
    }

    /// This store deciding on `clock` instead of the server's `TIME`: for tests that drive
    /// time, and single-clock deployments. Same script, same keys.
    pub fn ratelimit_on_clock(self, clock: SharedClock) -> RedisRateLimitOnClock {
        RedisRateLimitOnClock { store: self, clock }
    }

    /// One `EVALSHA` built straight into one command buffer (redis-rs's `ScriptInvocation`
    /// allocates a `Vec` per key and argument and then copies them); `NOSCRIPT` (a restarted
    /// or flushed Redis) loads the script once and retries.
    async fn ratelimit_decide(
        &self,
        tenant: &TenantId,
        checks: &[Check],
        now_ms: Option<i64>,
    ) -> Result<Vec<Decision>, StoreError> {
        let cmd = self.ratelimit_cmd(tenant, checks, now_ms);
        let mut conn = self.conn();
        let out: Vec<i64> = match cmd.query_async(&mut conn).await {
            Err(e) if e.kind() == redis::ErrorKind::NoScriptError => {
                script()
                    .prepare_invoke()
                    .load_async(&mut conn)
                    .await
                    .map_err(map_err)?;
                cmd.query_async(&mut conn).await.map_err(map_err)?
            }
            r => r.map_err(map_err)?,
        };
        if out.len() != checks.len() * 5 {
            return Err(StoreError::Corrupt("ratelimit script reply length".into()));
        }
        checks
            .iter()
            .zip(out.chunks(5))
            .map(|(c, v)| decision(c, v))
            .collect()
    }

    fn ratelimit_cmd(
        &self,
        tenant: &TenantId,
        checks: &[Check],
        now_ms: Option<i64>,
    ) -> redis::Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(script().get_hash()).arg(checks.len());
        let mut key = self.key("rl", tenant, "");
        let base = key.len();
        for c in checks {
            key.truncate(base);
            key.push_str(&c.policy);
            key.push('\u{1f}');
            key.push_str(&c.key);
            cmd.arg(key.as_str());
        }
        cmd.arg(checks.len());
        match now_ms {
            Some(n) => cmd.arg(n),
            None => cmd.arg(""),
        };
        for c in checks {
            let l = &c.limit;
            cmd.arg(algo(l.algorithm))
                .arg(l.quota)
                .arg(l.window_ms)
                .arg(l.burst)
                .arg(l.block_ms)
                .arg(u8::from(l.shadow))
                .arg(c.cost);
        }
        cmd
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

fn decision(c: &Check, v: &[i64]) -> Result<Decision, StoreError> {
    let outcome = match v[1] {
        0 => Outcome::Allowed,
        1 => Outcome::Limited,
        2 => Outcome::ShadowLimited,
        x => return Err(StoreError::Corrupt(format!("ratelimit script outcome {x}"))),
    };
    Ok(Decision {
        allowed: v[0] == 1,
        outcome,
        limit: c.limit.quota,
        remaining: v[2].max(0) as u64,
        reset_after_ms: v[3].max(0) as u64,
        retry_after_ms: v[4].max(0) as u64,
        fallback: false,
    })
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

    async fn ratelimit_reset(
        &self,
        tenant: &TenantId,
        policy: &str,
        key: &str,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let n: i64 = redis::cmd("DEL")
            .arg(self.ratelimit_key(tenant, policy, key))
            .query_async(&mut conn)
            .await
            .map_err(map_err)?;
        Ok(n > 0)
    }
}
