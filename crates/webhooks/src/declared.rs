//! Sources declared in the configuration (`[[webhooks.sources]]`): secrets inline, from the
//! environment or from a file; every bad key named; applied at start, idempotently.

use crate::error::WebhookError;
use crate::model::{EventIdRule, Source, SourceName, Target, MAX_SECRETS};
use crate::runtime::{SourceSpec, Webhooks};
use crate::verify::Provider;
use crate::{delivery, sign};
use bytesize::ByteSize;
use palisade_core::secret::secret_eq;
use palisade_core::sensitive::SecretString;
use palisade_core::{FieldError, TenantId};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// How long a replaced declared delivery secret keeps signing beside the new one (a day).
pub const DECLARED_DELIVERY_GRACE_MS: i64 = 24 * 3_600_000;

/// One secret as the configuration gives it: exactly one of the value itself (`secret`), the
/// name of an environment variable holding it (`secret_env`) or a file holding it
/// (`secret_file`; one trailing newline is ignored). Never printed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConfigSecret {
    /// The secret itself (printed as `[redacted]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretString>,
    /// An environment variable holding it (not a `PALISADE_*` one: those are configuration).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    /// A file holding it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
}

/// What the field of a bad [`ConfigSecret`] is and what it must be.
fn secret_error(field: &str, expected: &str) -> FieldError {
    FieldError::new(field, expected)
}

impl ConfigSecret {
    /// The secret, read from where it is; the error names the key (`secret_env`, …) and what
    /// is expected, never the value.
    pub fn resolve(&self) -> Result<SecretString, FieldError> {
        match (&self.secret, &self.secret_env, &self.secret_file) {
            (Some(s), None, None) => Ok(s.clone()),
            (None, Some(name), None) => {
                let valid = !name.is_empty()
                    && name.len() <= 256
                    && !name.starts_with(|c: char| c.is_ascii_digit())
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if !valid || name.to_ascii_uppercase().starts_with("PALISADE_") {
                    return Err(secret_error(
                        "secret_env",
                        "the name of an environment variable (A-Z a-z 0-9 _, not PALISADE_*: \
                         those are configuration keys)",
                    ));
                }
                match std::env::var(name) {
                    Ok(v) if !v.is_empty() => Ok(SecretString::new(v)),
                    _ => Err(secret_error(
                        "secret_env",
                        "an environment variable that is set (non-empty, UTF-8)",
                    )),
                }
            }
            (None, None, Some(file)) => match std::fs::read_to_string(file) {
                Ok(text) => {
                    let text = text.strip_suffix('\n').unwrap_or(&text);
                    let text = text.strip_suffix('\r').unwrap_or(text);
                    if text.is_empty() {
                        return Err(secret_error("secret_file", "a non-empty file"));
                    }
                    Ok(SecretString::new(text))
                }
                Err(_) => Err(secret_error("secret_file", "a readable UTF-8 file")),
            },
            _ => Err(secret_error(
                "secret",
                "exactly one of secret, secret_env and secret_file",
            )),
        }
    }
}

/// A push target as the configuration gives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigTarget {
    /// The app's absolute `http` or `https` URL.
    pub url: String,
    /// Deliver one at a time in order of arrival (default false).
    #[serde(default)]
    pub ordered: bool,
    /// Most deliveries in flight, 1..=64 (default 4; 1 when ordered).
    #[serde(default)]
    pub concurrency: Option<u32>,
    /// Most delivery attempts started per second, 1..=10000 (default unlimited).
    #[serde(default)]
    pub rate_per_sec: Option<u32>,
}

/// A source declared in the configuration, for a tenant id. Every field has a default so a
/// bad key is reported alone (the missing ones are named by [`ConfigSource::resolve`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConfigSource {
    /// The tenant's id (`ten_…`).
    pub tenant: String,
    /// The source's name (the last segment of its ingress URL).
    pub name: String,
    /// The signature scheme, e.g. `{ kind = "stripe" }` (read by [`ConfigSource::resolve`],
    /// so a bad one is one error).
    pub provider: Option<serde_json::Value>,
    /// Its verification secrets, 1..=5.
    pub secrets: Vec<ConfigSecret>,
    /// How old a signed timestamp may be, 1m..=1h (default `webhooks.default_tolerance`).
    #[serde(with = "humantime_serde")]
    pub tolerance: Option<Duration>,
    /// Largest accepted body, 1 byte..=16 MiB (default `webhooks.default_max_body`).
    #[serde(serialize_with = "exact_bytes")]
    pub max_body: Option<ByteSize>,
    /// How events are named for the replay guard (default `{ kind = "provider" }`).
    pub event_id: Option<EventIdRule>,
    /// Push delivery; absent: the app pulls.
    pub target: Option<ConfigTarget>,
    /// The secret deliveries are signed with (`whsec_` and base64); absent: generated when
    /// the source is created, and kept.
    pub delivery_secret: Option<ConfigSecret>,
}

