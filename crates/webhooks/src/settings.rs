//! `[webhooks]`: sealing keys, source defaults, retention, the delivery schedule and workers.

use crate::declared::{sources_errors, ConfigSource};
use crate::seal::SecretBox;
use bytesize::ByteSize;
use palisade_core::sensitive::SecretString;
use palisade_core::FieldError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The webhooks capability's settings (documented in docs/configuration.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksSettings {
    /// The key sealing source secrets: 32 bytes in base64 (`PALISADE_WEBHOOKS__SECRET_KEY`);
    /// never printed. Unset: a key file (see `secret_key_file`).
    #[serde(skip_serializing)]
    pub secret_key: Option<SecretString>,
    /// The id stored beside each ciphertext sealed with `secret_key` (rotate: a new id).
    pub secret_key_id: String,
    /// Earlier keys by id, still opening what they sealed (rotation); never printed.
    #[serde(skip_serializing)]
    pub old_secret_keys: BTreeMap<String, SecretString>,
    /// The key file used when `secret_key` is unset; created (mode 0600) when missing.
    /// Default: `<data_dir>/webhooks.key`.
    pub secret_key_file: Option<PathBuf>,
    /// A new source's timestamp tolerance.
    #[serde(with = "humantime_serde")]
    pub default_tolerance: Duration,
    /// How far ahead of the clock a signed timestamp may be.
    #[serde(with = "humantime_serde")]
    pub max_future_skew: Duration,
    /// A new source's body limit.
    #[serde(serialize_with = "exact_bytes")]
    pub default_max_body: ByteSize,
    /// How long delivered and failed events are kept — and so how long a duplicate is
    /// recognised (never shorter than the longest tolerance, 1 h; pending events are kept).
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// Delays before each retry of a failed delivery; the event fails after the last.
    /// Default: Standard Webhooks' 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    pub retry_schedule: Vec<humantime_serde::Serde<Duration>>,
    /// Deliveries this process runs at once (every source's).
    pub delivery_workers: usize,
    /// How long one delivery attempt may hold its event.
    #[serde(with = "humantime_serde")]
    pub delivery_timeout: Duration,
    /// The public base URL providers call (`https://hooks.example.com`, with any path prefix
    /// a proxy strips): Twilio signs the URL it called, which behind a proxy is not the
    /// `Host` Palisade sees. Unset: `https://` + the request's `Host`.
    pub public_base_url: Option<String>,
    /// Sources declared here (`[[webhooks.sources]]`), created or updated at start.
    pub sources: Vec<ConfigSource>,
}

fn exact_bytes<S: serde::Serializer>(b: &ByteSize, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(b.as_u64())
}

impl Default for WebhooksSettings {
    fn default() -> Self {
        let schedule = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];
        Self {
            secret_key: None,
            secret_key_id: "k1".into(),
            old_secret_keys: BTreeMap::new(),
            secret_key_file: None,
            default_tolerance: Duration::from_secs(300),
            max_future_skew: Duration::from_secs(60),
            default_max_body: ByteSize::kib(256),
            retention: Duration::from_secs(24 * 3600),
            retry_schedule: schedule
                .into_iter()
                .map(|s| Duration::from_secs(s).into())
                .collect(),
            delivery_workers: 16,
            delivery_timeout: Duration::from_secs(60),
            public_base_url: None,
            sources: Vec::new(),
        }
    }
}

impl WebhooksSettings {
    /// Every invalid field, named under `webhooks.`.
    pub fn check(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let mut bad = |f: &str, m: &str| errs.push(FieldError::new(format!("webhooks.{f}"), m));
        if let Some(k) = &self.secret_key {
            if SecretBox::key_from_base64(k.expose()).is_none() {
                bad("secret_key", "32 bytes in base64");
            }
        }
        for (id, k) in &self.old_secret_keys {
            if SecretBox::key_from_base64(k.expose()).is_none() || !key_id_ok(id) {
                bad(
                    "old_secret_keys",
                    "ids of 1 to 32 of A-Z a-z 0-9 _ - to 32 bytes in base64",
                );
            }
        }
        if !key_id_ok(&self.secret_key_id) {
            bad("secret_key_id", "1 to 32 of A-Z a-z 0-9 _ -");
        }
        let secs = self.default_tolerance.as_secs();
        if !(60..=3600).contains(&secs) {
            bad("default_tolerance", "from 1m to 1h");
        }
        if self.max_future_skew > Duration::from_secs(300) {
            bad("max_future_skew", "at most 5m");
        }
        let body = self.default_max_body.as_u64();
        if !(1..=16 * 1024 * 1024).contains(&body) {
            bad("default_max_body", "from 1 byte to 16 MiB");
        }
        if self.retention < Duration::from_secs(2 * 3600) {
            bad("retention", "at least 2h (twice the longest tolerance)");
        }
        let week = Duration::from_secs(7 * 24 * 3600);
        if self.retry_schedule.len() > 20 || self.retry_schedule.iter().any(|d| **d > week) {
            bad("retry_schedule", "at most 20 delays of at most 7 days each");
        }
        if !(1..=256).contains(&self.delivery_workers) {
            bad("delivery_workers", "from 1 to 256");
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(600)).contains(&self.delivery_timeout) {
            bad("delivery_timeout", "from 1s to 10m");
        }
        if let Some(base) = &self.public_base_url {
            if base_url_parse(base).is_none() {
                bad(
                    "public_base_url",
                    "an absolute http or https URL without credentials, query or fragment",
                );
            }
        }
        errs.extend(sources_errors(
            "webhooks.sources",
            &self.sources,
            self.default_tolerance,
            self.default_max_body,
        ));
        errs
    }

