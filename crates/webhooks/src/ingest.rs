//! Ingress, in its fixed order: size limit → signature → timestamp → replay guard with the
//! durable insert. A request that fails a step never reaches the next, so a forged request
//! never touches the replay guard.

use crate::error::WebhookError;
use crate::model::{Event, EventIdRule, Source, SourceName, MAX_KEY};
use crate::params::Inserted;
use crate::seal::SecretBox;
use crate::store::InboxStore;
use crate::verify::{verify, Inbound, Verified};
use palisade_core::TenantId;
use sha2::{Digest, Sha256};

/// The source a request names; [`WebhookError::NotFound`] alike for an unknown tenant,
/// another tenant's source and a missing one.
pub async fn source_for(
    store: &dyn InboxStore,
    tenant: &str,
    name: &str,
) -> Result<Source, WebhookError> {
    let (Ok(tenant), Ok(name)) = (TenantId::parse(tenant), SourceName::parse(name)) else {
        return Err(WebhookError::NotFound);
    };
    store
        .source_get(&tenant, &name)
        .await?
        .ok_or(WebhookError::NotFound)
}

/// Step 1: the body size (declared or read) against the source's limit.
pub fn size_check(source: &Source, len: u64) -> Result<(), WebhookError> {
    let limit = u64::from(source.max_body_bytes);
    if len > limit {
        return Err(WebhookError::TooLarge { limit });
    }
    Ok(())
}

/// The source's secrets active at `now_ms`, opened.
pub fn secrets_open(
    keys: &SecretBox,
    source: &Source,
    now_ms: i64,
) -> Result<Vec<Vec<u8>>, WebhookError> {
    source
        .secrets
        .iter()
        .filter(|s| s.is_active(now_ms))
        .map(|s| {
            let aad = Source::aad(&source.tenant, &source.name, &s.id);
            keys.open(&s.sealed, &aad)
                .map_err(|_| WebhookError::KeyUnavailable)
        })
        .collect()
}

/// Step 3: a signed timestamp (Unix seconds) within `tolerance_secs` behind and
/// `skew_secs` ahead of `now_ms`.
pub fn timestamp_check(
    ts: Option<i64>,
    tolerance_secs: i64,
    skew_secs: i64,
    now_ms: i64,
) -> Result<(), WebhookError> {
    let Some(ts) = ts else { return Ok(()) };
    let now = now_ms.div_euclid(1000);
    if ts.saturating_add(tolerance_secs) < now {
        return Err(WebhookError::TimestampStale);
    }
    if ts > now.saturating_add(skew_secs) {
        return Err(WebhookError::TimestampFuture);
    }
    Ok(())
}

/// The replay-guard key of a verified request by the source's rule: `id:<signed id>`,
/// `body:<field>` or `sha256:<hex of the signed content>`; a key longer than
/// [`MAX_KEY`] is stored as its digest.
pub fn event_key(rule: &EventIdRule, v: &Verified, body: &[u8]) -> String {
    let digest = || format!("sha256:{}", hex::encode(v.digest));
    let key = match rule {
        EventIdRule::Digest => return digest(),
        EventIdRule::Provider => match &v.id {
            Some(id) => format!("id:{id}"),
            None => return digest(),
        },
        EventIdRule::BodyField { pointer } => {
            let field = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|j| match j.pointer(pointer) {
                    Some(serde_json::Value::String(s)) => Some(s.clone()),
                    Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                });
            match field {
                Some(f) => format!("body:{f}"),
                None => return digest(),
            }
        }
    };
    if key.chars().count() > MAX_KEY || key.chars().any(char::is_control) {
        format!("sha256:{}", hex::encode(Sha256::digest(key.as_bytes())))
    } else {
        key
    }
}

/// Runs steps 1 to 4 for a request to `source` at `now_ms`: the stored event (or the
/// earlier one, as a duplicate).
pub async fn ingest(
    store: &dyn InboxStore,
    keys: &SecretBox,
    skew_secs: i64,
    source: &Source,
    req: &Inbound<'_>,
    now_ms: i64,
) -> Result<Inserted, WebhookError> {
    let event = verified_event(keys, skew_secs, source, req, now_ms)?;
    store.event_insert(event, source.pushes()).await
}

/// Steps 1 to 3 for a request to `source` at `now_ms` (size, signature, timestamp): the event
/// to store, with its replay-guard key.
pub fn verified_event(
    keys: &SecretBox,
    skew_secs: i64,
    source: &Source,
    req: &Inbound<'_>,
    now_ms: i64,
) -> Result<Event, WebhookError> {
    size_check(source, req.body.len() as u64)?;
    let secrets = secrets_open(keys, source, now_ms)?;
    let refs: Vec<&[u8]> = secrets.iter().map(Vec::as_slice).collect();
    let verified = verify(&source.provider, &refs, req).map_err(WebhookError::Signature)?;
    timestamp_check(
        verified.timestamp,
        i64::from(source.tolerance_secs),
        skew_secs,
        now_ms,
    )?;
    let key = event_key(&source.event_id, &verified, req.body);
    let content_type = req
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 200)
        .map(str::to_owned);
    Ok(Event::new(
        source,
        key,
        content_type,
        req.body.to_vec(),
        now_ms,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(id: Option<&str>) -> Verified {
        Verified {
            timestamp: Some(0),
            id: id.map(str::to_owned),
            digest: [7u8; 32],
        }
    }

    #[test]
    fn timestamps_stale_and_future() {
        let now = 1_000_000_000;
        assert!(timestamp_check(Some(1_000_000 - 300), 300, 60, now).is_ok());
        assert!(matches!(
            timestamp_check(Some(1_000_000 - 301), 300, 60, now),
            Err(WebhookError::TimestampStale)
        ));
        assert!(timestamp_check(Some(1_000_000 + 60), 300, 60, now).is_ok());
        assert!(matches!(
            timestamp_check(Some(1_000_000 + 61), 300, 60, now),
            Err(WebhookError::TimestampFuture)
        ));
        assert!(matches!(
            timestamp_check(Some(i64::MIN), 300, 60, now),
            Err(WebhookError::TimestampStale)
        ));
        assert!(matches!(
            timestamp_check(Some(i64::MAX), 300, 60, now),
            Err(WebhookError::TimestampFuture)
        ));
        assert!(timestamp_check(None, 300, 60, now).is_ok());
    }

    #[test]
    fn keys_by_rule() {
        let v = verified(Some("msg_1"));
        assert_eq!(event_key(&EventIdRule::Provider, &v, b""), "id:msg_1");
        let d = event_key(&EventIdRule::Digest, &v, b"");
        assert_eq!(d, format!("sha256:{}", "07".repeat(32)));
        assert_eq!(event_key(&EventIdRule::Provider, &verified(None), b""), d);
        let rule = EventIdRule::BodyField {
            pointer: "/data/id".into(),
        };
        assert_eq!(
            event_key(&rule, &v, br#"{"data":{"id":"ev_9"}}"#),
            "body:ev_9"
        );
        assert_eq!(event_key(&rule, &v, br#"{"data":{"id":42}}"#), "body:42");
        assert_eq!(event_key(&rule, &v, b"\xff not json"), d);
        let long = "x".repeat(300);
        let k = event_key(&EventIdRule::Provider, &verified(Some(&long)), b"");
        assert!(k.starts_with("sha256:") && k.len() == 71);
    }
}
