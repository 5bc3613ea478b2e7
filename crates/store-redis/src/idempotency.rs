//! Redis implementation of the idempotency store: one hash per entry, Lua scripts for every
//! check-then-act, `PEXPIREAT` for expiry.
//!
//! Time is the Redis server's `TIME` inside the scripts, so instances with skewed clocks agree
//! on lock deadlines; the store's entries therefore cannot follow a test's manual clock, and
//! expired entries vanish by themselves (the sweep deletes nothing).

use crate::RedisStore;
use palisade_core::{StoreError, TenantId};
use palisade_idempotency::row;
use palisade_idempotency::{
    BeginOutcome, EntryRef, EntryToken, EntryUpdate, IdempotencyBegin, IdempotencyComplete,
    IdempotencyStore, RecoveryPointSet, StoredResponse,
};
use redis::{Script, Value};
use std::sync::LazyLock;
use std::time::Duration;

/// KEYS[1] entry; ARGV fingerprint, token hash, lock ms, retention ms.
static BEGIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lock, ret = tonumber(ARGV[3]), tonumber(ARGV[4])
local e = redis.call('HMGET', KEYS[1], 'fp', 'st', 'lock', 'exp', 'att', 'rpn', 'rpd')
if not e[1] or tonumber(e[4]) <= now then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'tok', ARGV[2], 'att', 1, 'st', 'in_flight',
    'lock', now + lock, 'exp', now + ret)
  redis.call('PEXPIREAT', KEYS[1], now + ret)
  return {'proceed', 1}
end
if e[1] ~= ARGV[1] then return {'mismatch'} end
if e[2] == 'completed' then
  local r = redis.call('HMGET', KEYS[1], 'rs', 'rh', 'rb')
  return {'replay', r[1], r[2], r[3]}
end
local held = tonumber(e[3])
if held > now then return {'in_flight', held - now} end
local att = tonumber(e[5]) + 1
redis.call('HSET', KEYS[1], 'tok', ARGV[2], 'att', att, 'lock', now + lock, 'exp', now + ret)
redis.call('PEXPIREAT', KEYS[1], now + ret)
return {'proceed', att, e[6], e[7]}
"#,
    )
});

/// KEYS[1] entry; ARGV op (`rp` name data lock_ms | `complete` status headers body ttl_ms |
/// `abandon`), token hash, op args.
static UPDATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local e = redis.call('HMGET', KEYS[1], 'tok', 'st', 'exp')
if not e[1] or tonumber(e[3]) <= now then return 'not_found' end
if e[1] ~= ARGV[2] then return 'mismatch' end
if e[2] == 'completed' then return 'already_completed' end
if ARGV[1] == 'rp' then
  redis.call('HSET', KEYS[1], 'rpn', ARGV[3], 'rpd', ARGV[4], 'lock', now + tonumber(ARGV[5]))
elseif ARGV[1] == 'complete' then
  local exp = now + tonumber(ARGV[6])
  redis.call('HSET', KEYS[1], 'st', 'completed', 'rs', ARGV[3], 'rh', ARGV[4], 'rb', ARGV[5],
    'exp', exp)
  redis.call('HDEL', KEYS[1], 'rpn', 'rpd')
  redis.call('PEXPIREAT', KEYS[1], exp)
else
  redis.call('DEL', KEYS[1])
end
return 'applied'
"#,
    )
});

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("idempotency reply: {what}"))
}

fn bytes(v: Option<&Value>) -> Option<Vec<u8>> {
    match v? {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        Value::Int(i) => Some(i.to_string().into_bytes()),
        _ => None,
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    String::from_utf8(bytes(v)?).ok()
}

fn int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Int(i) => Some(*i),
        other => text(Some(other))?.parse().ok(),
    }
}

