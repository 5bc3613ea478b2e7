//! Lock names, holders, TTLs, waits, fencing tokens and leases, validated at construction.

use crate::error::LockError;
use palisade_core::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Shortest lease: 100 ms.
pub const MIN_TTL: Duration = Duration::from_millis(100);
/// Longest lease: 1 hour.
pub const MAX_TTL: Duration = Duration::from_secs(3600);
/// Longest wait for a lock: 60 s.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

palisade_core::text_name!(
    /// The name of a lock, unique within a tenant (the store call supplies the tenant).
    LockName,
    "name"
);
palisade_core::text_name!(
    /// Who holds (or asks for) a lock: an opaque id chosen by the caller, e.g. a worker id.
    HolderId,
    "holder"
);

impl HolderId {
    /// A random holder id, `hld_` followed by 20 alphanumerics.
    pub fn generate() -> Self {
        Self(format!("hld_{}", palisade_core::secret::random_token(20)))
    }
}

/// A lease duration between [`MIN_TTL`] and [`MAX_TTL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ttl(Duration);

impl Ttl {
    /// Validates `d`.
    pub fn new(d: Duration) -> Result<Self, FieldError> {
        if (MIN_TTL..=MAX_TTL).contains(&d) {
            Ok(Self(Duration::from_millis(d.as_millis() as u64)))
        } else {
            Err(FieldError::new(
                "ttl_ms",
                "must be between 100 and 3600000 milliseconds (100 ms to 1 h)",
            ))
        }
    }

    /// Validates a TTL given in (possibly negative) milliseconds.
    pub fn from_ms(ms: i64) -> Result<Self, FieldError> {
        Self::new(Duration::from_millis(ms.max(0) as u64))
    }

    /// The TTL as a duration.
    pub fn as_duration(self) -> Duration {
        self.0
    }

    /// The TTL in milliseconds.
    pub fn as_ms(self) -> i64 {
        self.0.as_millis() as i64
    }
}

/// How long [`crate::Locks::acquire`] may wait for a lock: 0 (try once) to [`MAX_WAIT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MaxWait(Duration);

impl MaxWait {
    /// Do not wait: try once.
    pub const ZERO: Self = Self(Duration::ZERO);

    /// Validates `d`.
    pub fn new(d: Duration) -> Result<Self, FieldError> {
        if d <= MAX_WAIT {
            Ok(Self(d))
        } else {
            Err(Self::error())
        }
    }

    /// Validates a wait given in (possibly negative) milliseconds.
    pub fn from_ms(ms: i64) -> Result<Self, FieldError> {
        if ms < 0 {
            return Err(Self::error());
        }
        Self::new(Duration::from_millis(ms as u64))
    }

    fn error() -> FieldError {
        FieldError::new(
            "wait_ms",
            "must be between 0 and 60000 milliseconds (0 to 60 s)",
        )
    }

    /// The wait as a duration.
    pub fn as_duration(self) -> Duration {
        self.0
    }
}

/// Checks raw acquire input as a client sends it, reporting every invalid field at once.
pub fn validate(name: &str, holder: &str, ttl_ms: i64, wait_ms: i64) -> Vec<FieldError> {
    [
        LockName::parse(name).err(),
        HolderId::parse(holder).err(),
        Ttl::from_ms(ttl_ms).err(),
        MaxWait::from_ms(wait_ms).err(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A fencing token: strictly increasing across all grants of one lock name in one tenant.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct FencingToken(pub u64);

impl fmt::Display for FencingToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A granted lease as the store reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The lock.
    pub name: LockName,
    /// Its holder.
    pub holder: HolderId,
    /// The grant's fencing token.
    pub token: FencingToken,
    /// When the lease expires unless renewed, ms since the epoch on the store's clock.
    pub expires_at_ms: i64,
}

impl Lease {
    /// The request that renews this lease for `ttl`.
    pub fn renew_req(&self, ttl: Ttl) -> LockRenew {
        LockRenew {
            name: self.name.clone(),
            holder: self.holder.clone(),
            token: self.token,
            ttl,
        }
    }

    /// The request that releases this lease.
    pub fn release_req(&self) -> LockRelease {
        LockRelease {
            name: self.name.clone(),
            holder: self.holder.clone(),
            token: self.token,
        }
    }
}

/// Input of `lock_acquire`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockAcquire {
    /// The lock.
    pub name: LockName,
    /// Who asks.
    pub holder: HolderId,
    /// The lease duration.
    pub ttl: Ttl,
}

impl LockAcquire {
    /// Validates raw input, reporting every invalid field at once.
    pub fn parse(name: &str, holder: &str, ttl_ms: i64) -> Result<Self, LockError> {
        match (
            LockName::parse(name),
            HolderId::parse(holder),
            Ttl::from_ms(ttl_ms),
        ) {
            (Ok(name), Ok(holder), Ok(ttl)) => Ok(Self { name, holder, ttl }),
            (n, h, t) => Err(LockError::Invalid(
                [n.err(), h.err(), t.err()].into_iter().flatten().collect(),
            )),
        }
    }
}

/// Input of `lock_renew`: the holder's proof (holder and token) and the new TTL from now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockRenew {
    /// The lock.
    pub name: LockName,
    /// The holder that was granted the lease.
    pub holder: HolderId,
    /// The token of that grant.
    pub token: FencingToken,
    /// The new lease duration, counted from now.
    pub ttl: Ttl,
}

