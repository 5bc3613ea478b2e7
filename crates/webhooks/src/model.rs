//! Sources and inbox events: names, ids, states and the records the store holds.

use crate::seal::Sealed;
use crate::verify::Provider;
use palisade_core::{FieldError, TenantId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest stored event key (characters); longer provider ids are stored as their digest.
pub const MAX_KEY: usize = 200;
/// Most secrets a source holds at once (active and retiring).
pub const MAX_SECRETS: usize = 5;
/// Most deliveries of one source in flight at once.
pub const MAX_CONCURRENCY: u32 = 64;

/// A source's name, its id in the tenant and the last segment of its ingress URL:
/// 1 to 64 of `A-Z a-z 0-9 _ -`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SourceName(String);

impl SourceName {
    /// Validates `s`.
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(FieldError::new("name", "1 to 64 of A-Z a-z 0-9 _ -"))
        }
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for SourceName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s).map_err(|e| e.message)
    }
}

impl From<SourceName> for String {
    fn from(v: SourceName) -> String {
        v.0
    }
}

/// An inbox event's id: `evt_`, 12 hex digits of its arrival time (ms), 12 random
/// alphanumerics.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventId(String);

impl EventId {
    /// A fresh id at `now_ms`.
    pub fn generate(now_ms: i64) -> Self {
        let rand = palisade_core::secret::random_token(12);
        Self(format!("evt_{:012x}{rand}", now_ms.max(0)))
    }

    /// Validates `s` as an event id.
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        let ok = s.len() == 28
            && s.starts_with("evt_")
            && s[4..].bytes().all(|b| b.is_ascii_alphanumeric());
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(FieldError::new(
                "id",
                "an event id (evt_ and 24 alphanumerics)",
            ))
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for EventId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s).map_err(|e| e.message)
    }
}

impl From<EventId> for String {
    fn from(v: EventId) -> String {
        v.0
    }
}

/// Where an event is: waiting for (or in) delivery, delivered (or acknowledged), or failed
/// for good.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// Stored, not yet delivered.
    Pending,
    /// Delivered to the target (2xx), or acknowledged by a pulling app.
    Delivered,
    /// Dead after the last attempt, or the target answered 410.
    Failed,
}

impl EventStatus {
    /// Every status.
    pub const ALL: [EventStatus; 3] = [Self::Pending, Self::Delivered, Self::Failed];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| FieldError::new("status", "one of pending, delivered, failed"))
    }
}

/// How a source names its events for the replay guard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventIdRule {
    /// The id the provider signs (e.g. `webhook-id`); the signed content's digest where the
    /// scheme signs none.
    #[default]
    Provider,
    /// A field of the (signed) JSON body, by JSON pointer (`/id`); the digest when the body
    /// has no such string or number.
    BodyField {
        /// The JSON pointer.
        pointer: String,
    },
    /// Always the SHA-256 of the signed content.
    Digest,
}

impl EventIdRule {
    /// Every invalid field.
    pub fn check(&self) -> Vec<FieldError> {
        match self {
            Self::BodyField { pointer } if !pointer.starts_with('/') || pointer.len() > MAX_KEY => {
                vec![FieldError::new(
                    "event_id.pointer",
                    "a JSON pointer starting with / (at most 200 characters)",
                )]
            }
            _ => Vec::new(),
        }
    }
}

/// Where and how a source's events are delivered (push). A source without one is pulled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The app's `http` or `https` URL.
    pub url: String,
    /// Deliver one at a time in order of arrival.
    #[serde(default)]
    pub ordered: bool,
    /// Most deliveries in flight at once, 1 ..= [`MAX_CONCURRENCY`] (1 when ordered).
    pub concurrency: u32,
    /// Most delivery attempts started per second, if limited.
    #[serde(default)]
    pub rate_per_sec: Option<u32>,
    /// Set when the target answered 410 Gone: no more pushes until it is set again.
    #[serde(default)]
    pub disabled: bool,
}

impl Target {
    /// Every invalid field.
    pub fn check(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let url_ok = (self.url.starts_with("http://") || self.url.starts_with("https://"))
            && self.url.len() <= 2048
            && url::Url::parse(&self.url).is_ok();
        if !url_ok {
            errs.push(FieldError::new(
                "target.url",
                "an absolute http or https URL (at most 2048 bytes)",
            ));
        }
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            errs.push(FieldError::new(
                "target.concurrency",
                "an integer from 1 to 64",
            ));
        }
        if self
            .rate_per_sec
            .is_some_and(|r| !(1..=10_000).contains(&r))
        {
            errs.push(FieldError::new(
                "target.rate_per_sec",
                "an integer from 1 to 10000",
            ));
        }
        errs
    }

    /// The concurrency that applies: 1 when ordered.
    pub fn effective_concurrency(&self) -> u32 {
        if self.ordered {
            1
        } else {
            self.concurrency.max(1)
        }
    }
}

