//! One-time passcodes: issue a code for an identity, verify it once, and stop brute force across IPs.
//!
//! # Guarantees
//!
//! - **Nothing readable stored.** The identity (an email, a phone number) is stored only as an
//!   HMAC-SHA256 under a server key ([`OtpKey`]), bound to its tenant; the code only as an
//!   HMAC-SHA256 of the identity hash and the code.
//! - **One live code per identity.** An issue replaces the previous code.
//! - **Single use.** A verify that matches consumes the code in the same atomic step of the
//!   store ([`OtpStore::otp_verify`]): two concurrent verifies of one code never both succeed.
//!   The hashes are compared in constant time ([`palisade_core::secret::secret_eq`]).
//! - **Per-identity limits, whatever the IP.** At most [`OtpSettings::verify_limit`] verifies
//!   per identity per [`OtpSettings::verify_window`] are decided at all; after
//!   [`OtpSettings::lockout_after`] consecutive failures (never above 100, NIST SP 800-63B) the
//!   identity is locked for [`OtpSettings::lockout_cooldown`] or until an unlock.
//! - **Progressive delay.** After [`OtpSettings::delay_after`] consecutive failures a verify
//!   sooner than [`OtpLimits::delay_ms`] after the last failure is refused uncounted
//!   ([`VerifyOutcome::Delayed`]), so even a lockout takes a documented minimum time.
//! - **No enumeration.** A verify of an identity with no code is decided, counted and answered
//!   exactly as a wrong code.
//!
//! Per-IP limits are the server's (the rate-limiting capability); this crate knows no IPs.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod decide;
mod error;
mod hash;
mod memory;
pub mod metrics;
mod model;
mod notice;
mod purge;
mod runtime;
mod settings;
mod store;

pub use decide::{
    issue_decide, lockout_decide, unlock_decide, verify_decide, OtpLimits, OtpState, VerifyOutcome,
};
pub use error::OtpError;
pub use hash::{CodeHash, IdentityHash, OtpKey};
pub use memory::MemoryOtpStore;
pub use model::{Code, CodeAlphabet, Identity, IssueOutcome, OtpIssue, OtpVerify};
pub use notice::{LockoutNotice, LockoutNotifier};
pub use purge::OtpPurge;
pub use runtime::{Issued, Otp};
pub use settings::{OtpSettings, MAX_LOCKOUT_AFTER};
pub use store::OtpStore;
