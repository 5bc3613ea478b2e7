//! OTP state in Redis, decided by the OTP crate's own rules and written back by compare-and-set.
//!
//! Each identity's state is one hash under `prefix:otp:{tenant}:<identity hash>` with a
//! version field `v`. An operation reads the state and the time in one script (`READ`),
//! decides with the crate's pure function ([`palisade_otp::verify_decide`] and its siblings,
//! the one source of the rules), and writes the new state with a script that applies it only
//! if the version is still the one read (`SAVE`, the Lua form of `WATCH`/`MULTI` on a
//! multiplexed connection); a lost race reads and decides again. Each operation is therefore
//! one atomic step: a decision is applied only to the state it was made on, so concurrent
//! verifies of one code never both succeed and no attempt is lost. Within a process the
//! operations on one identity queue on a striped lock first, so they do not race each other
//! (1,000 concurrent verifies of one code cost 1,000 reads and writes, not a retry storm);
//! races between instances retry with a short backoff.
//!
//! Time is the Redis server's `TIME` (read by `READ`), unless the store decides on a clock
//! ([`RedisStore::deciding_on`]). A state expires by itself (`PEXPIRE`) at the latest of its
//! code's expiry, its lockout's end and its last change plus the retention
//! ([`palisade_otp::OtpSettings::retention`], which outlasts the window and the longest
//! delay), so `otp_purge` has nothing to delete in Redis.
//!
//! What must survive Redis losing its data lives in the durable store given at
//! construction: the hash key (`otp_key`), and every lockout, written through when a verify
//! locks an identity ([`OtpStore::otp_lockout_record`]). An operation on an identity Redis has
//! no state of starts from the durable lockout ([`OtpStore::otp_lockout`]). A wipe therefore
//! never ends a lockout in force; it forgets live codes, the consecutive failures since the
//! last lockout (at most `lockout_after − 1`), the window's count and the progressive delay.

use crate::lua::{now_arg, NOW};
use crate::RedisStore;
use palisade_core::{StoreError, TenantId};
use palisade_otp::{
    issue_decide, lockout_decide, unlock_decide, verify_decide, CodeHash, IdentityHash,
    IssueOutcome, OtpIssue, OtpState, OtpStore, OtpVerify, VerifyOutcome,
};
use redis::Script;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::Mutex;

/// KEYS: the state. ARGV: time (see [`NOW`]). Answers `{now, HGETALL}`.
static READ: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{NOW}
return {{now_ms(), redis.call('HGETALL', KEYS[1])}}"
    ))
});

/// KEYS: the state. ARGV: the version read (0: none), time to live (ms), field/value pairs.
/// Writes them (and the next version) only if the version is unchanged: 1 written, 0 not.
static SAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', v + 1, unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1",
    )
});

/// Locks per process a verify of one identity queues on (by hash of its key).
const STRIPES: usize = 64;
/// Reads and writes one decision tries before answering the store is contended.
const TRIES: u32 = 20;
/// The shortest time to live of a state (ms).
const MIN_TTL_MS: i64 = 1_000;

/// OTP state in Redis over a durable store for the hash key and lockouts (see the module
/// docs); made by [`RedisStore::otp`].
#[derive(Debug, Clone)]
pub struct RedisOtp {
    redis: RedisStore,
    durable: Arc<dyn OtpStore>,
    retain_ms: i64,
    stripes: Arc<[Mutex<()>]>,
}