/// One verification secret of a source, encrypted at rest; write-only through the API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceSecret {
    /// Its id (`sec_…`), to retire it by.
    pub id: String,
    /// The secret, sealed with the source as associated data.
    pub sealed: Sealed,
    /// Added at (ms).
    pub created_at_ms: i64,
    /// When set, the secret stops verifying at this time (ms): a retirement's grace period.
    pub expires_at_ms: Option<i64>,
}

impl SourceSecret {
    /// True while it verifies at `now_ms`.
    pub fn is_active(&self, now_ms: i64) -> bool {
        self.expires_at_ms.is_none_or(|e| e > now_ms)
    }
}

/// The secrets Palisade signs a source's deliveries with: the current one and, during a
/// rotation's grace period, the previous one too (a delivery then carries both signatures).
/// Stored as JSON; a bare [`Sealed`] (before rotation existed) reads as a current secret alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeliverySecrets {
    /// The current secret, sealed (associated data: the `delivery` secret id).
    pub current: Sealed,
    /// The previous secret, sealed like the current one, while its grace lasts.
    pub previous: Option<Sealed>,
    /// The previous secret stops signing at this time (ms).
    pub previous_until_ms: Option<i64>,
}

impl DeliverySecrets {
    /// The previous secret when it still signs at `now_ms`.
    pub fn previous_at(&self, now_ms: i64) -> Option<&Sealed> {
        match (&self.previous, self.previous_until_ms) {
            (Some(p), Some(until)) if until > now_ms => Some(p),
            _ => None,
        }
    }
}

impl From<Sealed> for DeliverySecrets {
    fn from(current: Sealed) -> Self {
        Self {
            current,
            previous: None,
            previous_until_ms: None,
        }
    }
}

impl<'de> Deserialize<'de> for DeliverySecrets {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Rotating {
                current: Sealed,
                #[serde(default)]
                previous: Option<Sealed>,
                #[serde(default)]
                previous_until_ms: Option<i64>,
            },
            Bare(Sealed),
        }
        Ok(match Stored::deserialize(d)? {
            Stored::Rotating {
                current,
                previous,
                previous_until_ms,
            } => Self {
                current,
                previous,
                previous_until_ms,
            },
            Stored::Bare(s) => s.into(),
        })
    }
}

/// An inbound webhook source of a tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The tenant it belongs to.
    pub tenant: TenantId,
    /// Its name.
    pub name: SourceName,
    /// The signature scheme.
    pub provider: Provider,
    /// Verification secrets (several during a rotation).
    pub secrets: Vec<SourceSecret>,
    /// How old a signed timestamp may be (seconds).
    pub tolerance_secs: u32,
    /// Largest accepted body (bytes).
    pub max_body_bytes: u32,
    /// How events are named for the replay guard.
    pub event_id: EventIdRule,
    /// Push delivery; `None`: the app pulls.
    pub target: Option<Target>,
    /// The secrets Palisade signs deliveries with (Standard Webhooks), sealed.
    pub delivery_secret: DeliverySecrets,
    /// Created at (ms).
    pub created_at_ms: i64,
    /// Last changed at (ms).
    pub updated_at_ms: i64,
    /// Bumped by every update: updates compare and set it.
    pub version: i64,
}

impl Source {
    /// The associated data of a sealed secret of this source: binds the ciphertext to the
    /// tenant, source and secret id.
    pub fn aad(tenant: &TenantId, name: &SourceName, secret_id: &str) -> Vec<u8> {
        format!("palisade-webhooks|{tenant}|{name}|{secret_id}").into_bytes()
    }

    /// Every invalid field of the settings a caller chose.
    pub fn check(&self) -> Vec<FieldError> {
        let mut errs = self.event_id.check();
        if !(60..=3600).contains(&self.tolerance_secs) {
            errs.push(FieldError::new(
                "tolerance_secs",
                "an integer from 60 (1 minute) to 3600 (1 hour)",
            ));
        }
        if !(1..=16 * 1024 * 1024).contains(&self.max_body_bytes) {
            errs.push(FieldError::new(
                "max_body_bytes",
                "an integer from 1 to 16777216",
            ));
        }
        if let Some(t) = &self.target {
            errs.extend(t.check());
        }
        if self.secrets.len() > MAX_SECRETS {
            errs.push(FieldError::new("secrets", "at most 5 secrets"));
        }
        errs
    }