fn exact_bytes<S: serde::Serializer>(b: &Option<ByteSize>, s: S) -> Result<S::Ok, S::Error> {
    match b {
        Some(b) => s.serialize_some(&b.as_u64()),
        None => s.serialize_none(),
    }
}

/// A declared source with its secrets read: what [`crate::Webhooks::sources_declare`]
/// applies. Its `Debug` never shows a secret.
#[derive(Clone)]
pub struct Declared {
    /// The tenant.
    pub tenant: TenantId,
    /// The source as the API would create it (secrets in the clear).
    pub spec: SourceSpec,
    /// The delivery secret, when declared.
    pub delivery_secret: Option<SecretString>,
}

impl std::fmt::Debug for Declared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Declared")
            .field("tenant", &self.tenant)
            .field("name", &self.spec.name)
            .finish_non_exhaustive()
    }
}

impl ConfigSource {
    /// The source with its secrets read and checked, or every bad field (relative to the
    /// entry: `secrets[1].secret_env`, `target.url`, …), never a value.
    pub fn resolve(
        &self,
        default_tolerance: Duration,
        default_max_body: ByteSize,
    ) -> Result<Declared, Vec<FieldError>> {
        let mut errs = Vec::new();
        let tenant = TenantId::parse(&self.tenant).map_err(|_| {
            FieldError::new(
                "tenant",
                "a tenant id: 1 to 64 of A-Z, a-z, 0-9, '_' and '-'",
            )
        });
        let name = SourceName::parse(&self.name);
        if let Err(e) = &tenant {
            errs.push(e.clone());
        }
        if let Err(e) = &name {
            errs.push(e.clone());
        }
        let provider =
            match &self.provider {
                None => {
                    errs.push(FieldError::new("provider", "is required"));
                    None
                }
                Some(p) => match serde_json::from_value::<Provider>(p.clone()) {
                    Ok(p) => {
                        if let Err(bad) = p.validate() {
                            errs.extend(bad.into_iter().map(|f| {
                                FieldError::new(format!("provider.{}", f.field), f.message)
                            }));
                        }
                        Some(p)
                    }
                    Err(_) => {
                        errs.push(FieldError::new(
                            "provider",
                            "a table whose kind is one of standard_webhooks, stripe, github, \
                         shopify, slack, twilio, hmac (with the hmac scheme's fields; see \
                         docs/webhook-providers.md)",
                        ));
                        None
                    }
                },
            };
        if self.secrets.is_empty() || self.secrets.len() > MAX_SECRETS {
            errs.push(FieldError::new("secrets", "1 to 5 secrets"));
        }
        let mut secrets = Vec::new();
        for (i, s) in self.secrets.iter().enumerate() {
            match s.resolve() {
                Ok(v) => {
                    if let Some(Err(e)) = provider
                        .as_ref()
                        .map(|p| p.secret_check(v.expose().as_bytes()))
                    {
                        errs.push(FieldError::new(format!("secrets[{i}]"), e.to_string()));
                    }
                    secrets.push(v.expose().to_owned());
                }
                Err(e) => errs.push(FieldError::new(
                    format!("secrets[{i}].{}", e.field),
                    e.message,
                )),
            }
        }
        let tolerance = self.tolerance.unwrap_or(default_tolerance);
        if !(60..=3600).contains(&tolerance.as_secs()) || tolerance.subsec_nanos() != 0 {
            errs.push(FieldError::new(
                "tolerance",
                "a whole number of seconds from 1m to 1h",
            ));
        }
        let max_body = self.max_body.unwrap_or(default_max_body).as_u64();
        if !(1..=16 * 1024 * 1024).contains(&max_body) {
            errs.push(FieldError::new("max_body", "from 1 byte to 16 MiB"));
        }
        let event_id = self.event_id.clone().unwrap_or_default();
        errs.extend(event_id.check());
        let target = self.target.as_ref().map(|t| Target {
            url: t.url.clone(),
            ordered: t.ordered,
            concurrency: t.concurrency.unwrap_or(4),
            rate_per_sec: t.rate_per_sec,
            disabled: false,
        });
        if let Some(t) = &target {
            errs.extend(t.check());
        }
        let delivery_secret = match &self.delivery_secret {
            None => None,
            Some(d) => match d.resolve() {
                Ok(v) if crate::sign::secret_valid(v.expose()) => Some(v),
                Ok(_) => {
                    errs.push(FieldError::new(
                        "delivery_secret",
                        "whsec_ and 24 to 64 bytes in base64 (Standard Webhooks)",
                    ));
                    None
                }
                Err(e) => {
                    errs.push(FieldError::new(
                        format!("delivery_secret.{}", e.field),
                        e.message,
                    ));
                    None
                }
            },
        };
        match (tenant, name, provider) {
            (Ok(tenant), Ok(name), Some(provider)) if errs.is_empty() => Ok(Declared {
                tenant,
                spec: SourceSpec {
                    name,
                    provider,
                    secrets,
                    tolerance_secs: Some(tolerance.as_secs() as u32),
                    max_body_bytes: Some(max_body as u32),
                    event_id,
                    target,
                },
                delivery_secret,
            }),
            _ => Err(errs),
        }
    }
}

