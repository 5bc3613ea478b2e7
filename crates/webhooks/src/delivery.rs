//! Delivery to the app: one durable job per event, run by [`Delivery`], a
//! [`JobHandler`] that POSTs the original body and content type through the safe-fetch
//! client with Palisade's Standard Webhooks signature.

use crate::model::{EventId, Source};
use crate::params::{Claim, EventClaim, EventSettle, Outcome};
use crate::seal::SecretBox;
use crate::store::InboxStore;
use crate::{metrics, sign};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use palisade_core::SharedClock;
use palisade_fetch::{FetchError, FetchRequest, Fetcher};
use palisade_jobs::params::FailOutcome;
use palisade_jobs::{
    HandlerError, JobContext, JobEnqueue, JobHandler, JobKind, QueueName, UniqueSpec, UniqueStates,
};
use std::sync::Arc;

/// The queue of delivery jobs.
pub const QUEUE: &str = "webhooks";
/// The kind of delivery jobs.
pub const KIND: &str = "webhook.deliver";
/// The secret id in the associated data of a source's delivery secret.
pub const DELIVERY_SECRET_ID: &str = "delivery";
/// Longest response body read from the target.
const MAX_RESPONSE: u64 = 64 * 1024;
/// Longest `Retry-After` honoured.
const MAX_RETRY_AFTER_MS: i64 = 24 * 3_600_000;

/// The delivery job of `event`: unique per event while unfinished, so an insert, a replay and
/// an ordered source's hand-on never make two live jobs of one event. Its many attempts only
/// bound waiting turns: the event's own attempt count decides when it fails.
pub fn delivery_job(event: &EventId) -> JobEnqueue {
    let mut j = JobEnqueue::new(
        QueueName::parse(QUEUE).expect("a valid queue"),
        JobKind::parse(KIND).expect("a valid kind"),
        serde_json::json!({ "event": event }),
    );
    j.max_attempts = palisade_jobs::params::MAX_ATTEMPTS;
    j.lease_ms = 120_000;
    j.timeout_ms = 600_000;
    j.unique = Some(UniqueSpec {
        key: format!("whk:{event}"),
        states: UniqueStates::UNFINISHED,
        period_ms: None,
    });
    j
}

/// The outcome of attempt `attempt` (from 1) that got `status` (or failed with `error`) at
/// `now_ms`: retried after the schedule's delay (or the target's `Retry-After` when longer),
/// failed after the last.
pub fn outcome_of(
    status: Option<u16>,
    retry_after_secs: Option<i64>,
    error: String,
    attempt: u32,
    delays_ms: &[i64],
    now_ms: i64,
) -> Outcome {
    match status {
        Some(s) if (200..300).contains(&s) => return Outcome::Delivered { status: s },
        Some(410) => return Outcome::Gone,
        _ => {}
    }
    let Some(delay) = delays_ms.get(attempt.saturating_sub(1) as usize) else {
        return Outcome::Failed { error, status };
    };
    let asked = retry_after_secs
        .map(|s| s.saturating_mul(1000).clamp(0, MAX_RETRY_AFTER_MS))
        .unwrap_or(0);
    Outcome::Retry {
        at_ms: now_ms + (*delay).max(asked),
        error,
        status,
    }
}

/// Runs delivery jobs.
#[derive(Clone)]
pub struct Delivery {
    store: Arc<dyn InboxStore>,
    fetcher: Fetcher,
    keys: Arc<SecretBox>,
    delays_ms: Vec<i64>,
    hold_ms: i64,
    clock: SharedClock,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("delays_ms", &self.delays_ms)
            .finish_non_exhaustive()
    }
}

impl Delivery {
    /// A handler over `store`, sending with `fetcher`, retrying after `delays_ms`, each
    /// attempt holding its event at most `hold_ms`.
    pub fn new(
        store: Arc<dyn InboxStore>,
        fetcher: Fetcher,
        keys: Arc<SecretBox>,
        delays_ms: Vec<i64>,
        hold_ms: i64,
        clock: SharedClock,
    ) -> Self {
        Self {
            store,
            fetcher,
            keys,
            delays_ms,
            hold_ms,
            clock,
        }
    }

    /// The signed POST of `event` to its source's target.
    fn request(
        &self,
        source: &Source,
        event: &crate::model::Event,
        now_ms: i64,
    ) -> Option<FetchRequest> {
        let target = source.target.as_ref()?;
        let aad = Source::aad(&source.tenant, &source.name, DELIVERY_SECRET_ID);
        let secret = self.keys.open(&source.delivery_secret, &aad).ok()?;
        let secret = String::from_utf8(secret).ok()?;
        let ts = now_ms.div_euclid(1000);
        let sig = sign::signature(&secret, event.id.as_str(), ts, &event.body)?;
        let mut headers = HeaderMap::new();
        let ct = event
            .content_type
            .as_deref()
            .and_then(|c| HeaderValue::from_str(c).ok())
            .unwrap_or(HeaderValue::from_static("application/octet-stream"));
        headers.insert(http::header::CONTENT_TYPE, ct);
        headers.insert("webhook-id", HeaderValue::from_str(event.id.as_str()).ok()?);
        headers.insert("webhook-timestamp", HeaderValue::from(ts));
        headers.insert("webhook-signature", HeaderValue::from_str(&sig).ok()?);
        let mut req = FetchRequest::get(target.url.clone())
            .for_tenant(source.tenant.clone())
            .on_behalf("webhook", None);
        req.method = Method::POST;
        req.headers = headers;
        req.body = Some(Bytes::from(event.body.clone()));
        req.max_body = Some(MAX_RESPONSE);
        Some(req)
    }

