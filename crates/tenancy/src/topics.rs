//! The change-feed topics tenancy records: each makes every instance drop cached keys.

/// A key was revoked (subject: the key id): drop it.
pub const KEY_REVOKED: &str = "tenancy.key_revoked";

/// A tenant was renamed (no subject): drop its keys, so `/v1/me` shows the new name.
pub const TENANT_CHANGED: &str = "tenancy.tenant_changed";

/// A tenant and its keys were deleted (no subject): drop its keys.
pub const TENANT_DELETED: &str = "tenancy.tenant_deleted";