impl RedisStore {
    /// This store as an [`OtpStore`] keeping each identity's state at least `retention` after
    /// its last change ([`palisade_otp::OtpSettings::retention`]), with `durable` holding the
    /// hash key and every lockout.
    pub fn otp(&self, durable: Arc<dyn OtpStore>, retention: Duration) -> RedisOtp {
        RedisOtp {
            redis: self.clone(),
            durable,
            retain_ms: i64::try_from(retention.as_millis()).unwrap_or(i64::MAX / 4),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }
}

impl RedisOtp {
    /// The SHA-1 of the read and the write script, as `EVALSHA` names them (for a benchmark's
    /// raw peer: `redis-benchmark` running the same scripts). Both scripts are loaded once a
    /// call has run.
    pub fn script_hashes() -> (&'static str, &'static str) {
        (READ.get_hash(), SAVE.get_hash())
    }
}

/// A state as its hash fields (every field, so a write replaces the whole state).
fn encode(s: &OtpState) -> Vec<(&'static str, String)> {
    let code = s.code.as_ref().map_or("", |c| c.as_str()).to_owned();
    vec![
        ("c", code),
        ("ce", s.code_expires_at_ms.to_string()),
        ("ws", s.window_start_ms.to_string()),
        ("wa", s.window_attempts.to_string()),
        ("f", s.failures.to_string()),
        ("lu", s.locked_until_ms.to_string()),
        ("lf", s.last_failure_ms.to_string()),
        ("u", s.updated_at_ms.to_string()),
    ]
}

/// The state and version of a hash; `None` for no hash at all.
fn decode(h: &HashMap<String, String>) -> Result<Option<(OtpState, i64)>, StoreError> {
    if h.is_empty() {
        return Ok(None);
    }
    fn num<T: std::str::FromStr>(h: &HashMap<String, String>, f: &str) -> Result<T, StoreError> {
        let v = h.get(f).and_then(|v| v.parse().ok());
        v.ok_or_else(|| StoreError::Corrupt(format!("otp state field {f}")))
    }
    let code = h.get("c").filter(|c| !c.is_empty());
    let state = OtpState {
        code: code.map(|c| CodeHash::from_stored(c.clone())),
        code_expires_at_ms: num(h, "ce")?,
        window_start_ms: num(h, "ws")?,
        window_attempts: num(h, "wa")?,
        failures: num(h, "f")?,
        locked_until_ms: num(h, "lu")?,
        last_failure_ms: num(h, "lf")?,
        updated_at_ms: num(h, "u")?,
    };
    Ok(Some((state, num(h, "v")?)))
}

impl RedisOtp {
    fn state_key(&self, tenant: &TenantId, identity: &IdentityHash) -> String {
        self.redis.key("otp", tenant, identity.as_str())
    }

    fn stripe(&self, key: &str) -> &Mutex<()> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        &self.stripes[h.finish() as usize % self.stripes.len()]
    }

    /// The time and the stored state with its version, in one script.
    async fn read(&self, key: &str) -> Result<(i64, Option<(OtpState, i64)>), StoreError> {
        let mut call = READ.key(key);
        call.arg(now_arg(self.redis.clock.as_ref()));
        let mut c = self.redis.conn();
        let (now, h): (i64, HashMap<String, String>) =
            self.redis.guard(call.invoke_async(&mut c)).await?;
        Ok((now, decode(&h)?))
    }

    /// Writes `s` if the state is still at `version`; false when it changed meanwhile.
    async fn save(
        &self,
        key: &str,
        version: i64,
        s: &OtpState,
        now: i64,
    ) -> Result<bool, StoreError> {
        let code_end = if s.code.is_some() {
            s.code_expires_at_ms
        } else {
            0
        };
        let end = code_end
            .max(s.locked_until_ms)
            .max(s.updated_at_ms.saturating_add(self.retain_ms));
        let mut call = SAVE.key(key);
        call.arg(version).arg((end - now).max(MIN_TTL_MS));
        for (field, value) in encode(s) {
            call.arg(field).arg(value);
        }
        let mut c = self.redis.conn();
        let written: i64 = self.redis.guard(call.invoke_async(&mut c)).await?;
        Ok(written == 1)
    }

    /// The state of an identity Redis has none of: its durable lockout, if any.
    async fn seed(
        &self,
        tenant: &TenantId,
        identity: &IdentityHash,
    ) -> Result<OtpState, StoreError> {
        let locked_until_ms = self.durable.otp_lockout(tenant, identity).await?;
        Ok(OtpState {
            locked_until_ms,
            ..OtpState::default()
        })
    }

