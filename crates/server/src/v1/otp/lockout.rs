//! The lockout webhook (`otp.lockout_webhook_url`): each lockout becomes a durable job whose
//! handler POSTs a Standard Webhooks–signed notice through the safe-fetch client, retried by
//! the job's backoff until the app answers 2xx.

use axum::body::Bytes;
use http::{HeaderValue, Method};
use palisade_core::sensitive::{SecretString, SecretUrl};
use palisade_core::{Maintenance, SharedClock};
use palisade_fetch::{FetchRequest, Fetcher};
use palisade_jobs::{
    Burst, HandlerError, JobContext, JobEnqueue, JobHandler, JobKind, JobStore, QueueName,
    UniqueSpec, UniqueStates,
};
use palisade_otp::{LockoutNotice, LockoutNotifier};
use std::sync::Arc;
use std::time::Duration;

/// The queue of lockout notices.
const QUEUE: &str = "palisade.otp";
/// The kind of lockout notices.
const KIND: &str = "otp.lockout_notice";
/// Attempts before a notice is dead: the backoff (1 s doubling, at most 1 h) spreads them over
/// about 15 hours.
const ATTEMPTS: u32 = 20;
/// Longest answer read from the app.
const MAX_RESPONSE: u64 = 16 * 1024;

fn job_type() -> (QueueName, JobKind) {
    (
        QueueName::parse(QUEUE).expect("a valid queue"),
        JobKind::parse(KIND).expect("a valid kind"),
    )
}

/// Enqueues a notice job per lockout (unique per identity and lockout end, so one lockout is
/// one notice).
#[derive(Debug)]
pub struct LockoutJobs {
    /// The jobs store.
    pub jobs: Arc<dyn JobStore>,
}

#[async_trait::async_trait]
impl LockoutNotifier for LockoutJobs {
    async fn lockout_notify(&self, notice: LockoutNotice) {
        let (queue, kind) = job_type();
        let unique = format!(
            "otp-lockout:{}:{}",
            notice.identity_hash, notice.locked_until_ms
        );
        let payload = serde_json::to_value(&notice).expect("a notice serializes");
        let mut job = JobEnqueue::new(queue, kind, payload);
        job.max_attempts = ATTEMPTS;
        job.unique = Some(UniqueSpec {
            key: unique,
            states: UniqueStates::UNFINISHED,
            period_ms: None,
        });
        if let Err(e) = self.jobs.job_enqueue(&notice.tenant, job).await {
            // the audit event is recorded; only the webhook is lost
            tracing::error!(tenant = %notice.tenant, error = %e, "OTP lockout webhook not enqueued");
        }
    }
}

/// Sends lockout notices to the app.
pub struct LockoutSender {
    fetcher: Fetcher,
    url: SecretUrl,
    secret: SecretString,
    clock: SharedClock,
}

impl std::fmt::Debug for LockoutSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockoutSender")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl LockoutSender {
    /// The body and headers of `job`'s notice, signed at `now_ms`.
    fn request(&self, id: &str, notice: &LockoutNotice, now_ms: i64) -> Option<FetchRequest> {
        let body = serde_json::to_vec(&serde_json::json!({
            "type": "otp.lockout",
            "tenant": notice.tenant,
            "identity_hash": notice.identity_hash,
            "failures": notice.failures,
            "locked_until_ms": notice.locked_until_ms,
        }))
        .ok()?;
        let ts = now_ms.div_euclid(1000);
        let sig = palisade_webhooks::sign::signature(self.secret.expose(), id, ts, &body)?;
        let json = HeaderValue::from_static("application/json");
        let headers = palisade_webhooks::sign::headers(json, id, ts, &sig)?;
        let mut req = FetchRequest::get(self.url.expose())
            .for_tenant(notice.tenant.clone())
            .on_behalf("otp_lockout", None);
        req.method = Method::POST;
        req.headers = headers;
        req.body = Some(Bytes::from(body));
        req.max_body = Some(MAX_RESPONSE);
        Some(req)
    }
}

#[async_trait::async_trait]
impl JobHandler for LockoutSender {
    async fn run(&self, ctx: JobContext) -> Result<(), HandlerError> {
        let job = ctx.job();
        let notice: LockoutNotice = serde_json::from_value(job.payload.clone())
            .map_err(|_| HandlerError::give_up("the job holds no lockout notice"))?;
        let req = self
            .request(job.id.as_str(), &notice, self.clock.now_ms())
            .ok_or_else(|| HandlerError::give_up("the notice cannot be signed"))?;
        match self.fetcher.fetch(req).await {
            Ok(r) if r.status.is_success() => Ok(()),
            Ok(r) => Err(HandlerError::retry(format!(
                "the app answered {}",
                r.status.as_u16()
            ))),
            Err(e) => Err(HandlerError::retry(format!(
                "the delivery failed ({})",
                e.code()
            ))),
        }
    }
}

/// The runner of lockout notices when `otp.lockout_webhook_url` is set.
pub fn sender(
    cfg: &crate::config::Config,
    jobs: Arc<dyn JobStore>,
    fetcher: Fetcher,
    clock: SharedClock,
) -> Option<Arc<dyn Maintenance>> {
    let s = &cfg.otp;
    let (url, secret) = (
        s.lockout_webhook_url.clone()?,
        s.lockout_webhook_secret.clone()?,
    );
    let handler = LockoutSender {
        fetcher,
        url,
        secret,
        clock,
    };
    let burst = Burst::new("otp_lockout_notify", jobs, job_type(), Arc::new(handler))
        .poll(Duration::from_millis(250));
    Some(Arc::new(burst))
}
