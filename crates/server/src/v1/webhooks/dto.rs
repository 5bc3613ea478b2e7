//! The bodies, queries and views of `/v1/webhooks`: sources (secrets write-only), events.

use base64::Engine as _;
use palisade_core::{FieldError, PageRequest, Problem};
use palisade_webhooks::params::EventList;
use palisade_webhooks::{
    Event, EventIdRule, EventStatus, InboxStats, Provider, Source, SourceName, SourceSpec, Target,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A push target as a caller gives it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetBody {
    /// The app's absolute `http` or `https` URL (reached through the safe-fetch client:
    /// private addresses only where `[fetch]` allows them).
    pub url: String,
    /// Deliver one at a time, in order of arrival (default false).
    #[serde(default)]
    pub ordered: bool,
    /// Most deliveries in flight, 1..=64 (default 4; 1 when ordered).
    pub concurrency: Option<u32>,
    /// Most delivery attempts started per second, 1..=10000 (default unlimited).
    pub rate_per_sec: Option<u32>,
}

impl From<TargetBody> for Target {
    fn from(b: TargetBody) -> Self {
        Target {
            url: b.url,
            ordered: b.ordered,
            concurrency: b.concurrency.unwrap_or(4),
            rate_per_sec: b.rate_per_sec,
            disabled: false,
        }
    }
}

/// Input of a source create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceBody {
    /// Its name: 1..=64 of `A-Z a-z 0-9 _ -` (the last segment of its ingress URL).
    #[schema(value_type = String)]
    pub name: SourceName,
    /// The signature scheme, e.g. `{"kind": "standard_webhooks"}`.
    #[schema(value_type = Object)]
    pub provider: Provider,
    /// Its verification secrets, as the provider gives them (`whsec_…`), 1..=5. Write-only.
    pub secrets: Vec<String>,
    /// How old a signed timestamp may be (s), 60..=3600 (default `webhooks.default_tolerance`).
    pub tolerance_secs: Option<u32>,
    /// Largest accepted body (bytes; default `webhooks.default_max_body`).
    pub max_body_bytes: Option<u32>,
    /// How events are named for the replay guard: `{"kind": "provider"}` (default),
    /// `{"kind": "body_field", "pointer": "/id"}` or `{"kind": "digest"}`.
    #[schema(value_type = Option<Object>)]
    pub event_id: Option<EventIdRule>,
    /// Push delivery; absent: the app pulls (lists pending events and acknowledges them).
    pub target: Option<TargetBody>,
}

impl SourceBody {
    /// The spec the runtime creates.
    pub fn spec(self) -> SourceSpec {
        SourceSpec {
            name: self.name,
            provider: self.provider,
            secrets: self.secrets,
            tolerance_secs: self.tolerance_secs,
            max_body_bytes: self.max_body_bytes,
            event_id: self.event_id.unwrap_or_default(),
            target: self.target.map(Into::into),
        }
    }
}

/// Input of a source update: each field present replaces the stored one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourcePatch {
    /// Timestamp tolerance (s), 60..=3600.
    pub tolerance_secs: Option<u32>,
    /// Largest accepted body (bytes).
    pub max_body_bytes: Option<u32>,
    /// The event-id rule.
    #[schema(value_type = Option<Object>)]
    pub event_id: Option<EventIdRule>,
    /// The push target (a new one is enabled; its pending events are delivered); `null`
    /// switches the source to pull.
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<TargetBody>)]
    pub target: Option<Option<TargetBody>>,
}

fn some<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Input of a secret add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretBody {
    /// The new secret, as the provider gives it. Write-only.
    pub secret: String,
}

/// Input of a secret retirement.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetireBody {
    /// Seconds the secret still verifies, 0..=604800 (default 86400: a day of overlap).
    pub grace_secs: Option<u32>,
}

