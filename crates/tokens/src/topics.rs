//! The change-feed topics the token store records: each makes every instance drop cached lookups.

/// A jti was revoked (subject: the jti): drop the lookups of tokens carrying it.
pub const JTI_REVOKED: &str = "tokens.jti_revoked";

/// A subject was revoked (subject: the `sub`): drop the lookups of its tokens.
pub const SUBJECT_REVOKED: &str = "tokens.subject_revoked";

/// An issuer was created, changed or deleted (no subject): drop the tenant's cached issuers.
pub const ISSUERS_CHANGED: &str = "tokens.issuers_changed";
