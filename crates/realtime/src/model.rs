//! Topic names, events, the history bounds and read, and revocations.

use palisade_core::{FieldError, TenantId};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The longest topic name (bytes).
pub const MAX_TOPIC_LEN: usize = 200;
/// The most topics (and, separately, jobs) one token may cover.
pub const MAX_TOPICS_PER_TOKEN: usize = 32;

/// A topic name: 1..=200 of `A-Z a-z 0-9 . _ - :`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TopicName(String);

impl TopicName {
    /// Parses a topic name, or a field error naming `topic`.
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        let ok_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':');
        if (1..=MAX_TOPIC_LEN).contains(&s.len()) && s.bytes().all(ok_char) {
            Ok(Self(s.to_owned()))
        } else {
            Err(FieldError::new(
                "topic",
                "must be 1 to 200 characters of A-Z a-z 0-9 . _ - :",
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TopicName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s).map_err(|e| e.message)
    }
}

impl From<TopicName> for String {
    fn from(t: TopicName) -> String {
        t.0
    }
}

impl std::fmt::Display for TopicName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One published event of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Its id: 1 for a topic's first event, then consecutive.
    pub seq: u64,
    /// When it was published (ms, store clock).
    pub at_ms: i64,
    /// The JSON the tenant published, as its text.
    pub data: String,
}

/// How much history a topic keeps for resuming streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryBounds {
    /// The most events kept per topic (the newest).
    pub max_events: u64,
    /// How long an event is kept.
    pub max_age: Duration,
}

impl HistoryBounds {
    /// The oldest publication time still kept at `now_ms`.
    pub fn oldest_kept_ms(&self, now_ms: i64) -> i64 {
        now_ms - self.max_age.as_millis() as i64
    }
}

/// What a topic's history holds after an id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicRead {
    /// The kept events after the asked id, oldest first (at most the asked limit).
    pub events: Vec<Event>,
    /// The id of the topic's latest event (0: none yet).
    pub last_seq: u64,
    /// True when some event after the asked id is no longer kept: the reader missed events.
    pub gap: bool,
}

impl TopicRead {
    /// Builds a read from the kept events after `after` (oldest first) and the latest id:
    /// a gap when the first kept event is not `after + 1` while later events exist.
    pub fn new(after: u64, events: Vec<Event>, last_seq: u64) -> Self {
        let first = events.first().map(|e| e.seq);
        let gap = last_seq > after && first != Some(after + 1);
        Self {
            events,
            last_seq,
            gap,
        }
    }
}

/// A revocation: of one token by its id, or of every token of a principal minted until then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Revocation {
    /// One token.
    Token {
        /// Its tenant.
        tenant: TenantId,
        /// The token's id.
        token_id: String,
    },
    /// Every token minted by a tenant key (the key was revoked).
    Key {
        /// Its tenant.
        tenant: TenantId,
        /// The key's id.
        key_id: String,
    },
    /// Every token of a principal minted at or before `at_ms`.
    Principal {
        /// Its tenant.
        tenant: TenantId,
        /// The principal.
        principal: String,
        /// When it was revoked (ms, store clock).
        at_ms: i64,
    },
}

impl Revocation {
    /// Its tenant.
    pub fn tenant(&self) -> &TenantId {
        match self {
            Self::Token { tenant, .. }
            | Self::Key { tenant, .. }
            | Self::Principal { tenant, .. } => tenant,
        }
    }

    /// True when it revokes the token of `claims`.
    pub fn covers(&self, claims: &crate::Claims) -> bool {
        match self {
            Self::Token { tenant, token_id } => {
                *tenant == claims.tenant && *token_id == claims.token_id // ct-ok: an id, not a proof
            }
            Self::Key { tenant, key_id } => {
                *tenant == claims.tenant && claims.key_id.as_deref() == Some(key_id.as_str())
            }
            Self::Principal {
                tenant,
                principal,
                at_ms,
            } => {
                *tenant == claims.tenant
                    && *principal == claims.principal
                    && claims.iat_ms <= *at_ms
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: u64) -> Event {
        Event {
            seq,
            at_ms: 0,
            data: "{}".into(),
        }
    }

    #[test]
    fn topic_names() {
        assert!(TopicName::parse("orders.eu-1:v2_x").is_ok());
        for bad in ["", "a b", "é", "a/b", &"x".repeat(201)] {
            assert!(TopicName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn gaps() {
        assert!(!TopicRead::new(0, vec![], 0).gap, "empty topic");
        assert!(!TopicRead::new(3, vec![], 3).gap, "up to date");
        assert!(!TopicRead::new(1, vec![ev(2), ev(3)], 3).gap, "contiguous");
        assert!(TopicRead::new(1, vec![ev(3)], 3).gap, "2 pruned");
        assert!(TopicRead::new(1, vec![], 3).gap, "all pruned");
    }
}