/// Input of a delivery secret rotation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryRotateBody {
    /// The new delivery secret (`whsec_` and 24 to 64 bytes in base64); absent: generated.
    /// Write-only.
    pub secret: Option<String>,
    /// Seconds the current secret keeps signing beside the new one, 0..=604800 (default
    /// 86400); deliveries carry both signatures meanwhile.
    pub grace_secs: Option<u32>,
}

/// A rotated delivery secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryRotated {
    /// The source.
    pub source: SourceView,
    /// The new delivery secret (Standard Webhooks, `whsec_…`); shown only now.
    pub delivery_secret: String,
}

/// A secret as the API shows it: never its value.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretView {
    /// Its id.
    pub id: String,
    /// Added at (ms).
    pub created_at_ms: i64,
    /// Stops verifying at (ms), when retiring.
    pub expires_at_ms: Option<i64>,
}

/// A source as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceView {
    /// Its name.
    pub name: String,
    /// The provider's ingress path: `POST` signed events here.
    pub ingress_path: String,
    /// The signature scheme.
    #[schema(value_type = Object)]
    pub provider: Provider,
    /// Its secrets' ids and ages (values are write-only).
    pub secrets: Vec<SecretView>,
    /// Timestamp tolerance (s).
    pub tolerance_secs: u32,
    /// Largest accepted body (bytes).
    pub max_body_bytes: u32,
    /// The event-id rule.
    #[schema(value_type = Object)]
    pub event_id: EventIdRule,
    /// The push target (`disabled` after a 410), absent when the app pulls.
    #[schema(value_type = Option<Object>)]
    pub target: Option<Target>,
    /// During a delivery secret rotation: when the previous delivery secret stops signing
    /// (ms); deliveries carry both signatures until then.
    pub delivery_previous_until_ms: Option<i64>,
    /// Created at (ms).
    pub created_at_ms: i64,
    /// Last changed at (ms).
    pub updated_at_ms: i64,
    /// Bumped by every change.
    pub version: i64,
}

impl From<Source> for SourceView {
    fn from(s: Source) -> Self {
        Self {
            ingress_path: format!("/hooks/{}/{}", s.tenant, s.name),
            name: s.name.to_string(),
            provider: s.provider,
            secrets: s
                .secrets
                .into_iter()
                .map(|x| SecretView {
                    id: x.id,
                    created_at_ms: x.created_at_ms,
                    expires_at_ms: x.expires_at_ms,
                })
                .collect(),
            tolerance_secs: s.tolerance_secs,
            max_body_bytes: s.max_body_bytes,
            event_id: s.event_id,
            target: s.target,
            delivery_previous_until_ms: s
                .delivery_secret
                .previous
                .as_ref()
                .and(s.delivery_secret.previous_until_ms),
            created_at_ms: s.created_at_ms,
            updated_at_ms: s.updated_at_ms,
            version: s.version,
        }
    }
}

/// A created source, with the secret Palisade signs its deliveries with (shown once).
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceCreated {
    /// The source.
    pub source: SourceView,
    /// Verify deliveries with it (Standard Webhooks, `whsec_…`); shown only now.
    pub delivery_secret: String,
}

/// A page of sources.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceList {
    /// The sources, by name.
    pub items: Vec<SourceView>,
    /// The next page's cursor.
    pub next: Option<String>,
}

/// An added secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretAdded {
    /// Its id.
    pub id: String,
    /// The source now.
    pub source: SourceView,
}

/// An inbox event as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    /// Its id (also the `webhook-id` of its deliveries).
    pub id: String,
    /// The source it came through.
    pub source: String,
    /// Its replay-guard key: `id:<the provider's id>`, `body:<field>` or `sha256:<digest>`.
    pub key: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Delivery attempts started.
    pub attempts: u32,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// The last attempt's HTTP status.
    pub last_status: Option<u16>,
    /// Not delivered before (ms).
    pub next_attempt_at_ms: i64,
    /// Arrived at (ms).
    pub received_at_ms: i64,
    /// Delivered or acknowledged at (ms).
    pub delivered_at_ms: Option<i64>,
    /// The content type the provider sent.
    pub content_type: Option<String>,
    /// The raw body, base64 (single event, or a list with `include_body=true`).
    pub body_base64: Option<String>,
}

