//! Redis implementation of the locks store: Lua scripts over a lease key and a counter key.
//!
//! Per lock, under the tenant's hash tag (one Cluster slot):
//! - `…:{tenant}:lease:<name>`: hash `holder`, `token`, `exp`, with Redis's own expiry (`PX`),
//!   so a dead holder's lease disappears by itself;
//! - `…:{tenant}:meta:<name>`: hash, never expiring: `token` (the last token granted), and the
//!   latest grant's `holder` and `open` flag (1 until released), which tell an expired lease
//!   from a released one.
//!
//! Grant is `SET NX PX` done in Lua (grant only when no lease key exists), renew is
//! compare-and-extend, release is compare-and-delete. Expiry runs on the Redis server's clock
//! (`TIME`, `PEXPIRE`), not the caller's, so all instances agree; `expires_at_ms` is Redis time.
//! A token is `max(last token + 1, Redis TIME in microseconds)`: tokens survive Redis losing
//! its data (a restart without persistence, a crash losing the last second of `appendfsync
//! everysec`, a failover to a lagging replica), because the fresh counter starts from the
//! clock, above every earlier token — as long as the Redis clock never goes back by more than
//! the time since the lost grants (keep Redis hosts NTP-synchronised; see docs/locks.md).

use crate::RedisStore;
use palisade_core::{StoreError, TenantId};
use palisade_locks::{
    Acquired, FencingToken, HolderId, Lease, LeaseCheck, LockAcquire, LockName, LockRelease,
    LockRenew, LockStore,
};
use redis::Script;
use std::sync::LazyLock;

/// Redis time in ms plus `ttl`: the `exp` of a lease set now.
const EXP: &str = "
local function exp_at(ttl)
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ttl)
end
";

/// The next fencing token of the counter in hash `meta`: one above the counter, and never
/// below Redis's clock in microseconds, so a counter lost with Redis's data (restart without
/// persistence, failover to a lagging replica) restarts above every earlier token.
/// Microseconds since the epoch stay below 2^53 (exact in Lua's doubles) until the year 2255.
const NEXT_TOKEN: &str = "
local function next_token(meta)
  local t = redis.call('TIME')
  local floor = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local last = tonumber(redis.call('HGET', meta, 'token') or '0')
  return math.max(last + 1, floor)
end
";

/// KEYS: lease, meta. ARGV: holder, ttl_ms.
/// Returns {granted 1|0, holder, token, exp, took_over_expired 1|0}.
static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{EXP}{NEXT_TOKEN}
local cur = redis.call('HMGET', KEYS[1], 'holder', 'token', 'exp')
if cur[1] then
  return {{0, cur[1], tonumber(cur[2]), tonumber(cur[3]), 0}}
end
local took_over = 0
if redis.call('HGET', KEYS[2], 'open') == '1' then took_over = 1 end
local token = next_token(KEYS[2])
redis.call('HSET', KEYS[2], 'token', string.format('%d', token), 'holder', ARGV[1], 'open', '1')
local exp = exp_at(ARGV[2])
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'token', token, 'exp', exp)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {{1, ARGV[1], token, exp, took_over}}"
    ))
});

/// Shared by renew and release: is the caller the live lease (1), its own expired and
/// untaken grant (2), or neither (3)? KEYS: lease, meta. ARGV: holder, token.
const CHECK: &str = "
local function check()
  local cur = redis.call('HMGET', KEYS[1], 'holder', 'token')
  if cur[1] then
    if cur[1] == ARGV[1] and cur[2] == ARGV[2] then return 1 end
    return 3
  end
  local m = redis.call('HMGET', KEYS[2], 'holder', 'token', 'open')
  if m[1] == ARGV[1] and m[2] == ARGV[2] and m[3] == '1' then return 2 end
  return 3
end
";

/// KEYS: lease, meta. ARGV: holder, token, ttl_ms. Returns {check, exp}.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{EXP}{CHECK}
local c = check()
if c ~= 1 then return {{c, 0}} end
local exp = exp_at(ARGV[3])
redis.call('HSET', KEYS[1], 'exp', exp)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {{1, exp}}"
    ))
});

