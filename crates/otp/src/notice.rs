//! [`LockoutNotifier`]: how the app hears of a lockout beyond the audit trail (the server
//! sends a signed webhook through a durable job).

use palisade_core::TenantId;
use serde::{Deserialize, Serialize};

/// A lockout as told to the app: the identity's keyed hash, never the identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockoutNotice {
    /// The tenant whose identity is locked.
    pub tenant: TenantId,
    /// The identity's keyed hash (as in the audit event and the issue answer).
    pub identity_hash: String,
    /// The consecutive failures that locked it.
    pub failures: u32,
    /// When the lockout ends unless unlocked sooner (ms since the epoch).
    pub locked_until_ms: i64,
}

/// Told of every lockout once, by the verify that caused it, before that verify answers.
#[async_trait::async_trait]
pub trait LockoutNotifier: Send + Sync + std::fmt::Debug {
    /// Hands `notice` on; a failure is the notifier's to log (the verify still answers
    /// `otp-locked`, and the audit event is recorded either way).
    async fn lockout_notify(&self, notice: LockoutNotice);
}