impl EventView {
    /// The view of `e`, with its body when `body`.
    pub fn of(e: Event, body: bool) -> Self {
        Self {
            id: e.id.to_string(),
            source: e.source.to_string(),
            key: e.key,
            status: e.status.as_str().to_owned(),
            attempts: e.attempts,
            last_error: e.last_error,
            last_status: e.last_status,
            next_attempt_at_ms: e.next_attempt_at_ms,
            received_at_ms: e.received_at_ms,
            delivered_at_ms: e.delivered_at_ms,
            content_type: e.content_type,
            body_base64: body.then(|| base64::engine::general_purpose::STANDARD.encode(&e.body)),
        }
    }
}

/// A page of events.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    /// The events, newest first.
    pub items: Vec<EventView>,
    /// The next page's cursor.
    pub next: Option<String>,
}

/// `?source=&status=&since_ms=&until_ms=&include_body=&limit=&cursor=` of the event list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Only this source's.
    pub source: Option<String>,
    /// Only `pending`, `delivered` or `failed` ones.
    pub status: Option<String>,
    /// Only those arrived at or after (ms).
    pub since_ms: Option<i64>,
    /// Only those arrived before (ms).
    pub until_ms: Option<i64>,
    /// Include each body (base64).
    pub include_body: Option<bool>,
    /// Page size, 1..=200 (default 50).
    pub limit: Option<u32>,
    /// The `next` cursor of the previous page.
    pub cursor: Option<String>,
}

/// Filters of a bulk replay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayBody {
    /// Only this source's.
    pub source: Option<String>,
    /// Only `pending`, `delivered` or `failed` ones (default `failed`).
    pub status: Option<String>,
    /// Only those arrived at or after (ms).
    pub since_ms: Option<i64>,
    /// Only those arrived before (ms).
    pub until_ms: Option<i64>,
    /// Most events replayed, 1..=1000 (default 1000), newest first.
    pub max: Option<u32>,
}

/// A bulk replay's result.
#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    /// How many events were replayed.
    pub replayed: usize,
    /// Their ids.
    pub ids: Vec<String>,
}

/// A tenant's inbox in numbers.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsView {
    /// Pending events.
    pub pending: u64,
    /// Delivered (or acknowledged) events.
    pub delivered: u64,
    /// Failed events.
    pub failed: u64,
    /// Arrival of the oldest pending event (ms).
    pub oldest_pending_at_ms: Option<i64>,
}

impl From<InboxStats> for StatsView {
    fn from(s: InboxStats) -> Self {
        Self {
            pending: s.pending,
            delivered: s.delivered,
            failed: s.failed,
            oldest_pending_at_ms: s.oldest_pending_at_ms,
        }
    }
}

/// `?source=` of the stats.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// One source's only.
    pub source: Option<String>,
}

/// The filters of a list or replay, checked (every bad field named).
pub fn filters(
    source: Option<&str>,
    status: Option<&str>,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    page: PageRequest,
) -> Result<EventList, Problem> {
    let mut errs = Vec::new();
    let source = source.and_then(|s| {
        SourceName::parse(s)
            .map_err(|_| errs.push(FieldError::new("source", "1 to 64 of A-Z a-z 0-9 _ -")))
            .ok()
    });
    let status = status.and_then(|s| EventStatus::parse(s).map_err(|e| errs.push(e)).ok());
    if errs.is_empty() {
        Ok(EventList {
            source,
            status,
            since_ms,
            until_ms,
            page,
        })
    } else {
        Err(Problem::invalid(errs))
    }
}