/// KEYS: lease, meta. ARGV: holder, token. Returns the check.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{CHECK}
local c = check()
if c == 1 then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'open', '0')
end
return c"
    ))
});

fn check<T>(code: i64, valid: impl FnOnce() -> T) -> Result<LeaseCheck<T>, StoreError> {
    match code {
        1 => Ok(LeaseCheck::Valid(valid())),
        2 => Ok(LeaseCheck::Expired),
        3 => Ok(LeaseCheck::NotHolder),
        _ => Err(StoreError::Corrupt(format!("lock script answered {code}"))),
    }
}

fn holder(s: &str) -> Result<HolderId, StoreError> {
    HolderId::parse(s).map_err(|e| StoreError::Corrupt(e.message))
}

impl RedisStore {
    fn lock_keys(&self, tenant: &TenantId, name: &LockName) -> (String, String) {
        (
            self.key("locks", tenant, &format!("lease:{name}")),
            self.key("locks", tenant, &format!("meta:{name}")),
        )
    }
}

#[async_trait::async_trait]
impl LockStore for RedisStore {
    async fn lock_acquire(
        &self,
        tenant: &TenantId,
        req: &LockAcquire,
    ) -> Result<Acquired, StoreError> {
        let (lease_key, meta_key) = self.lock_keys(tenant, &req.name);
        let mut c = self.conn();
        let mut call = ACQUIRE.key(lease_key);
        call.key(meta_key)
            .arg(req.holder.as_str())
            .arg(req.ttl.as_ms());
        let (granted, h, token, exp, took_over): (i64, String, i64, i64, i64) =
            self.guard(call.invoke_async(&mut c)).await?;
        let lease = Lease {
            name: req.name.clone(),
            holder: holder(&h)?,
            token: FencingToken(token as u64),
            expires_at_ms: exp,
        };
        Ok(if granted == 1 {
            Acquired::Granted {
                lease,
                took_over_expired: took_over == 1,
            }
        } else {
            Acquired::Held(lease)
        })
    }

    async fn lock_renew(
        &self,
        tenant: &TenantId,
        req: &LockRenew,
    ) -> Result<LeaseCheck<Lease>, StoreError> {
        let (lease_key, meta_key) = self.lock_keys(tenant, &req.name);
        let mut c = self.conn();
        let mut call = RENEW.key(lease_key);
        call.key(meta_key)
            .arg(req.holder.as_str())
            .arg(req.token.0.to_string())
            .arg(req.ttl.as_ms());
        let (code, exp): (i64, i64) = self.guard(call.invoke_async(&mut c)).await?;
        check(code, || Lease {
            name: req.name.clone(),
            holder: req.holder.clone(),
            token: req.token,
            expires_at_ms: exp,
        })
    }

    async fn lock_release(
        &self,
        tenant: &TenantId,
        req: &LockRelease,
    ) -> Result<LeaseCheck<()>, StoreError> {
        let (lease_key, meta_key) = self.lock_keys(tenant, &req.name);
        let mut c = self.conn();
        let mut call = RELEASE.key(lease_key);
        call.key(meta_key)
            .arg(req.holder.as_str())
            .arg(req.token.0.to_string());
        let code: i64 = self.guard(call.invoke_async(&mut c)).await?;
        check(code, || ())
    }

    async fn lock_inspect(
        &self,
        tenant: &TenantId,
        name: &LockName,
    ) -> Result<Option<Lease>, StoreError> {
        let (lease_key, _) = self.lock_keys(tenant, name);
        let mut c = self.conn();
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(lease_key).arg("holder").arg("token").arg("exp");
        let (h, token, exp): (Option<String>, Option<i64>, Option<i64>) =
            self.guard(cmd.query_async(&mut c)).await?;
        match (h, token, exp) {
            (Some(h), Some(token), Some(exp)) => Ok(Some(Lease {
                name: name.clone(),
                holder: holder(&h)?,
                token: FencingToken(token as u64),
                expires_at_ms: exp,
            })),
            (None, None, None) => Ok(None),
            _ => Err(StoreError::Corrupt("partial lock lease".into())),
        }
    }
}
