//! Inbound webhooks over HTTP: the public ingress `POST /hooks/{tenant}/{source}` (the
//! signature is the authentication) and `/v1/webhooks` (tenant key): sources with write-only
//! secrets and their rotation, the inbox's events, replay, acknowledgement (pull) and stats.
//!
//! Ingress answers 2xx only once the event is durably stored with its delivery job; every
//! refusal is problem+json with a stable code, an audit event (`webhook.signature_invalid`
//! with the reason) and `palisade_webhooks_ingress_total{provider,result}`. Another tenant's
//! source or event is a 404 like a missing one. See docs/webhooks.md.

mod dto;
mod events;
mod ingress;
mod sources;

use crate::app::Capability;
use crate::audit::Audit;
use crate::config::Config;
use crate::error::ApiError;
use crate::state::AppState;
use crate::stores::Stores;
use palisade_core::{Maintenance, SystemClock};
use palisade_fetch::Fetcher;
use palisade_jobs::{Burst, JobKind, QueueName};
use palisade_webhooks::{delivery, Delivery, Dispatcher, Pruner, Resumer, WebhookError, Webhooks};
use std::sync::Arc;
use std::time::Duration;
use utoipa_axum::router::OpenApiRouter;

/// The `/v1/webhooks` routes (tenant-authenticated).
pub fn routes() -> OpenApiRouter<AppState> {
    sources::routes().merge(events::routes())
}

/// Inbound webhooks as the server hosts them: the ingress route, the API, the delivery
/// runner and the retention sweep.
pub const CAPABILITY: Capability = Capability {
    name: "webhooks",
    operator_routes: crate::app::none,
    tenant_routes: routes,
    public_routes: ingress::routes,
    maintenance,
};

/// The runtime over the durable store, with the sealing keys of `[webhooks]` (the key file
/// in the data directory when no key is configured), and the sources the configuration
/// declares created or updated.
pub async fn start(cfg: &Config, stores: &Stores, audit: &Audit) -> Result<Webhooks, String> {
    let keys = cfg.webhooks.secret_box(&cfg.data_dir)?;
    if cfg.is_postgres() && cfg.webhooks.secret_key.is_none() {
        tracing::warn!(
            "webhooks.secret_key is not set: source secrets are sealed with the key file in \
             the data directory; every instance sharing the database needs the same key"
        );
    }
    let w = Webhooks::new(
        stores.durable.clone(),
        Arc::new(keys),
        cfg.webhooks.clone(),
        SystemClock::shared(),
        audit.sink(),
    );
    // the error names fields and codes only, never a secret
    let written = w
        .sources_declare(&cfg.webhooks.sources)
        .await
        .map_err(|e| match e {
            WebhookError::Invalid(f) => {
                let f: Vec<String> = f
                    .iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect();
                format!("webhooks: declared sources: {}", f.join("; "))
            }
            e => format!("webhooks: declared sources: {e}"),
        })?;
    if written > 0 {
        tracing::info!(written, "webhooks: declared sources created or updated");
    }
    Ok(w)
}

fn maintenance(state: &AppState) -> Vec<Arc<dyn Maintenance>> {
    let w = &state.webhooks;
    let fetcher = match Fetcher::builder(state.config.fetch.clone())
        .audit(state.audit.sink())
        .build()
    {
        Ok(f) => f,
        Err(_) => {
            tracing::error!("webhooks: the outbound client could not start; no deliveries");
            return vec![dispatcher(w), pruner(w), resumer(w)];
        }
    };
    let hold = w.settings.delivery_timeout;
    let handler = Delivery::new(
        w.store.clone(),
        fetcher,
        w.keys.clone(),
        w.settings.retry_delays_ms(),
        hold.as_millis() as i64,
        w.clock.clone(),
    );
    let job = (
        QueueName::parse(delivery::QUEUE).expect("a valid queue"),
        JobKind::parse(delivery::KIND).expect("a valid kind"),
    );
    let deliverer = Burst::new(
        "webhooks_deliver",
        state.jobs.store.clone(),
        job,
        Arc::new(handler),
    )
    .wake_on(w.wake.clone())
    .workers(w.settings.delivery_workers)
    .grace(hold);
    vec![Arc::new(deliverer), dispatcher(w), pruner(w), resumer(w)]
}

/// Pushed events get their delivery jobs at once when this process took them, else within
/// 200 ms.
fn dispatcher(w: &Webhooks) -> Arc<dyn Maintenance> {
    Arc::new(Dispatcher::new(
        w.store.clone(),
        Duration::from_millis(200),
        w.dispatch.clone(),
        w.wake.clone(),
    ))
}

/// Every 30 s, events due for over a minute without an attempt get their job back.
fn resumer(w: &Webhooks) -> Arc<dyn Maintenance> {
    Arc::new(Resumer::new(
        w.store.clone(),
        w.clock.clone(),
        Duration::from_secs(60),
        Duration::from_secs(30),
        w.wake.clone(),
    ))
}

fn pruner(w: &Webhooks) -> Arc<dyn Maintenance> {
    let every = Duration::from_secs(60);
    Arc::new(Pruner::new(
        w.store.clone(),
        w.clock.clone(),
        w.settings.retention,
        every,
    ))
}

/// A webhook error as the API answers it (store detail only in the log).
fn api(e: WebhookError) -> ApiError {
    match e {
        WebhookError::Store(s) => ApiError::Store(s),
        other => ApiError::Problem(other.problem()),
    }
}
