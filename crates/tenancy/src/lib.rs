//! Tenancy: tenants, tenant API keys (hashed, revocable, constant-time checked) and their store.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod key;
mod memory;
mod model;
mod store;

pub use key::{ApiKeyToken, KEY_PREFIX};
pub use memory::MemoryTenantStore;
pub use model::{ApiKey, KeyRecord, KeyStatus, Tenant, TenantCreate};
pub use store::TenantStore;
