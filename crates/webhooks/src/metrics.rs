//! The webhooks metrics, with bounded labels: the provider's kind and a fixed result or
//! reason — never a tenant's or a source's name.

use crate::error::WebhookError;
use crate::params::{Inserted, Outcome};
use crate::verify::Provider;

/// The provider's kind as a label (`standard_webhooks`); `unknown` without a source.
pub fn provider_label(p: Option<&Provider>) -> String {
    p.and_then(|p| serde_json::to_value(p).ok())
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

/// One ingress request: `palisade_webhooks_ingress_total{provider, result}`, the result
/// `accepted`, `duplicate` or the refusal's reason.
pub fn ingress(provider: Option<&Provider>, r: &Result<Inserted, WebhookError>) {
    let result = match r {
        Ok(i) if i.duplicate => "duplicate",
        Ok(_) => "accepted",
        Err(e) => e.reason(),
    };
    metrics::counter!(
        "palisade_webhooks_ingress_total",
        "provider" => provider_label(provider),
        "result" => result
    )
    .increment(1);
}

/// One delivery attempt: `palisade_webhooks_deliveries_total{result}`.
pub fn delivered(o: &Outcome) {
    let result = match o {
        Outcome::Delivered { .. } => "delivered",
        Outcome::Retry { .. } => "retry",
        Outcome::Failed { .. } => "failed",
        Outcome::Gone => "gone",
    };
    metrics::counter!("palisade_webhooks_deliveries_total", "result" => result).increment(1);
}
