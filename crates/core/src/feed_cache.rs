//! Caches that follow the change feed: their freshness state ([`FeedState`]) and the one task that keeps them following ([`FeedSync`]).
//!
//! A cache of store state (verified API keys, token lookups) answers only while the last
//! successful read of the [`ChangeFeed`] *started* less than [`MAX_STALENESS`] ago. A write
//! that commits before such a read starts is seen by it, so a revocation recorded on any
//! instance stops being served everywhere within that bound; when the feed cannot be read the
//! cache steps aside (its owner reads the store) instead of serving what may be stale.
//! A fill takes a [`Ticket`] before reading the store and is dropped if any change (or local
//! eviction) was applied since, so a read that raced a revocation is never cached.

use crate::{Change, ChangeFeed, Maintenance, StoreError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How old the last feed read may be for a cache to answer: the revocation bound.
pub const MAX_STALENESS: Duration = Duration::from_secs(1);
/// How often [`FeedSync`] reads the feed: well inside [`MAX_STALENESS`], so a cache stays
/// usable while one read is slow.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(200);
/// Changes read per round trip.
const BATCH: u32 = 500;

/// Where a cache stands on the feed; kept under the cache's own lock, beside its entries.
#[derive(Debug, Default)]
pub struct FeedState {
    /// Start of the last successful feed read.
    synced: Option<Instant>,
    /// The last feed version applied (`None`: not following yet).
    cursor: Option<i64>,
    /// Bumped by every change applied and every local eviction.
    epoch: u64,
}

/// Taken before a store read for a miss; a fill with an outdated ticket is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

impl FeedState {
    /// True when the last feed read started less than [`MAX_STALENESS`] before `now`.
    pub fn fresh(&self, now: Instant) -> bool {
        self.synced
            .is_some_and(|s| now.saturating_duration_since(s) < MAX_STALENESS)
    }

    /// A ticket for a fill starting now.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.epoch)
    }

    /// True when nothing was applied or evicted since `t` was taken.
    pub fn admits(&self, t: Ticket) -> bool {
        self.epoch == t.0
    }

    /// Records a local eviction: fills that began before it are dropped.
    pub fn bump(&mut self) {
        self.epoch += 1;
    }

    /// Where the follower resumes (`None`: start from the head).
    pub fn cursor(&self) -> Option<i64> {
        self.cursor
    }

    /// Takes a batch read after [`Self::cursor`]: moves the cursor to its last version and
    /// returns true when the batch does not continue the cursor (changes were pruned past this
    /// cache: its owner must drop everything).
    pub fn advance(&mut self, changes: &[Change]) -> bool {
        let after = self.cursor.unwrap_or(0);
        let gap = changes.first().is_some_and(|c| c.version != after + 1);
        if let Some(last) = changes.last() {
            self.cursor = Some(last.version);
            self.epoch += 1;
        }
        gap
    }

    /// Records a successful feed read that started at `started` and reached `head`; true on
    /// the first one (its owner must drop what it cached before it followed the feed).
    pub fn synced(&mut self, started: Instant, head: i64) -> bool {
        let first = self.cursor.is_none();
        if first {
            self.epoch += 1;
        }
        self.synced = Some(started);
        self.cursor = Some(self.cursor.map_or(head, |c| c.max(head)));
        first
    }
}

/// A cache that follows the feed (its [`FeedState`] inside).
pub trait FeedCache: Send + Sync + 'static {
    /// [`FeedState::cursor`].
    fn cursor(&self) -> Option<i64>;

    /// Applies changes read after the cursor (see [`FeedState::advance`]); how many entries
    /// it dropped.
    fn apply(&self, changes: &[Change]) -> usize;

    /// [`FeedState::synced`], dropping everything on the first.
    fn synced(&self, started: Instant, head: i64);
}

/// The maintenance task reading the feed after a cache's cursor into it, every
/// [`SYNC_INTERVAL`].
pub struct FeedSync {
    name: &'static str,
    feed: Arc<dyn ChangeFeed>,
    cache: Arc<dyn FeedCache>,
}

impl FeedSync {
    /// The follower of `feed` for `cache`, counted as task `name`.
    pub fn new(name: &'static str, feed: Arc<dyn ChangeFeed>, cache: Arc<dyn FeedCache>) -> Self {
        Self { name, feed, cache }
    }
}

#[async_trait::async_trait]
impl Maintenance for FeedSync {
    fn name(&self) -> &'static str {
        self.name
    }

    fn interval(&self) -> Duration {
        SYNC_INTERVAL
    }

    /// Applies every change above the cursor; the number of cached entries dropped.
    async fn step(&self) -> Result<u64, StoreError> {
        let started = Instant::now();
        let Some(mut cursor) = self.cache.cursor() else {
            let head = self.feed.change_head().await?;
            self.cache.synced(started, head);
            return Ok(0);
        };
        let mut dropped = 0;
        loop {
            let changes = self.feed.change_read(cursor, BATCH).await?;
            dropped += self.cache.apply(&changes);
            cursor = changes.last().map_or(cursor, |c| c.version);
            if changes.len() < BATCH as usize {
                break;
            }
        }
        self.cache.synced(started, cursor);
        Ok(dropped as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TenantId;

    fn change(version: i64) -> Change {
        Change {
            version,
            topic: "t".into(),
            tenant: TenantId::generate(),
            subject: None,
        }
    }

    #[test]
    fn freshness_tickets_and_gaps() {
        let mut s = FeedState::default();
        assert!(!s.fresh(Instant::now()), "not following yet");
        assert!(s.synced(Instant::now(), 4), "the first sync");
        assert!(s.fresh(Instant::now()));
        let t = s.ticket();
        assert!(!s.advance(&[change(5), change(6)]), "contiguous");
        assert!(!s.admits(t), "a change since the ticket");
        assert!(s.advance(&[change(9)]), "7 and 8 were missed");
        assert_eq!(s.cursor(), Some(9));
        assert!(!s.synced(Instant::now() - MAX_STALENESS, 9));
        assert!(!s.fresh(Instant::now()), "a read a bound ago is stale");
    }
}