/// Every problem of the declared sources, each named under `at` (`webhooks.sources[2].…`),
/// with a source declared twice for one tenant named too.
pub fn sources_errors(
    at: &str,
    sources: &[ConfigSource],
    default_tolerance: Duration,
    default_max_body: ByteSize,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, s) in sources.iter().enumerate() {
        match s.resolve(default_tolerance, default_max_body) {
            Ok(d) if !seen.insert((d.tenant.clone(), d.spec.name.clone())) => {
                errs.push(FieldError::new(
                    format!("{at}[{i}].name"),
                    "declared twice for the same tenant",
                ))
            }
            Ok(_) => {}
            Err(e) => errs.extend(
                e.into_iter()
                    .map(|f| FieldError::new(format!("{at}[{i}].{}", f.field), f.message)),
            ),
        }
    }
    errs
}

impl Webhooks {
    /// Creates or updates the sources `declared` names (checked first by
    /// [`sources_errors`]), so that each is as declared: its settings, target and exactly the
    /// declared secrets (a secret no longer declared stops verifying; one already stored keeps
    /// its id), and its delivery secret when declared. A source already as declared is not
    /// written, so every instance may run this at start. How many sources were written.
    pub async fn sources_declare(&self, declared: &[ConfigSource]) -> Result<u64, WebhookError> {
        let mut written = 0;
        for c in declared {
            let d = c
                .resolve(
                    self.settings.default_tolerance,
                    self.settings.default_max_body,
                )
                .map_err(WebhookError::Invalid)?;
            if self.source_declare(&d).await? {
                written += 1;
            }
        }
        Ok(written)
    }

    async fn source_declare(&self, d: &Declared) -> Result<bool, WebhookError> {
        let (tenant, name) = (&d.tenant, &d.spec.name);
        let existing = self.store.source_get(tenant, name).await?;
        let Some(existing) = existing else {
            let delivery = d
                .delivery_secret
                .as_ref()
                .map_or_else(sign::secret_generate, |s| s.expose().to_owned());
            let source = self.source_build(tenant, d.spec.clone(), &delivery)?;
            match self.store.source_create(&source).await {
                Ok(_) => return Ok(true),
                // another instance created it first: make sure it is as declared
                Err(WebhookError::SourceExists) => {}
                Err(e) => return Err(e),
            }
            return self.source_redeclare(d).await;
        };
        if self.declared_matches(&existing, d)? {
            return Ok(false);
        }
        self.source_redeclare(d).await
    }

    async fn source_redeclare(&self, d: &Declared) -> Result<bool, WebhookError> {
        let current = self
            .store
            .source_get(&d.tenant, &d.spec.name)
            .await?
            .ok_or(WebhookError::NotFound)?;
        if self.declared_matches(&current, d)? {
            return Ok(false);
        }
        self.source_change(&d.tenant, &d.spec.name, |s, now| {
            self.declared_apply(s, d, now)
        })
        .await?;
        Ok(true)
    }

    /// The source's secrets active now, opened, with their index.
    fn secrets_opened(&self, s: &Source) -> Result<Vec<(usize, SecretString)>, WebhookError> {
        let now = self.clock.now_ms();
        s.secrets
            .iter()
            .enumerate()
            .filter(|(_, x)| x.is_active(now))
            .map(|(i, x)| {
                let aad = Source::aad(&s.tenant, &s.name, &x.id);
                let plain = self
                    .keys
                    .open(&x.sealed, &aad)
                    .map_err(|_| WebhookError::KeyUnavailable)?;
                let plain = String::from_utf8(plain).map_err(|_| WebhookError::KeyUnavailable)?;
                Ok((i, SecretString::new(plain)))
            })
            .collect()
    }