/// Input of `lock_release`: the holder's proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockRelease {
    /// The lock.
    pub name: LockName,
    /// The holder that was granted the lease.
    pub holder: HolderId,
    /// The token of that grant.
    pub token: FencingToken,
}

/// What `lock_acquire` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// The lock is now held by the caller.
    Granted {
        /// The new lease.
        lease: Lease,
        /// True when the grant took over a lease that had expired without being released.
        took_over_expired: bool,
    },
    /// Someone else holds a live lease (it may be the caller under an earlier grant).
    Held(Lease),
}

impl Acquired {
    /// The caller's lease when granted.
    pub fn granted(self) -> Option<Lease> {
        match self {
            Self::Granted { lease, .. } => Some(lease),
            Self::Held(_) => None,
        }
    }

    /// The lease in force: the caller's when granted, the current holder's otherwise.
    pub fn lease(&self) -> &Lease {
        match self {
            Self::Granted { lease, .. } | Self::Held(lease) => lease,
        }
    }
}

/// What a holder-only operation (renew, release) found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseCheck<T> {
    /// The caller is the current holder; the operation took effect.
    Valid(T),
    /// The caller's lease expired and no one has taken the lock since.
    Expired,
    /// The caller does not hold the lock: wrong holder or token, released, or taken over.
    NotHolder,
}

impl<T> LeaseCheck<T> {
    /// `Ok` when valid, else [`LockError::Expired`] or [`LockError::NotHolder`].
    pub fn into_result(self) -> Result<T, LockError> {
        match self {
            Self::Valid(v) => Ok(v),
            Self::Expired => Err(LockError::Expired),
            Self::NotHolder => Err(LockError::NotHolder),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_holders() {
        assert!(LockName::parse("cron:daily-report").is_ok());
        assert!(LockName::parse(&"é".repeat(200)).is_ok());
        for bad in ["", "a\nb", "\u{7}", &"x".repeat(201)] {
            assert_eq!(LockName::parse(bad).unwrap_err().field, "name", "{bad:?}");
            assert_eq!(HolderId::parse(bad).unwrap_err().field, "holder");
        }
        assert!(HolderId::generate().as_str().starts_with("hld_"));
        assert!(serde_json::from_str::<LockName>("\"a\\u0000\"").is_err());
        assert!(serde_json::from_str::<LockName>("\"ok\"").is_ok());
    }

    #[test]
    fn ttl_limits() {
        for ok in [100, 1_000, 3_600_000] {
            assert_eq!(Ttl::from_ms(ok).unwrap().as_ms(), ok);
        }
        for bad in [i64::MIN, -1, 0, 99, 3_600_001, i64::MAX] {
            let e = Ttl::from_ms(bad).unwrap_err();
            assert_eq!(e.field, "ttl_ms");
            assert!(e.message.contains("100") && e.message.contains("3600000"));
        }
    }

    #[test]
    fn wait_limits() {
        assert_eq!(MaxWait::from_ms(0).unwrap(), MaxWait::ZERO);
        assert!(MaxWait::from_ms(60_000).is_ok());
        for bad in [i64::MIN, -1, 60_001, i64::MAX] {
            let e = MaxWait::from_ms(bad).unwrap_err();
            assert_eq!(e.field, "wait_ms");
            assert!(e.message.contains("60000"));
        }
    }

    #[test]
    fn validate_reports_every_field() {
        assert!(validate("job", "w1", 1_000, 0).is_empty());
        let errs = validate("", "\u{0}", 0, -5);
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "holder", "ttl_ms", "wait_ms"]);
        match LockAcquire::parse("ok", "", 5) {
            Err(LockError::Invalid(e)) => assert_eq!(e.len(), 2),
            other => panic!("{other:?}"),
        }
        assert!(LockAcquire::parse("ok", "w", 100).is_ok());
    }

    #[test]
    fn tokens_order_and_serialize_as_numbers() {
        assert!(FencingToken(2) > FencingToken(1));
        assert_eq!(serde_json::to_string(&FencingToken(7)).unwrap(), "7");
    }
}
