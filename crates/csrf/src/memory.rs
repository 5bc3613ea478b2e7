//! An in-memory CSRF token store, for tests and single-process embedding.

use crate::model::{CsrfConsume, CsrfIssue, SessionHash, TokenHash};
use crate::store::CsrfStore;
use palisade_core::{SharedClock, StoreError, SystemClock, TenantId};
use parking_lot::Mutex;
use std::collections::HashMap;

/// Tokens in process memory; lost on restart. Each operation holds the one mutex.
#[derive(Debug)]
pub struct MemoryCsrfStore {
    clock: SharedClock,
    tokens: Mutex<HashMap<(TenantId, TokenHash), (SessionHash, i64)>>,
}

impl Default for MemoryCsrfStore {
    fn default() -> Self {
        Self::new(SystemClock::shared())
    }
}

impl MemoryCsrfStore {
    /// An empty store on `clock`.
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            tokens: Mutex::default(),
        }
    }
}

#[async_trait::async_trait]
impl CsrfStore for MemoryCsrfStore {
    async fn csrf_issue(&self, tenant: &TenantId, req: &CsrfIssue) -> Result<i64, StoreError> {
        let expires = self.clock.now_ms() + req.ttl_ms;
        let key = (tenant.clone(), req.token.clone());
        self.tokens
            .lock()
            .insert(key, (req.session.clone(), expires));
        Ok(expires)
    }

    async fn csrf_consume(&self, tenant: &TenantId, req: &CsrfConsume) -> Result<bool, StoreError> {
        let now = self.clock.now_ms();
        let key = (tenant.clone(), req.token.clone());
        let mut tokens = self.tokens.lock();
        let live = matches!(tokens.get(&key), Some((s, exp)) if *s == req.session && *exp > now);
        if live {
            tokens.remove(&key);
        }
        Ok(live)
    }

    async fn csrf_purge(&self, limit: u32) -> Result<u64, StoreError> {
        let now = self.clock.now_ms();
        let mut tokens = self.tokens.lock();
        let dead: Vec<_> = tokens
            .iter()
            .filter(|(_, (_, exp))| *exp <= now)
            .map(|(k, _)| k.clone())
            .take(limit as usize)
            .collect();
        for k in &dead {
            tokens.remove(k);
        }
        Ok(dead.len() as u64)
    }
}