    /// Sends a granted event; settles it by the answer.
    async fn attempt(
        &self,
        source: &Source,
        event: &crate::model::Event,
        token: String,
    ) -> Result<(), HandlerError> {
        let now = self.clock.now_ms();
        let (status, retry_after, error) = match self.request(source, event, now) {
            None => (None, None, "the delivery secret cannot be read".to_owned()),
            Some(req) => match self.fetcher.fetch(req).await {
                Ok(r) => {
                    let ra = r
                        .headers
                        .get(http::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<i64>().ok());
                    let s = r.status.as_u16();
                    (Some(s), ra, format!("the target answered {s}"))
                }
                Err(e) => (None, None, fetch_error(&e)),
            },
        };
        let now = self.clock.now_ms();
        let outcome = outcome_of(
            status,
            retry_after,
            error,
            event.attempts,
            &self.delays_ms,
            now,
        );
        metrics::delivered(&outcome);
        let settle = EventSettle {
            id: event.id.clone(),
            token,
            now_ms: now,
            outcome: outcome.clone(),
        };
        let settled = self.settle(&source.tenant, &settle).await?;
        match (settled, outcome) {
            (None, _) => Ok(()),
            (Some(_), Outcome::Retry { at_ms, error, .. }) => Err(HandlerError {
                message: error,
                outcome: FailOutcome::RetryAt(at_ms),
            }),
            (Some(_), Outcome::Failed { error, .. }) => Err(HandlerError::give_up(error)),
            (Some(_), _) => Ok(()),
        }
    }
}

impl Delivery {
    /// Settles, trying a retryable store failure again for a few seconds: the target has the
    /// event, and an unsettled claim would deliver it again once its hold ends.
    async fn settle(
        &self,
        tenant: &palisade_core::TenantId,
        req: &EventSettle,
    ) -> Result<Option<crate::model::Event>, HandlerError> {
        let mut pause = std::time::Duration::from_millis(100);
        for _ in 0..6 {
            match self.store.event_settle(tenant, req).await {
                Err(e) if e.is_retryable() => {
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                r => return r.map_err(|e| HandlerError::retry(format!("settling the event: {e}"))),
            }
        }
        Err(HandlerError::retry(
            "settling the event: the store stayed unavailable",
        ))
    }
}

fn fetch_error(e: &FetchError) -> String {
    format!("the delivery failed ({})", e.code())
}

#[async_trait::async_trait]
impl JobHandler for Delivery {
    async fn run(&self, ctx: JobContext) -> Result<(), HandlerError> {
        let job = ctx.job();
        let id = job
            .payload
            .get("event")
            .and_then(|v| v.as_str())
            .and_then(|s| EventId::parse(s).ok())
            .ok_or_else(|| HandlerError::give_up("the job names no event"))?;
        let token = palisade_core::secret::random_token(20);
        let claim = EventClaim {
            id,
            token: token.clone(),
            now_ms: self.clock.now_ms(),
            hold_ms: self.hold_ms,
        };
        let claimed = self
            .store
            .event_claim(&job.tenant, &claim)
            .await
            .map_err(|e| HandlerError::retry(format!("claiming the event: {e}")))?;
        match claimed {
            Claim::Settled | Claim::Paused | Claim::Blocked | Claim::Busy => Ok(()),
            Claim::Wait(at) => Err(HandlerError {
                message: "waiting for the source's turn".into(),
                outcome: FailOutcome::RetryAt(at),
            }),
            Claim::Granted { event, source } => self.attempt(&source, &event, token).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_follow_status_schedule_and_retry_after() {
        let d = [5_000, 300_000];
        let now = 1_000;
        assert_eq!(
            outcome_of(Some(204), None, "x".into(), 1, &d, now),
            Outcome::Delivered { status: 204 }
        );
        assert_eq!(
            outcome_of(Some(410), None, "x".into(), 1, &d, now),
            Outcome::Gone
        );
        let retry = |at_ms, status| Outcome::Retry {
            at_ms,
            error: "x".into(),
            status,
        };
        assert_eq!(
            outcome_of(Some(500), None, "x".into(), 1, &d, now),
            retry(6_000, Some(500))
        );
        assert_eq!(
            outcome_of(None, None, "x".into(), 2, &d, now),
            retry(301_000, None)
        );
        assert_eq!(
            outcome_of(Some(429), Some(60), "x".into(), 1, &d, now),
            retry(61_000, Some(429))
        );
        assert_eq!(
            outcome_of(Some(429), Some(i64::MAX), "x".into(), 1, &d, now),
            retry(1_000 + MAX_RETRY_AFTER_MS, Some(429))
        );
        assert_eq!(
            outcome_of(Some(500), None, "x".into(), 3, &d, now),
            Outcome::Failed {
                error: "x".into(),
                status: Some(500)
            }
        );
    }

    #[test]
    fn job_is_unique_per_event() {
        let id = EventId::generate(1);
        let j = delivery_job(&id);
        assert_eq!(j.unique.unwrap().key, format!("whk:{id}"));
        assert_eq!(j.queue.as_str(), QUEUE);
    }
}
