//! An in-memory OTP store, for tests and single-process embedding.

use crate::decide::{
    issue_decide, lockout_decide, unlock_decide, verify_decide, OtpState, VerifyOutcome,
};
use crate::hash::IdentityHash;
use crate::model::{IssueOutcome, OtpIssue, OtpVerify};
use crate::store::OtpStore;
use palisade_core::{SharedClock, StoreError, SystemClock, TenantId};
use parking_lot::Mutex;
use std::collections::HashMap;

/// OTP state in process memory; lost on restart. Each operation holds the one mutex, so it is
/// atomic.
#[derive(Debug)]
pub struct MemoryOtpStore {
    clock: SharedClock,
    states: Mutex<HashMap<(TenantId, IdentityHash), OtpState>>,
    key: Mutex<Option<Vec<u8>>>,
}

impl Default for MemoryOtpStore {
    fn default() -> Self {
        Self::new(SystemClock::shared())
    }
}

impl MemoryOtpStore {
    /// An empty store on `clock`.
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            states: Mutex::default(),
            key: Mutex::default(),
        }
    }

    /// Runs `decide` on the identity's state (default when missing) and keeps the result.
    fn with_state<T>(
        &self,
        tenant: &TenantId,
        identity: &IdentityHash,
        decide: impl FnOnce(OtpState, i64) -> (OtpState, T),
    ) -> T {
        let now = self.clock.now_ms();
        let mut states = self.states.lock();
        let slot = states
            .entry((tenant.clone(), identity.clone()))
            .or_default();
        let (next, out) = decide(std::mem::take(slot), now);
        *slot = next;
        out
    }
}

#[async_trait::async_trait]
impl OtpStore for MemoryOtpStore {
    async fn otp_issue(
        &self,
        tenant: &TenantId,
        req: &OtpIssue,
    ) -> Result<IssueOutcome, StoreError> {
        Ok(self.with_state(tenant, &req.identity, |s, now| issue_decide(s, req, now)))
    }

    async fn otp_verify(
        &self,
        tenant: &TenantId,
        req: &OtpVerify,
    ) -> Result<VerifyOutcome, StoreError> {
        Ok(self.with_state(tenant, &req.identity, |s, now| verify_decide(s, req, now)))
    }

    async fn otp_unlock(
        &self,
        tenant: &TenantId,
        identity: &IdentityHash,
    ) -> Result<bool, StoreError> {
        let key = (tenant.clone(), identity.clone());
        let now = self.clock.now_ms();
        let mut states = self.states.lock();
        let Some(slot) = states.get_mut(&key) else {
            return Ok(false);
        };
        let (next, was) = unlock_decide(std::mem::take(slot), now);
        *slot = next;
        Ok(was)
    }

    async fn otp_lockout(
        &self,
        tenant: &TenantId,
        identity: &IdentityHash,
    ) -> Result<i64, StoreError> {
        let key = (tenant.clone(), identity.clone());
        Ok(self
            .states
            .lock()
            .get(&key)
            .map_or(0, |s| s.locked_until_ms))
    }

    async fn otp_lockout_record(
        &self,
        tenant: &TenantId,
        identity: &IdentityHash,
        until_ms: i64,
    ) -> Result<(), StoreError> {
        self.with_state(tenant, identity, |s, now| lockout_decide(s, until_ms, now));
        Ok(())
    }

    async fn otp_purge(&self, retain_ms: i64, limit: u32) -> Result<u64, StoreError> {
        let now = self.clock.now_ms();
        let mut states = self.states.lock();
        let dead: Vec<_> = states
            .iter()
            .filter(|(_, s)| purgeable(s, now, retain_ms))
            .map(|(k, _)| k.clone())
            .take(limit as usize)
            .collect();
        for k in &dead {
            states.remove(k);
        }
        Ok(dead.len() as u64)
    }

    async fn otp_key(&self, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
        Ok(self
            .key
            .lock()
            .get_or_insert_with(|| candidate.to_vec())
            .clone())
    }
}

/// True when `s` holds nothing live at `now` and has not changed for `retain_ms`.
fn purgeable(s: &OtpState, now: i64, retain_ms: i64) -> bool {
    let code_live = s.code.is_some() && s.code_expires_at_ms > now;
    !code_live && s.locked_until_ms <= now && s.updated_at_ms + retain_ms <= now
}