    fn delivery_opened(&self, s: &Source) -> Result<SecretString, WebhookError> {
        let aad = Source::aad(&s.tenant, &s.name, delivery::DELIVERY_SECRET_ID);
        let plain = self
            .keys
            .open(&s.delivery_secret.current, &aad)
            .map_err(|_| WebhookError::KeyUnavailable)?;
        String::from_utf8(plain)
            .map(SecretString::new)
            .map_err(|_| WebhookError::KeyUnavailable)
    }

    /// True when `s` is already as `d` declares it.
    fn declared_matches(&self, s: &Source, d: &Declared) -> Result<bool, WebhookError> {
        let spec = &d.spec;
        let target_same = match (&s.target, &spec.target) {
            (None, None) => true,
            (Some(a), Some(b)) => {
                a.url == b.url
                    && a.ordered == b.ordered
                    && a.concurrency == b.concurrency
                    && a.rate_per_sec == b.rate_per_sec
            }
            _ => false,
        };
        let settings_same = s.provider == spec.provider
            && Some(s.tolerance_secs) == spec.tolerance_secs
            && Some(s.max_body_bytes) == spec.max_body_bytes
            && s.event_id == spec.event_id
            && target_same;
        if !settings_same {
            return Ok(false);
        }
        let opened = self.secrets_opened(s)?;
        let now = self.clock.now_ms();
        let retiring = s
            .secrets
            .iter()
            .any(|x| x.is_active(now) && x.expires_at_ms.is_some());
        let same_secrets = !retiring
            && opened.len() == spec.secrets.len()
            && spec.secrets.iter().all(|want| {
                opened
                    .iter()
                    .any(|(_, have)| secret_eq(have.expose().as_bytes(), want.as_bytes()))
            });
        if !same_secrets {
            return Ok(false);
        }
        match &d.delivery_secret {
            None => Ok(true),
            Some(want) => {
                let have = self.delivery_opened(s)?;
                Ok(secret_eq(
                    have.expose().as_bytes(),
                    want.expose().as_bytes(),
                ))
            }
        }
    }

