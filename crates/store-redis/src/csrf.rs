//! One-time CSRF tokens in Redis: one hash per token, consumed by a compare-and-delete script.
//!
//! A token is `prefix:csrf:{tenant}:<token hash>` holding its session's hash `s` and its
//! expiry `e`, with Redis's own expiry (`PX`) at the same time, so `csrf_purge` has nothing to
//! delete. A consume deletes the token only when it is the presented session's and live, in
//! one script: of concurrent consumes exactly one deletes (and so succeeds). Time is the Redis
//! server's `TIME` unless the store decides on a clock ([`RedisStore::deciding_on`]).

use crate::lua::{now_arg, NOW};
use crate::RedisStore;
use palisade_core::{StoreError, TenantId};
use palisade_csrf::{CsrfConsume, CsrfIssue, CsrfStore, TokenHash};
use redis::Script;
use std::sync::LazyLock;

/// KEYS: the token. ARGV: time, session hash, time to live (ms). Answers the expiry.
static ISSUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{NOW}
local exp = now_ms() + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 's', ARGV[2], 'e', exp)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return exp"
    ))
});

/// KEYS: the token. ARGV: time, session hash. Answers 1 when it consumed the token.
static CONSUME: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{NOW}
local t = redis.call('HMGET', KEYS[1], 's', 'e')
if t[1] ~= ARGV[2] or tonumber(t[2]) <= now_ms() then return 0 end
redis.call('DEL', KEYS[1])
return 1"
    ))
});

impl RedisStore {
    fn csrf_key(&self, tenant: &TenantId, token: &TokenHash) -> String {
        self.key("csrf", tenant, &token.0)
    }
}

#[async_trait::async_trait]
impl CsrfStore for RedisStore {
    async fn csrf_issue(&self, tenant: &TenantId, req: &CsrfIssue) -> Result<i64, StoreError> {
        let mut call = ISSUE.key(self.csrf_key(tenant, &req.token));
        call.arg(now_arg(self.clock.as_ref()))
            .arg(req.session.0.as_str())
            .arg(req.ttl_ms.max(1));
        let mut c = self.conn();
        self.guard(call.invoke_async(&mut c)).await
    }

    async fn csrf_consume(&self, tenant: &TenantId, req: &CsrfConsume) -> Result<bool, StoreError> {
        let mut call = CONSUME.key(self.csrf_key(tenant, &req.token));
        call.arg(now_arg(self.clock.as_ref()))
            .arg(req.session.0.as_str());
        let mut c = self.conn();
        let done: i64 = self.guard(call.invoke_async(&mut c)).await?;
        Ok(done == 1)
    }

    /// Tokens carry Redis's own expiry: nothing to delete.
    async fn csrf_purge(&self, _limit: u32) -> Result<u64, StoreError> {
        Ok(0)
    }
}
