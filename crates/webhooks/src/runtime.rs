//! [`Webhooks`]: the capability's runtime — ingress with its audit events and metrics, and
//! source management with secrets sealed before they reach the store.

use crate::error::WebhookError;
use crate::ingest;
use crate::inserter::Inserter;
use crate::model::{EventIdRule, Source, SourceName, SourceSecret, Target, MAX_SECRETS};
use crate::params::Inserted;
use crate::seal::SecretBox;
use crate::settings::WebhooksSettings;
use crate::store::InboxStore;
use crate::verify::{Inbound, Provider};
use crate::{delivery, metrics, sign};
use palisade_core::{
    AuditEvent, AuditEventType, FieldError, SharedAuditSink, SharedClock, TenantId,
};
use std::sync::{Arc, OnceLock};
use tokio::sync::Notify;

/// A source as a caller asks for it (secrets in the clear, sealed on the way in).
#[derive(Clone, Debug)]
pub struct SourceSpec {
    /// Its name.
    pub name: SourceName,
    /// The signature scheme.
    pub provider: Provider,
    /// Its first secrets (at least one).
    pub secrets: Vec<String>,
    /// Timestamp tolerance (s); default `webhooks.default_tolerance`.
    pub tolerance_secs: Option<u32>,
    /// Body limit; default `webhooks.default_max_body`.
    pub max_body_bytes: Option<u32>,
    /// The event-id rule.
    pub event_id: EventIdRule,
    /// Push delivery, or `None` to pull.
    pub target: Option<Target>,
}

/// The webhooks runtime.
#[derive(Debug, Clone)]
pub struct Webhooks {
    /// The inbox.
    pub store: Arc<dyn InboxStore>,
    /// The sealing keys.
    pub keys: Arc<SecretBox>,
    /// The settings.
    pub settings: WebhooksSettings,
    /// The clock.
    pub clock: SharedClock,
    /// Where refusals are recorded.
    pub audit: SharedAuditSink,
    /// Notified when delivery jobs were made: wakes the delivery worker.
    pub wake: Arc<Notify>,
    /// Notified on every new pushed event: wakes the dispatch ([`crate::Dispatcher`]).
    pub dispatch: Arc<Notify>,
    /// Ingress's grouped inserts (on a store that prefers them), started by the first ingress.
    inserter: Arc<OnceLock<Inserter>>,
}

impl Webhooks {
    /// The runtime.
    pub fn new(
        store: Arc<dyn InboxStore>,
        keys: Arc<SecretBox>,
        settings: WebhooksSettings,
        clock: SharedClock,
        audit: SharedAuditSink,
    ) -> Self {
        Self {
            store,
            keys,
            settings,
            clock,
            audit,
            wake: Arc::new(Notify::new()),
            dispatch: Arc::new(Notify::new()),
            inserter: Arc::new(OnceLock::new()),
        }
    }

    /// Records the end of an ingress request to `source` (`None`: unknown): the metric, and
    /// an audit event for a refusal (scoped to the source's tenant when there is a source).
    pub fn ingress_record(&self, source: Option<&Source>, r: &Result<Inserted, WebhookError>) {
        metrics::ingress(source.map(|s| &s.provider), r);
        match r {
            // a grouped insert made the job itself (`event_insert_many`): wake its runner
            Ok(i) if !i.duplicate && source.is_some_and(Source::pushes) => {
                match self.store.event_insert_grouped() {
                    true => self.wake.notify_one(),
                    false => self.dispatch.notify_one(),
                }
            }
            Ok(_) => {}
            Err(e) if e.is_retryable() => {}
            Err(e) => {
                let mut ev = AuditEvent::new(AuditEventType::WebhookSignatureInvalid).detail(
                    serde_json::json!({
                        "reason": e.reason(),
                        "code": e.code(),
                        "source": source.map(|s| s.name.as_str()),
                    }),
                );
                if let Some(s) = source {
                    ev = ev.tenant(&s.tenant);
                }
                self.audit.audit_record(ev);
            }
        }
    }

