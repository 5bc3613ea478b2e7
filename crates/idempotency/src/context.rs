//! What a handler behind the layer learns about its claim, and how it records recovery points.

use crate::error::IdempotencyError;
use crate::key::IdempotencyKey;
use crate::model::{EntryRef, RecoveryPoint, RecoveryPointSet};
use crate::store::IdempotencyStore;
use palisade_core::TenantId;
use std::sync::Arc;
use std::time::Duration;

/// A request extension set by the layer when the request proceeds: read it with
/// `Extension<IdempotencyContext>` to resume from the last recovery point of an earlier attempt
/// and to record new ones between the phases of the operation.
#[derive(Clone, Debug)]
pub struct IdempotencyContext {
    pub(crate) store: Arc<dyn IdempotencyStore>,
    pub(crate) tenant: TenantId,
    pub(crate) entry: EntryRef,
    pub(crate) recovery_point: Option<RecoveryPoint>,
    pub(crate) attempt: u32,
    pub(crate) lock_ttl: Duration,
}

impl IdempotencyContext {
    /// The client's key.
    pub fn key(&self) -> &IdempotencyKey {
        &self.entry.key
    }

    /// The last recovery point an earlier attempt recorded, if any.
    pub fn recovery_point(&self) -> Option<&RecoveryPoint> {
        self.recovery_point.as_ref()
    }

    /// 1 for the first attempt, more when a retry took over after a lock expired.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Records a recovery point and extends the lock by the configured lock TTL.
    pub async fn set_recovery_point(
        &self,
        name: impl Into<String>,
        data: serde_json::Value,
    ) -> Result<(), IdempotencyError> {
        let req = RecoveryPointSet {
            entry: self.entry.clone(),
            point: RecoveryPoint {
                name: name.into(),
                data,
            },
            lock_ttl: self.lock_ttl,
        };
        self.store.recovery_point_set(&self.tenant, &req).await
    }
}

/// A response extension meaning "the operation did not run" (e.g. validation failed): the layer
/// abandons the entry instead of storing the response. Return e.g. `(StatusCode::BAD_REQUEST, Extension(NotExecuted), body)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NotExecuted;