    /// The retry delays in ms.
    pub fn retry_delays_ms(&self) -> Vec<i64> {
        self.retry_schedule
            .iter()
            .map(|d| d.as_millis() as i64)
            .collect()
    }

    /// The sealing keys: `secret_key` (with the old keys), else the key file — read, or
    /// created with mode 0600 in `data_dir` when missing. Never prints a key.
    pub fn secret_box(&self, data_dir: &Path) -> Result<SecretBox, String> {
        let old: Vec<(String, [u8; 32])> = self
            .old_secret_keys
            .iter()
            .filter_map(|(id, k)| Some((id.clone(), SecretBox::key_from_base64(k.expose())?)))
            .collect();
        let key = match &self.secret_key {
            Some(k) => SecretBox::key_from_base64(k.expose())
                .ok_or("webhooks.secret_key: 32 bytes in base64")?,
            None => {
                let file = self
                    .secret_key_file
                    .clone()
                    .unwrap_or_else(|| data_dir.join("webhooks.key"));
                key_file(&file)?
            }
        };
        Ok(SecretBox::new((self.secret_key_id.clone(), key), old))
    }
}

/// `base` without its trailing `/`, when it is an absolute http(s) URL without query or
/// fragment.
fn base_url_parse(base: &str) -> Option<&str> {
    let u = url::Url::parse(base).ok()?;
    let ok = matches!(u.scheme(), "http" | "https")
        && u.host().is_some()
        && u.username().is_empty()
        && u.password().is_none()
        && u.query().is_none()
        && u.fragment().is_none()
        && base.len() <= 2048;
    ok.then(|| base.trim_end_matches('/'))
}

impl WebhooksSettings {
    /// The URL a provider called for a request to `path_and_query`: the configured public
    /// base URL followed by it, else `https://` + `host` + it.
    pub fn public_url(&self, host: &str, path_and_query: &str) -> String {
        match self.public_base_url.as_deref().and_then(base_url_parse) {
            Some(base) => format!("{base}{path_and_query}"),
            None => format!("https://{host}{path_and_query}"),
        }
    }
}

fn key_id_ok(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The key in `file`, generated first (mode 0600, never overwritten) when it does not exist.
fn key_file(file: &Path) -> Result<[u8; 32], String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let err = |what: &str, e: std::io::Error| {
        format!("webhooks key file {}: {what}: {e}", file.display())
    };
    if !file.exists() {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| err("creating its directory", e))?;
        }
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(file);
        match created {
            Ok(mut f) => f
                .write_all(SecretBox::key_generate().as_bytes())
                .map_err(|e| err("writing", e))?,
            // another process created it first: read theirs
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(err("creating", e)),
        }
    }
    let text = std::fs::read_to_string(file).map_err(|e| err("reading", e))?;
    SecretBox::key_from_base64(&text).ok_or_else(|| {
        format!(
            "webhooks key file {}: not 32 bytes in base64",
            file.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_named() {
        assert!(WebhooksSettings::default().check().is_empty());
        let s = WebhooksSettings {
            secret_key: Some(SecretString::new("short")),
            default_tolerance: Duration::from_secs(10),
            retention: Duration::from_secs(60),
            delivery_workers: 0,
            ..Default::default()
        };
        let fields: Vec<_> = s.check().into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "webhooks.secret_key",
                "webhooks.default_tolerance",
                "webhooks.retention",
                "webhooks.delivery_workers"
            ]
        );
    }

    #[test]
    fn public_url_from_the_base_or_the_host() {
        let mut s = WebhooksSettings::default();
        assert_eq!(
            s.public_url("127.0.0.1:8080", "/hooks/t/s?x=1"),
            "https://127.0.0.1:8080/hooks/t/s?x=1"
        );
        s.public_base_url = Some("https://hooks.example.com/in/".into());
        assert!(s.check().is_empty());
        assert_eq!(
            s.public_url("127.0.0.1:8080", "/hooks/t/s?x=1"),
            "https://hooks.example.com/in/hooks/t/s?x=1"
        );
        for bad in [
            "hooks.example.com",
            "ftp://x",
            "https://x/?q=1",
            "https://x/#f",
            "https://u:p@x/",
        ] {
            s.public_base_url = Some(bad.into());
            let fields: Vec<_> = s.check().into_iter().map(|e| e.field).collect();
            assert_eq!(fields, ["webhooks.public_base_url"], "{bad}");
        }
    }

    #[test]
    fn key_file_is_created_0600_and_reused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("whk-{}", rand::random::<u64>()));
        let s = WebhooksSettings::default();
        let a = s.secret_box(&dir).unwrap();
        let sealed = a.seal(b"x", b"");
        let mode = std::fs::metadata(dir.join("webhooks.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = s.secret_box(&dir).unwrap();
        assert_eq!(b.open(&sealed, b"").unwrap(), b"x");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