    /// Steps 2 to 4 of ingress for a body already read within the source's limit.
    pub async fn receive(
        &self,
        source: &Source,
        req: &Inbound<'_>,
    ) -> Result<Inserted, WebhookError> {
        let skew = self.settings.max_future_skew.as_secs() as i64;
        let now = self.clock.now_ms();
        let event = ingest::verified_event(&self.keys, skew, source, req, now)?;
        if !self.store.event_insert_grouped() {
            return self.store.event_insert(event, source.pushes()).await;
        }
        let inserter = self
            .inserter
            .get_or_init(|| Inserter::start(self.store.clone()));
        inserter.insert(event, source.pushes()).await
    }

    pub(crate) fn secret_seal(
        &self,
        tenant: &TenantId,
        name: &SourceName,
        plain: &str,
    ) -> SourceSecret {
        let id = format!("sec_{}", palisade_core::secret::random_token(16));
        let aad = Source::aad(tenant, name, &id);
        SourceSecret {
            sealed: self.keys.seal(plain.as_bytes(), &aad),
            id,
            created_at_ms: self.clock.now_ms(),
            expires_at_ms: None,
        }
    }

    fn secret_check(provider: &Provider, secret: &str, field: &str) -> Result<(), WebhookError> {
        provider
            .secret_check(secret.as_bytes())
            .map_err(|e| WebhookError::Invalid(vec![FieldError::new(field, e.to_string())]))
    }

    /// Creates a source; answers it with its delivery secret (shown this once).
    pub async fn source_create(
        &self,
        tenant: &TenantId,
        spec: SourceSpec,
    ) -> Result<(Source, String), WebhookError> {
        let delivery = sign::secret_generate();
        let source = self.source_build(tenant, spec, &delivery)?;
        let s = self.store.source_create(&source).await?;
        Ok((s, delivery))
    }

    /// The source `spec` describes, its secrets and `delivery` secret sealed, checked.
    pub(crate) fn source_build(
        &self,
        tenant: &TenantId,
        spec: SourceSpec,
        delivery: &str,
    ) -> Result<Source, WebhookError> {
        let mut errs = Vec::new();
        if spec.secrets.is_empty() || spec.secrets.len() > MAX_SECRETS {
            errs.push(FieldError::new("secrets", "1 to 5 secrets"));
        }
        if let Err(bad) = spec.provider.validate() {
            errs.extend(
                bad.into_iter()
                    .map(|f| FieldError::new(format!("provider.{}", f.field), f.message)),
            );
        }
        for s in &spec.secrets {
            if let Err(WebhookError::Invalid(e)) = Self::secret_check(&spec.provider, s, "secrets")
            {
                errs.extend(e);
            }
        }
        let now = self.clock.now_ms();
        let aad = Source::aad(tenant, &spec.name, delivery::DELIVERY_SECRET_ID);
        let source = Source {
            tenant: tenant.clone(),
            secrets: spec
                .secrets
                .iter()
                .map(|s| self.secret_seal(tenant, &spec.name, s))
                .collect(),
            provider: spec.provider,
            tolerance_secs: spec
                .tolerance_secs
                .unwrap_or(self.settings.default_tolerance.as_secs() as u32),
            max_body_bytes: spec
                .max_body_bytes
                .unwrap_or(self.settings.default_max_body.as_u64() as u32),
            event_id: spec.event_id,
            target: spec.target,
            delivery_secret: self.keys.seal(delivery.as_bytes(), &aad).into(),
            created_at_ms: now,
            updated_at_ms: now,
            version: 1,
            name: spec.name,
        };
        errs.extend(source.check());
        if !errs.is_empty() {
            return Err(WebhookError::Invalid(errs));
        }
        Ok(source)
    }

