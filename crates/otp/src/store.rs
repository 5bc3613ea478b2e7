//! The OTP store trait every backend implements; each operation is one atomic step.

use crate::hash::IdentityHash;
use crate::model::{IssueOutcome, OtpIssue, OtpVerify};
use crate::VerifyOutcome;
use palisade_core::{StoreError, TenantId};

/// Per-identity OTP state, scoped by tenant and keyed by the identity's hash.
///
/// Rules every implementation keeps (the testkit's `otp` suite checks them):
/// - `otp_issue` and `otp_verify` load the identity's state (a default one when missing),
///   decide with [`crate::issue_decide`] / [`crate::verify_decide`] on the store clock, and
///   write the result back in one atomic step: concurrent verifies of one code never both
///   succeed, and no attempt is lost.
/// - `otp_verify` of an identity never issued to is decided (and counted) like a wrong code.
/// - Time is the store's clock.
#[async_trait::async_trait]
pub trait OtpStore: Send + Sync + std::fmt::Debug {
    /// Replaces the identity's live code, unless it is locked out.
    async fn otp_issue(
        &self,
        tenant: &TenantId,
        req: &OtpIssue,
    ) -> Result<IssueOutcome, StoreError>;

    /// Decides a verify and consumes the code when it matches.
    async fn otp_verify(
        &self,
        tenant: &TenantId,
        req: &OtpVerify,
    ) -> Result<VerifyOutcome, StoreError>;

    /// Ends a lockout and clears the failures and the window ([`crate::decide::unlock_decide`]);
    /// `true` when the identity was locked.
    async fn otp_unlock(
        &self,
        tenant: &TenantId,
        identity: &IdentityHash,
    ) -> Result<bool, StoreError>;

    /// When the identity's lockout ends (ms), 0 when it has no state; a read only (it creates
    /// nothing). A store holding the hot state elsewhere (Redis) reads a lockout written
    /// through to the durable store here before deciding on an identity it has no state of.
    async fn otp_lockout(
        &self,
        tenant: &TenantId,
        identity: &IdentityHash,
    ) -> Result<i64, StoreError>;

    /// Records that the identity is locked until `until_ms` ([`crate::decide::lockout_decide`]:
    /// a later lockout already recorded stays): the write-through of a lockout decided by a
    /// store holding the hot state elsewhere, so that losing that state never ends it.
    async fn otp_lockout_record(
        &self,
        tenant: &TenantId,
        identity: &IdentityHash,
        until_ms: i64,
    ) -> Result<(), StoreError>;

    /// Deletes the state of every identity with no live code and no lockout, unchanged for
    /// `retain_ms`; how many it deleted (at most `limit`).
    async fn otp_purge(&self, retain_ms: i64, limit: u32) -> Result<u64, StoreError>;

    /// The server's hash key: the stored one, or `candidate` stored now when there is none
    /// (atomic: every instance gets the same key).
    async fn otp_key(&self, candidate: &[u8]) -> Result<Vec<u8>, StoreError>;
}
