//! [`InboxStore`]: sources and the durable inbox, every operation atomic in the store.

use crate::error::WebhookError;
use crate::model::{Event, EventId, Source, SourceName};
use crate::params::{Claim, EventClaim, EventList, EventResume, EventSettle, InboxStats, Inserted};
use palisade_core::{Page, PageRequest, TenantId};

/// Sources and inbox events of every tenant. Every method takes the tenant (except the
/// retention sweep) and decides in one atomic step of the store.
///
/// The replay guard is the store's uniqueness of (tenant, source, event key): of any number
/// of concurrent inserts of one key, on any number of instances, one stores the event and the
/// others answer it as a duplicate. A pushed event is stored marked for dispatch in that same
/// step; [`InboxStore::event_dispatch`] (any instance's) later gives each marked event exactly
/// one delivery job and clears its mark in one atomic step, so no crash loses an acknowledged
/// event's delivery and none gets two jobs.
#[async_trait::async_trait]
pub trait InboxStore: Send + Sync + std::fmt::Debug {
    /// Creates a source ([`WebhookError::SourceExists`] when the name is taken).
    async fn source_create(&self, source: &Source) -> Result<Source, WebhookError>;

    /// One source of the tenant.
    async fn source_get(
        &self,
        tenant: &TenantId,
        name: &SourceName,
    ) -> Result<Option<Source>, WebhookError>;

    /// A page of the tenant's sources by name (the cursor is the last name).
    async fn source_list(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Source>, WebhookError>;

    /// Replaces a source when its stored version is still `source.version` (compare and
    /// set): the stored source with the version bumped, [`WebhookError::SourceChanged`] when
    /// another update came first, [`WebhookError::NotFound`] when it is gone.
    async fn source_update(&self, source: &Source) -> Result<Source, WebhookError>;

    /// Deletes a source with its events.
    async fn source_delete(&self, tenant: &TenantId, name: &SourceName)
        -> Result<(), WebhookError>;

    /// Stores `event` unless an event of its source with its key exists (then answers that
    /// one as a duplicate and writes nothing); with `push`, marked for dispatch
    /// ([`InboxStore::event_dispatch`]) in the same atomic step.
    async fn event_insert(&self, event: Event, push: bool) -> Result<Inserted, WebhookError>;

    /// The dispatch (every tenant's): up to `limit` events marked for dispatch, oldest first,
    /// each get their delivery job ([`crate::delivery::delivery_job`]; none when a live job of
    /// the event holds its unique key) and lose their mark, in one atomic step. Concurrent
    /// dispatches (several instances) never take one event twice. The number of events
    /// dispatched (below `limit`: none are left).
    async fn event_dispatch(&self, limit: u32) -> Result<u64, WebhookError>;

    /// True when concurrent inserts go faster grouped ([`crate::Inserter`],
    /// [`InboxStore::event_insert_many`]) than each in its own write: a store that takes one
    /// write at a time (SQLite). Measured in BENCHMARKS.md ("Inbound webhooks").
    fn event_insert_grouped(&self) -> bool {
        false
    }

    /// [`InboxStore::event_insert`] of many events in order, as one atomic write (SQL stores:
    /// one transaction, one commit, which also makes the new pushed events' delivery jobs
    /// instead of marking them, so a store with one writer needs no other write): all stored —
    /// each new or a duplicate, also of an earlier event of the batch — or, on `Err`, none.
    /// This default, the memory store's, inserts one by one.
    async fn event_insert_many(
        &self,
        events: Vec<(Event, bool)>,
    ) -> Result<Vec<Inserted>, WebhookError> {
        let mut out = Vec::with_capacity(events.len());
        for (event, push) in events {
            out.push(self.event_insert(event, push).await?);
        }
        Ok(out)
    }

    /// One event of the tenant.
    async fn event_get(
        &self,
        tenant: &TenantId,
        id: &EventId,
    ) -> Result<Option<Event>, WebhookError>;

    /// A page of the tenant's events, newest first.
    async fn event_list(
        &self,
        tenant: &TenantId,
        req: &EventList,
    ) -> Result<Page<Event>, WebhookError>;

    /// A delivery attempt asks to hold an event: decided by [`crate::params::claim_decide`]
    /// against the source's concurrency, order and rate, atomically per source.
    async fn event_claim(&self, tenant: &TenantId, req: &EventClaim)
        -> Result<Claim, WebhookError>;

    /// Ends a claimed attempt. `None` when the claim is no longer the event's (nothing
    /// changed). Hands the source's turn on in the same step: the job of its oldest pending,
    /// due, unheld event other than this one is enqueued (nothing when it has a live one).
    async fn event_settle(
        &self,
        tenant: &TenantId,
        req: &EventSettle,
    ) -> Result<Option<Event>, WebhookError>;

    /// Makes the named events pending again (a fresh attempt count; a pending one keeps its
    /// schedule) and makes sure each of a pushing source has a delivery job. The events
    /// replayed (unknown ids are skipped).
    async fn event_replay(
        &self,
        tenant: &TenantId,
        ids: &[EventId],
        now_ms: i64,
    ) -> Result<Vec<Event>, WebhookError>;

    /// A pulling app acknowledges a pending event: delivered. Acknowledging a delivered one
    /// again answers it unchanged; a failed one too.
    async fn event_ack(
        &self,
        tenant: &TenantId,
        id: &EventId,
        now_ms: i64,
    ) -> Result<Event, WebhookError>;

    /// The tenant's inbox (or one source's) in numbers.
    async fn event_stats(
        &self,
        tenant: &TenantId,
        source: Option<&SourceName>,
    ) -> Result<InboxStats, WebhookError>;

    /// The resume sweep (every tenant's): pending events of pushing sources due for at least
    /// `grace_ms` and not held get their delivery job again ([`crate::params::resume_pick`];
    /// an event with a live job keeps it). Covers a job that died or parked while its event
    /// waits. The number of jobs created.
    async fn event_resume(&self, req: &EventResume) -> Result<u64, WebhookError>;

    /// Deletes up to `limit` delivered or failed events (every tenant's) that arrived before
    /// `before_ms`; pending events are kept whatever their age.
    async fn event_prune(&self, before_ms: i64, limit: u32) -> Result<u64, WebhookError>;
}