    /// Reads the source, applies `change`, writes it with a compare-and-set (trying again on
    /// a concurrent change, up to 5 times).
    pub async fn source_change<T>(
        &self,
        tenant: &TenantId,
        name: &SourceName,
        change: impl Fn(&mut Source, i64) -> Result<T, WebhookError>,
    ) -> Result<(Source, T), WebhookError> {
        let mut tries = 0;
        loop {
            let mut s = self
                .store
                .source_get(tenant, name)
                .await?
                .ok_or(WebhookError::NotFound)?;
            let now = self.clock.now_ms();
            let out = change(&mut s, now)?;
            s.secrets.retain(|x| x.is_active(now));
            if s.delivery_secret.previous_at(now).is_none() {
                s.delivery_secret.previous = None;
                s.delivery_secret.previous_until_ms = None;
            }
            s.updated_at_ms = now;
            let errs = s.check();
            if !errs.is_empty() {
                return Err(WebhookError::Invalid(errs));
            }
            match self.store.source_update(&s).await {
                Ok(s) => return Ok((s, out)),
                Err(WebhookError::SourceChanged) if tries < 5 => tries += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Adds a secret (rotation, first half); answers its id.
    pub async fn secret_add(
        &self,
        tenant: &TenantId,
        name: &SourceName,
        secret: &str,
    ) -> Result<(Source, String), WebhookError> {
        self.source_change(tenant, name, |s, now| {
            Self::secret_check(&s.provider, secret, "secret")?;
            if s.secrets.iter().filter(|x| x.is_active(now)).count() >= MAX_SECRETS {
                return Err(WebhookError::Invalid(vec![FieldError::new(
                    "secret",
                    "at most 5 secrets: retire one first",
                )]));
            }
            let sealed = self.secret_seal(tenant, name, secret);
            let id = sealed.id.clone();
            s.secrets.push(sealed);
            Ok(id)
        })
        .await
    }

    /// Retires a secret after `grace_secs` (rotation, second half); the last active secret
    /// cannot be retired.
    pub async fn secret_retire(
        &self,
        tenant: &TenantId,
        name: &SourceName,
        id: &str,
        grace_secs: u32,
    ) -> Result<Source, WebhookError> {
        self.source_change(tenant, name, |s, now| {
            let others = s
                .secrets
                .iter()
                .filter(|x| x.id != id && x.is_active(now) && x.expires_at_ms.is_none())
                .count();
            let secret = s
                .secrets
                .iter_mut()
                .find(|x| x.id == id && x.is_active(now))
                .ok_or(WebhookError::NotFound)?;
            if others == 0 {
                return Err(WebhookError::Invalid(vec![FieldError::new(
                    "secret",
                    "the last secret without an end cannot be retired: add its successor first",
                )]));
            }
            let end = now + i64::from(grace_secs) * 1000;
            secret.expires_at_ms = Some(secret.expires_at_ms.map_or(end, |e| e.min(end)));
            Ok(())
        })
        .await
        .map(|(s, ())| s)
    }

    /// Rotates the delivery secret: `secret` (`whsec_…`; `None`: a fresh one) signs from now
    /// on, and the current one keeps signing beside it for `grace_secs` (deliveries carry both
    /// signatures; 0: stops at once). Answers the source and the new secret (shown this once).
    pub async fn delivery_secret_rotate(
        &self,
        tenant: &TenantId,
        name: &SourceName,
        secret: Option<&str>,
        grace_secs: u32,
    ) -> Result<(Source, String), WebhookError> {
        let new = match secret {
            Some(s) if sign::secret_valid(s) => s.to_owned(),
            Some(_) => {
                return Err(WebhookError::Invalid(vec![FieldError::new(
                    "secret",
                    "whsec_ and 24 to 64 bytes in base64 (Standard Webhooks)",
                )]))
            }
            None => sign::secret_generate(),
        };
        let (s, ()) = self
            .source_change(tenant, name, |s, now| {
                let aad = Source::aad(&s.tenant, &s.name, delivery::DELIVERY_SECRET_ID);
                let sealed = self.keys.seal(new.as_bytes(), &aad);
                let old = std::mem::replace(&mut s.delivery_secret.current, sealed);
                if grace_secs == 0 {
                    s.delivery_secret.previous = None;
                    s.delivery_secret.previous_until_ms = None;
                } else {
                    s.delivery_secret.previous = Some(old);
                    s.delivery_secret.previous_until_ms = Some(now + i64::from(grace_secs) * 1000);
                }
                Ok(())
            })
            .await?;
        Ok((s, new))
    }
}
