//! The change feed: a durable, ordered log of writes that every instance follows to drop what it cached.
//!
//! A capability that caches store state in process (verified API keys today) records each
//! write that invalidates it as a [`Change`] in the same transaction as the write; every
//! instance reads the feed after its cursor on a short interval and drops what the changes
//! name. Versions are store-wide, strictly increasing and contiguous: a writer holds the
//! feed's one lock from taking its version to its commit, so a reader never sees a version
//! before all lower ones are committed.

use crate::{StoreError, TenantId};

/// One change, as the feed reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Store-wide version (1, 2, 3, … in commit order).
    pub version: i64,
    /// What kind of change: a static name owned by the capability (`tenancy.key_revoked`).
    pub topic: String,
    /// The tenant it concerns.
    pub tenant: TenantId,
    /// The record it concerns (a key id); `None` for the whole tenant.
    pub subject: Option<String>,
}

/// A change to record: the writer's part of a [`Change`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeRecord<'a> {
    /// See [`Change::topic`].
    pub topic: &'static str,
    /// See [`Change::tenant`].
    pub tenant: &'a TenantId,
    /// See [`Change::subject`].
    pub subject: Option<&'a str>,
}

/// Reading and pruning the change feed (writes happen inside each capability's own
/// transactions).
#[async_trait::async_trait]
pub trait ChangeFeed: Send + Sync + std::fmt::Debug {
    /// The newest version (0 when nothing was ever recorded): a new follower starts here.
    async fn change_head(&self) -> Result<i64, StoreError>;

    /// Up to `limit` changes above `after`, oldest first.
    async fn change_read(&self, after: i64, limit: u32) -> Result<Vec<Change>, StoreError>;

    /// Deletes up to `limit` changes recorded before `before_ms` (never the newest one, so
    /// the head survives); how many it deleted.
    async fn change_prune(&self, before_ms: i64, limit: u32) -> Result<u64, StoreError>;
}

/// The feed of a memory store: every change kept until pruned (no times are kept, so a prune
/// removes all but the newest). The store holds it under its own lock, so a write and its
/// change are one atomic step.
#[derive(Debug, Default)]
pub struct MemoryChanges {
    changes: Vec<Change>,
    head: i64,
}

impl MemoryChanges {
    /// Appends `rec` with the next version.
    pub fn record(&mut self, rec: ChangeRecord<'_>) {
        self.head += 1;
        self.changes.push(Change {
            version: self.head,
            topic: rec.topic.to_owned(),
            tenant: rec.tenant.clone(),
            subject: rec.subject.map(str::to_owned),
        });
    }

    /// [`ChangeFeed::change_head`].
    pub fn head(&self) -> i64 {
        self.head
    }

    /// [`ChangeFeed::change_read`].
    pub fn read(&self, after: i64, limit: u32) -> Vec<Change> {
        let newer = self.changes.iter().filter(|c| c.version > after);
        newer.take(limit as usize).cloned().collect()
    }

    /// [`ChangeFeed::change_prune`], whatever the time.
    pub fn prune(&mut self, limit: u32) -> u64 {
        let n = self.changes.len().saturating_sub(1).min(limit as usize);
        self.changes.drain(..n);
        n as u64
    }
}
