//! The authenticated caller of a request: its tenant and principal.

use crate::TenantId;

/// Who is calling: set by authentication as a request extension, read by every layer that
/// scopes state (rate-limit keys, idempotency entries, locks).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Caller {
    /// The tenant every record the request touches belongs to.
    pub tenant: TenantId,
    /// Who inside the tenant: an API key id, a user id from a JWT, …
    pub principal: String,
}
