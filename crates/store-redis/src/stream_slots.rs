//! Realtime stream slots in Redis: per tenant, one sorted set of every open stream's slot and
//! one per principal, scored by lease end (Redis `TIME`); a take drops lapsed slots, counts and
//! adds in one script, so concurrent takes never pass a cap. Both keys carry the tenant hash
//! tag and expire one lease after their last write.

use crate::RedisStore;
use palisade_core::StoreError;
use palisade_realtime::{Slot, SlotCaps, SlotScope, SlotTake, StreamSlotStore};
use redis::Script;
use std::sync::LazyLock;
use std::time::Duration;

/// KEYS: the tenant's set, the principal's set. ARGV: slot id, principal cap, tenant cap,
/// lease (ms). Answers `{0, 0}` (taken) or `{1|2, ms until the first lease ends}` (full:
/// principal | tenant).
static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local function first(k)
  local f = redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')
  if f[2] then return tonumber(f[2]) - now end
  return 1
end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[2]) then return {1, first(KEYS[2])} end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return {2, first(KEYS[1])} end
local lease = tonumber(ARGV[4])
for i = 1, 2 do
  redis.call('ZADD', KEYS[i], now + lease, ARGV[1])
  redis.call('PEXPIRE', KEYS[i], lease)
end
return {0, 0}
",
    )
});

/// KEYS: pairs of (tenant set, principal set). ARGV: lease (ms), then one slot id per pair.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now + lease, ARGV[1 + math.floor((i + 1) / 2)])
  redis.call('PEXPIRE', KEYS[i], lease)
end
return #KEYS
",
    )
});

impl RedisStore {
    fn slot_keys(&self, slot: &Slot) -> (String, String) {
        let all = self.key("rtslots", &slot.tenant, "all");
        let mine = self.key("rtslots", &slot.tenant, &format!("p:{}", slot.principal));
        (all, mine)
    }
}

#[async_trait::async_trait]
impl StreamSlotStore for RedisStore {
    async fn stream_slot_take(
        &self,
        slot: &Slot,
        caps: SlotCaps,
        lease: Duration,
    ) -> Result<SlotTake, StoreError> {
        let (all, mine) = self.slot_keys(slot);
        let mut c = self.conn();
        let mut call = TAKE.key(all);
        call.key(mine)
            .arg(slot.id.as_str())
            .arg(caps.per_principal)
            .arg(caps.per_tenant)
            .arg(lease.as_millis() as u64);
        let (code, ms): (i64, i64) = self.guard(call.invoke_async(&mut c)).await?;
        let retry_after_ms = ms.max(1) as u64;
        Ok(match code {
            0 => SlotTake::Taken,
            1 => SlotTake::Full {
                scope: SlotScope::Principal,
                retry_after_ms,
            },
            _ => SlotTake::Full {
                scope: SlotScope::Tenant,
                retry_after_ms,
            },
        })
    }

    async fn stream_slots_renew(&self, slots: &[Slot], lease: Duration) -> Result<(), StoreError> {
        // One script per tenant (its keys share a hash slot).
        let mut by_tenant: std::collections::HashMap<_, Vec<&Slot>> = Default::default();
        for s in slots {
            by_tenant.entry(&s.tenant).or_default().push(s);
        }
        for group in by_tenant.values() {
            let mut call = RENEW.prepare_invoke();
            call.arg(lease.as_millis() as u64);
            for s in group {
                let (all, mine) = self.slot_keys(s);
                call.key(all).key(mine).arg(s.id.as_str());
            }
            let mut c = self.conn();
            self.guard(call.invoke_async::<i64>(&mut c)).await?;
        }
        Ok(())
    }

    async fn stream_slot_release(&self, slot: &Slot) -> Result<(), StoreError> {
        let (all, mine) = self.slot_keys(slot);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("ZREM")
            .arg(all)
            .arg(slot.id.as_str())
            .ignore()
            .cmd("ZREM")
            .arg(mine)
            .arg(slot.id.as_str())
            .ignore();
        let mut c = self.conn();
        self.guard(pipe.query_async::<()>(&mut c)).await?;
        Ok(())
    }
}