    /// Reads the identity's state (seeded from the durable lockout when Redis has none),
    /// decides with `decide`, and writes the result only onto the state it was decided on;
    /// a lost race decides again. An unchanged stored state is not written.
    async fn decide<T>(
        &self,
        tenant: &TenantId,
        identity: &IdentityHash,
        decide: impl Fn(OtpState, i64) -> (OtpState, T) + Send,
    ) -> Result<T, StoreError>
    where
        T: Send,
    {
        let key = self.state_key(tenant, identity);
        let _turn = self.stripe(&key).lock().await;
        for attempt in 0..TRIES {
            let (now, stored) = self.read(&key).await?;
            let (state, version) = match stored {
                Some(found) => found,
                None => (self.seed(tenant, identity).await?, 0),
            };
            let before = encode(&state);
            let (next, out) = decide(state, now);
            if version > 0 && encode(&next) == before {
                return Ok(out);
            }
            if self.save(&key, version, &next, now).await? {
                return Ok(out);
            }
            tokio::time::sleep(Duration::from_millis(1 << attempt.min(5))).await;
        }
        Err(StoreError::Unavailable(
            "otp state changed concurrently on every try".into(),
        ))
    }
}

#[async_trait::async_trait]
impl OtpStore for RedisOtp {
    async fn otp_issue(
        &self,
        tenant: &TenantId,
        req: &OtpIssue,
    ) -> Result<IssueOutcome, StoreError> {
        self.decide(tenant, &req.identity, |s, now| issue_decide(s, req, now))
            .await
    }

    /// A verify that locks the identity writes the lockout through to the durable store before
    /// it answers (an error there fails the call; the lockout already holds in Redis).
    async fn otp_verify(
        &self,
        tenant: &TenantId,
        req: &OtpVerify,
    ) -> Result<VerifyOutcome, StoreError> {
        let out = self
            .decide(tenant, &req.identity, |s, now| verify_decide(s, req, now))
            .await?;
        if let VerifyOutcome::Locked {
            until_ms,
            now: true,
        } = out
        {
            self.durable
                .otp_lockout_record(tenant, &req.identity, until_ms)
                .await?;
        }
        Ok(out)
    }

    /// Ends the durable lockout first, then Redis's (writing an unlocked state even when
    /// Redis had none, so a decision seeded from the durable lockout before the unlock loses
    /// its race and decides again).
    async fn otp_unlock(
        &self,
        tenant: &TenantId,
        identity: &IdentityHash,
    ) -> Result<bool, StoreError> {
        let durable = self.durable.otp_unlock(tenant, identity).await?;
        let hot = self.decide(tenant, identity, unlock_decide).await?;
        Ok(durable || hot)
    }

    async fn otp_lockout(
        &self,
        tenant: &TenantId,
        identity: &IdentityHash,
    ) -> Result<i64, StoreError> {
        let (_, stored) = self.read(&self.state_key(tenant, identity)).await?;
        match stored {
            Some((s, _)) => Ok(s.locked_until_ms),
            None => self.durable.otp_lockout(tenant, identity).await,
        }
    }

    async fn otp_lockout_record(
        &self,
        tenant: &TenantId,
        identity: &IdentityHash,
        until_ms: i64,
    ) -> Result<(), StoreError> {
        self.decide(tenant, identity, |s, now| lockout_decide(s, until_ms, now))
            .await?;
        self.durable
            .otp_lockout_record(tenant, identity, until_ms)
            .await
    }

    /// Redis state expires by itself: this purges the durable store (its lockout records).
    async fn otp_purge(&self, retain_ms: i64, limit: u32) -> Result<u64, StoreError> {
        self.durable.otp_purge(retain_ms, limit).await
    }

    /// The durable store's key: a wiped Redis never changes identity hashes.
    async fn otp_key(&self, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.durable.otp_key(candidate).await
    }
}