fn begin_outcome(reply: Value, token: EntryToken) -> Result<BeginOutcome, StoreError> {
    let Value::Array(items) = reply else {
        return Err(corrupt("not an array"));
    };
    let at = |i: usize| items.get(i);
    match text(at(0)).as_deref() {
        Some("proceed") => Ok(BeginOutcome::Proceed {
            token,
            recovery_point: row::decode_point(text(at(2)), text(at(3)))?,
            attempt: int(at(1))
                .and_then(|a| u32::try_from(a).ok())
                .ok_or_else(|| corrupt("attempt"))?,
        }),
        Some("mismatch") => Ok(BeginOutcome::Mismatch),
        Some("in_flight") => Ok(BeginOutcome::InFlight {
            lock_remaining_ms: int(at(1)).ok_or_else(|| corrupt("lock"))?,
        }),
        Some("replay") => Ok(BeginOutcome::Replay(StoredResponse {
            status: int(at(1))
                .and_then(|s| u16::try_from(s).ok())
                .ok_or_else(|| corrupt("status"))?,
            headers: serde_json::from_str(&text(at(2)).unwrap_or_else(|| "[]".into()))
                .map_err(|_| corrupt("headers"))?,
            body: bytes(at(3)).unwrap_or_default(),
        })),
        _ => Err(corrupt("unknown outcome")),
    }
}

impl RedisStore {
    fn idem_key(&self, tenant: &TenantId, principal: &str, key: &str) -> String {
        // Length-prefixed so `p:x` + `y` and `p` + `x:y` stay apart.
        self.key(
            "idem",
            tenant,
            &format!("{}:{principal}:{key}", principal.len()),
        )
    }

    async fn idem_update(
        &self,
        tenant: &TenantId,
        entry: &EntryRef,
        op: &str,
        args: &[Vec<u8>],
    ) -> Result<EntryUpdate, StoreError> {
        let mut inv = UPDATE.key(self.idem_key(tenant, &entry.principal, entry.key.as_str()));
        inv.arg(op).arg(entry.token.hash());
        for a in args {
            inv.arg(a.as_slice());
        }
        let mut c = self.conn();
        let reply: String = self.guard(inv.invoke_async(&mut c)).await?;
        match reply.as_str() {
            "applied" => Ok(EntryUpdate::Applied),
            "not_found" => Ok(EntryUpdate::NotFound),
            "mismatch" => Ok(EntryUpdate::TokenMismatch),
            "already_completed" => Ok(EntryUpdate::AlreadyCompleted),
            _ => Err(corrupt("unknown update outcome")),
        }
    }
}

#[async_trait::async_trait]
impl IdempotencyStore for RedisStore {
    async fn idempotency_begin(
        &self,
        tenant: &TenantId,
        req: &IdempotencyBegin,
    ) -> Result<BeginOutcome, StoreError> {
        let token = EntryToken::generate();
        let mut inv = BEGIN.key(self.idem_key(tenant, &req.principal, req.key.as_str()));
        inv.arg(req.fingerprint.as_str())
            .arg(token.hash())
            .arg(ms(req.lock_ttl))
            .arg(ms(req.retention));
        let mut c = self.conn();
        let reply: Value = self.guard(inv.invoke_async(&mut c)).await?;
        begin_outcome(reply, token)
    }

    async fn idempotency_recovery_point_set(
        &self,
        tenant: &TenantId,
        req: &RecoveryPointSet,
    ) -> Result<EntryUpdate, StoreError> {
        let args = [
            req.point.name.clone().into_bytes(),
            row::encode_data(&req.point).into_bytes(),
            ms(req.lock_ttl).to_string().into_bytes(),
        ];
        self.idem_update(tenant, &req.entry, "rp", &args).await
    }

    async fn idempotency_complete(
        &self,
        tenant: &TenantId,
        req: &IdempotencyComplete,
    ) -> Result<EntryUpdate, StoreError> {
        let args = [
            req.response.status.to_string().into_bytes(),
            row::encode_headers(&req.response).into_bytes(),
            req.response.body.clone(),
            ms(req.ttl).to_string().into_bytes(),
        ];
        self.idem_update(tenant, &req.entry, "complete", &args)
            .await
    }

    async fn idempotency_abandon(
        &self,
        tenant: &TenantId,
        entry: &EntryRef,
    ) -> Result<EntryUpdate, StoreError> {
        self.idem_update(tenant, entry, "abandon", &[]).await
    }

    async fn idempotency_expired_delete(&self, _limit: u32) -> Result<u64, StoreError> {
        // Entries carry PEXPIREAT: Redis deletes them itself.
        Ok(0)
    }
}