    /// Makes `s` as `d` declares it (see [`Webhooks::sources_declare`]).
    fn declared_apply(&self, s: &mut Source, d: &Declared, now: i64) -> Result<(), WebhookError> {
        let spec = &d.spec;
        let opened = self.secrets_opened(s)?;
        let mut secrets = Vec::with_capacity(spec.secrets.len());
        for want in &spec.secrets {
            let kept = opened
                .iter()
                .find(|(_, have)| secret_eq(have.expose().as_bytes(), want.as_bytes()));
            match kept {
                Some((i, _)) => {
                    let mut x = s.secrets[*i].clone();
                    x.expires_at_ms = None;
                    secrets.push(x);
                }
                None => secrets.push(self.secret_seal(&s.tenant, &s.name, want)),
            }
        }
        s.secrets = secrets;
        s.provider = spec.provider.clone();
        if let Some(t) = spec.tolerance_secs {
            s.tolerance_secs = t;
        }
        if let Some(m) = spec.max_body_bytes {
            s.max_body_bytes = m;
        }
        s.event_id = spec.event_id.clone();
        s.target = match (&s.target, &spec.target) {
            // a target the app disabled with 410 stays disabled until its URL changes
            (Some(old), Some(new)) if old.url == new.url => Some(Target {
                disabled: old.disabled,
                ..new.clone()
            }),
            (_, new) => new.clone(),
        };
        if let Some(want) = &d.delivery_secret {
            let have = self.delivery_opened(s)?;
            if !secret_eq(have.expose().as_bytes(), want.expose().as_bytes()) {
                // a rotation: the replaced secret keeps signing beside the new one for a day
                let aad = Source::aad(&s.tenant, &s.name, delivery::DELIVERY_SECRET_ID);
                let new = self.keys.seal(want.expose().as_bytes(), &aad);
                let old = std::mem::replace(&mut s.delivery_secret.current, new);
                s.delivery_secret.previous = Some(old);
                s.delivery_secret.previous_until_ms = Some(now + DECLARED_DELIVERY_GRACE_MS);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOL: Duration = Duration::from_secs(300);

    fn inline(s: &str) -> ConfigSecret {
        ConfigSecret {
            secret: Some(SecretString::new(s)),
            ..Default::default()
        }
    }

    fn valid() -> ConfigSource {
        ConfigSource {
            tenant: "ten_abc".into(),
            name: "stripe".into(),
            provider: Some(serde_json::json!({"kind": "stripe"})),
            secrets: vec![inline("whsec_one")],
            ..Default::default()
        }
    }

    #[test]
    fn a_valid_entry_resolves_with_the_defaults() {
        let d = valid().resolve(TOL, ByteSize::kib(256)).unwrap();
        assert_eq!(d.spec.tolerance_secs, Some(300));
        assert_eq!(d.spec.max_body_bytes, Some(256 * 1024));
        assert_eq!(d.spec.secrets, ["whsec_one"]);
        assert!(!format!("{d:?}").contains("whsec_one"));
    }

    #[test]
    fn secrets_come_from_the_environment_and_files() {
        let var = format!("WHK_TEST_SECRET_{}", rand::random::<u32>());
        std::env::set_var(&var, "from-env");
        let file = std::env::temp_dir().join(format!("whk-secret-{}", rand::random::<u64>()));
        std::fs::write(&file, "from-file\n").unwrap();
        let mut s = valid();
        s.provider = Some(serde_json::json!({"kind": "github"}));
        s.secrets = vec![
            ConfigSecret {
                secret_env: Some(var.clone()),
                ..Default::default()
            },
            ConfigSecret {
                secret_file: Some(file.clone()),
                ..Default::default()
            },
        ];
        let d = s.resolve(TOL, ByteSize::kib(1)).unwrap();
        assert_eq!(d.spec.secrets, ["from-env", "from-file"]);
        std::env::remove_var(&var);
        std::fs::remove_file(file).unwrap();
    }

    #[test]
    fn every_bad_field_is_named_never_its_value() {
        let s = ConfigSource {
            tenant: "no tenant!".into(),
            name: "a/b".into(),
            provider: Some(serde_json::json!({"kind": "standard_webhooks"})),
            secrets: vec![
                inline("not-whsec-secret-value"),
                ConfigSecret {
                    secret_env: Some("WHK_UNSET_VARIABLE_FOR_TEST".into()),
                    ..Default::default()
                },
                ConfigSecret {
                    secret_env: Some("PALISADE_X".into()),
                    ..Default::default()
                },
                ConfigSecret {
                    secret_file: Some("/nonexistent/whk".into()),
                    ..Default::default()
                },
                ConfigSecret::default(),
            ],
            tolerance: Some(Duration::from_secs(5)),
            max_body: Some(ByteSize::mib(17)),
            event_id: Some(EventIdRule::BodyField {
                pointer: "id".into(),
            }),
            target: Some(ConfigTarget {
                url: "ftp://x".into(),
                ordered: false,
                concurrency: Some(0),
                rate_per_sec: None,
            }),
            delivery_secret: Some(inline("plain-delivery-value")),
        };
        let errs = sources_errors("webhooks.sources", &[s], TOL, ByteSize::kib(1));
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "webhooks.sources[0].tenant",
                "webhooks.sources[0].name",
                "webhooks.sources[0].secrets[0]",
                "webhooks.sources[0].secrets[1].secret_env",
                "webhooks.sources[0].secrets[2].secret_env",
                "webhooks.sources[0].secrets[3].secret_file",
                "webhooks.sources[0].secrets[4].secret",
                "webhooks.sources[0].tolerance",
                "webhooks.sources[0].max_body",
                "webhooks.sources[0].event_id.pointer",
                "webhooks.sources[0].target.url",
                "webhooks.sources[0].target.concurrency",
                "webhooks.sources[0].delivery_secret",
            ]
        );
        let text = format!("{errs:?}");
        for value in [
            "not-whsec-secret-value",
            "plain-delivery-value",
            "no tenant!",
        ] {
            assert!(!text.contains(value), "{value} echoed: {text}");
        }
    }

    #[test]
    fn a_source_declared_twice_and_a_missing_provider_are_named() {
        let mut none = valid();
        none.provider = None;
        none.name = "other".into();
        let mut paypal = valid();
        paypal.name = "paypal".into();
        paypal.provider = Some(serde_json::json!({"kind": "paypal"}));
        let all = [valid(), valid(), none, paypal];
        let errs = sources_errors("w", &all, TOL, ByteSize::kib(1));
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["w[1].name", "w[2].provider", "w[3].provider"]);
        assert!(!format!("{errs:?}").contains("paypal"));
    }
}
