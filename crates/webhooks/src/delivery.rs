//! Delivery to the app: one durable job per event, run by [`Delivery`], a
//! [`JobHandler`] that POSTs the original body and content type through the safe-fetch
//! client with Palisade's Standard Webhooks signature.

use crate::model::{EventId, Source};
use crate::params::{Claim, EventClaim, EventSettle, Outcome};
use crate::seal::SecretBox;
use crate::store::InboxStore;
use crate::{metrics, sign};
use bytes::Bytes;
use http::{HeaderValue, Method};
use palisade_core::SharedClock;
use palisade_fetch::{FetchError, FetchRequest, Fetcher};
use palisade_jobs::params::FailOutcome;
use palisade_jobs::{
    HandlerError, JobContext, JobEnqueue, JobHandler, JobKind, QueueName, UniqueSpec, UniqueStates,
};
use std::sync::Arc;

/// The queue of delivery jobs.
pub const QUEUE: &str = "palisade.webhooks";
/// The kind of delivery jobs.
pub const KIND: &str = "webhook.deliver";
/// The secret id in the associated data of a source's delivery secret.
pub const DELIVERY_SECRET_ID: &str = "delivery";
/// Longest response body read from the target.
const MAX_RESPONSE: u64 = 64 * 1024;

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

/// A target's `Retry-After` value read at `now_ms`, as the delay it asks for (ms): either
/// delay-seconds (`120`) or an HTTP-date (`Wed, 21 Oct 2026 07:28:00 GMT`, and the obsolete
/// RFC 850 and asctime forms RFC 9110 makes recipients accept); a date in the past asks for no
/// delay. `None` for anything else (ignored).
pub fn retry_after_ms(value: &str, now_ms: i64) -> Option<i64> {
    let v = value.trim();
    if !v.is_empty() && v.len() <= 20 && v.bytes().all(|b| b.is_ascii_digit()) {
        // more digits than an i64 holds is "very long": the schedule's bound applies anyway
        return Some(
            v.parse::<i64>()
                .map_or(i64::MAX, |s| s.saturating_mul(1000)),
        );
    }
    if v.len() > 64 {
        return None;
    }
    let at = httpdate::parse_http_date(v).ok()?;
    let at_ms = at
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())?;
    Some(at_ms.saturating_sub(now_ms).max(0))
}

/// The outcome of attempt `attempt` (from 1) that got `status` (or failed with `error`) at
/// `now_ms`: retried after the schedule's delay, or after the delay the target's
/// `Retry-After` asks (`retry_after_ms`, see [`retry_after_ms`]) when that is longer — at most
/// the schedule's longest delay; failed after the last.
pub fn outcome_of(
    status: Option<u16>,
    retry_after_ms: Option<i64>,
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
    let longest = delays_ms.iter().copied().max().unwrap_or(0);
    let asked = retry_after_ms.unwrap_or(0).clamp(0, longest);
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
        let ts = now_ms.div_euclid(1000);
        // the current secret's signature, then the previous one's during a rotation's grace:
        // Standard Webhooks verifiers accept a header of several, space-separated
        let secrets = &source.delivery_secret;
        let sealed = std::iter::once(&secrets.current).chain(secrets.previous_at(now_ms));
        let mut sigs = Vec::with_capacity(2);
        for s in sealed {
            let secret = String::from_utf8(self.keys.open(s, &aad).ok()?).ok()?;
            sigs.push(sign::signature(
                &secret,
                event.id.as_str(),
                ts,
                &event.body,
            )?);
        }
        let sig = sigs.join(" ");
        let ct = event
            .content_type
            .as_deref()
            .and_then(|c| HeaderValue::from_str(c).ok())
            .unwrap_or(HeaderValue::from_static("application/octet-stream"));
        let headers = sign::headers(ct, event.id.as_str(), ts, &sig)?;
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
                        .and_then(|v| retry_after_ms(v, self.clock.now_ms()));
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
            outcome_of(Some(429), Some(60_000), "x".into(), 1, &d, now),
            retry(61_000, Some(429))
        );
        // shorter than the schedule's delay: the schedule's
        assert_eq!(
            outcome_of(Some(429), Some(1_000), "x".into(), 1, &d, now),
            retry(6_000, Some(429))
        );
        // longer than the schedule's longest delay: that one
        assert_eq!(
            outcome_of(Some(429), Some(i64::MAX), "x".into(), 1, &d, now),
            retry(301_000, Some(429))
        );
        assert_eq!(
            outcome_of(Some(503), Some(-5), "x".into(), 1, &d, now),
            retry(6_000, Some(503))
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
    fn retry_after_as_seconds_or_http_date() {
        // 2015-10-21T07:28:00Z
        let at = 1_445_412_480_000;
        assert_eq!(retry_after_ms("120", at), Some(120_000));
        assert_eq!(retry_after_ms(" 0 ", at), Some(0));
        assert_eq!(
            retry_after_ms("99999999999999999999", at),
            Some(i64::MAX),
            "too many digits for an i64: as long as can be"
        );
        let imf = "Wed, 21 Oct 2015 07:28:30 GMT";
        assert_eq!(retry_after_ms(imf, at), Some(30_000));
        assert_eq!(
            retry_after_ms("Wednesday, 21-Oct-15 07:29:00 GMT", at),
            Some(60_000)
        );
        assert_eq!(retry_after_ms("Wed Oct 21 07:28:10 2015", at), Some(10_000));
        assert_eq!(retry_after_ms(imf, at + 60_000), Some(0), "a past date");
        for bad in [
            "",
            "-5",
            "1.5",
            "soon",
            "Wed, 21 Oct 2015 07:28:30 PST",
            "12 s",
        ] {
            assert_eq!(retry_after_ms(bad, at), None, "{bad:?}");
        }
    }

    #[test]
    fn job_is_unique_per_event() {
        let id = EventId::generate(1);
        let j = delivery_job(&id);
        assert_eq!(j.unique.unwrap().key, format!("whk:{id}"));
        assert_eq!(j.queue.as_str(), QUEUE);
    }
}
