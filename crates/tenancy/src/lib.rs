//! Tenancy: tenants, tenant API keys (hashed, revocable, constant-time checked) and their store.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cache;
mod key;
mod memory;
mod model;
pub mod runtime;
mod store;
pub mod topics;

pub use cache::{CachedKey, KeyCache};
pub use key::{ApiKeyToken, KeyRejection, KEY_PREFIX};
pub use memory::MemoryTenantStore;
pub use model::{tenant_name, ApiKey, KeyRecord, KeyStatus, Tenant, TenantCreate};
pub use store::TenantStore;