    /// True when events are pushed now (a target that is not disabled).
    pub fn pushes(&self) -> bool {
        self.target.as_ref().is_some_and(|t| !t.disabled)
    }
}

/// A stored inbound event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Its id.
    pub id: EventId,
    /// Arrival order in the store (assigned by the insert; 0 before).
    pub seq: i64,
    /// The tenant.
    pub tenant: TenantId,
    /// The source it came through.
    pub source: SourceName,
    /// Its replay-guard key (`id:…`, `body:…` or `sha256:…`).
    pub key: String,
    /// The request's content type, as sent.
    pub content_type: Option<String>,
    /// The raw body, as sent.
    pub body: Vec<u8>,
    /// Where it is.
    pub status: EventStatus,
    /// Delivery attempts started.
    pub attempts: u32,
    /// Not delivered before this time (ms).
    pub next_attempt_at_ms: i64,
    /// The last attempt's error (no secret, no body).
    pub last_error: Option<String>,
    /// The last attempt's HTTP status, if it got one.
    pub last_status: Option<u16>,
    /// The token of the delivery attempt in flight.
    pub claim_token: Option<String>,
    /// The attempt in flight holds the event until (ms).
    pub claimed_until_ms: Option<i64>,
    /// Arrived at (ms).
    pub received_at_ms: i64,
    /// Delivered or acknowledged at (ms).
    pub delivered_at_ms: Option<i64>,
}

impl Event {
    /// A new pending event of `source` with `key`, arrived at `now_ms`.
    pub fn new(
        source: &Source,
        key: String,
        content_type: Option<String>,
        body: Vec<u8>,
        now_ms: i64,
    ) -> Self {
        Self {
            id: EventId::generate(now_ms),
            seq: 0,
            tenant: source.tenant.clone(),
            source: source.name.clone(),
            key,
            content_type,
            body,
            status: EventStatus::Pending,
            attempts: 0,
            next_attempt_at_ms: now_ms,
            last_error: None,
            last_status: None,
            claim_token: None,
            claimed_until_ms: None,
            received_at_ms: now_ms,
            delivered_at_ms: None,
        }
    }

    /// True while a delivery attempt holds it at `now_ms`.
    pub fn is_claimed(&self, now_ms: i64) -> bool {
        self.status == EventStatus::Pending && self.claimed_until_ms.is_some_and(|c| c > now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids() {
        assert!(SourceName::parse("stripe-live_1").is_ok());
        assert!(SourceName::parse("").is_err());
        assert!(SourceName::parse("a/b").is_err());
        assert!(SourceName::parse(&"a".repeat(65)).is_err());
        let id = EventId::generate(1_700_000_000_000);
        assert_eq!(EventId::parse(id.as_str()), Ok(id));
        assert!(EventId::parse("evt_x").is_err());
        assert!(EventId::parse("job_0123456789abcdefghijklmn").is_err());
    }

    #[test]
    fn statuses_round_trip() {
        for s in EventStatus::ALL {
            assert_eq!(EventStatus::parse(s.as_str()), Ok(s));
        }
        assert!(EventStatus::parse("dead").is_err());
    }

    #[test]
    fn delivery_secrets_read_the_bare_form_and_round_trip() {
        let sealed = Sealed {
            key_id: "k1".into(),
            nonce: "bm9uY2U=".into(),
            data: "ZGF0YQ==".into(),
        };
        let bare = serde_json::to_string(&sealed).unwrap();
        let read: DeliverySecrets = serde_json::from_str(&bare).unwrap();
        assert_eq!(read, DeliverySecrets::from(sealed.clone()));
        let rotating = DeliverySecrets {
            current: sealed.clone(),
            previous: Some(sealed),
            previous_until_ms: Some(10),
        };
        let json = serde_json::to_string(&rotating).unwrap();
        let back: DeliverySecrets = serde_json::from_str(&json).unwrap();
        assert_eq!(back, rotating);
        assert!(back.previous_at(9).is_some());
        assert!(back.previous_at(10).is_none());
    }

    #[test]
    fn target_checks() {
        let mut t = Target {
            url: "https://app.example/hooks".into(),
            ordered: false,
            concurrency: 4,
            rate_per_sec: None,
            disabled: false,
        };
        assert!(t.check().is_empty());
        t.url = "ftp://x".into();
        t.concurrency = 0;
        t.rate_per_sec = Some(0);
        let fields: Vec<_> = t.check().into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            ["target.url", "target.concurrency", "target.rate_per_sec"]
        );
        t.ordered = true;
        assert_eq!(t.effective_concurrency(), 1);
    }
}
