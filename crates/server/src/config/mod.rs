//! Layered, validated configuration: embedded defaults → `palisade.toml` → `PALISADE_*` environment.

mod extract;
mod metrics;
mod previews;
mod summary;
mod validate;

pub use metrics::MetricsConfig;
pub use palisade_fetch::FetchSettings;
pub use palisade_idempotency::{IdempotencySettings, IdempotencyStoreKind};
pub use palisade_jobs::JobsSettings;
pub use palisade_ratelimit::{RateLimitSettings, RateLimitStoreKind};
pub use previews::PreviewsConfig;
pub use summary::summary;

use bytesize::ByteSize;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use palisade_core::sensitive::{SecretString, SecretUrl};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::telemetry::LogFormat;

/// The deployment environment; `production` turns on the strict checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Local work: an operator key is generated when none is given.
    #[default]
    Development,
    /// Tests.
    Test,
    /// Production: the operator key must come from the environment or a named file.
    Production,
}

/// The whole configuration. Every field is documented in `docs/configuration.md`.
///
/// Credential-bearing fields are [`SecretString`] / [`SecretUrl`], so `Debug` never shows them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `development` | `test` | `production`.
    pub env: Environment,
    /// Address to listen on.
    pub listen: String,
    /// Directory of the embedded default's files (SQLite database, operator key).
    pub data_dir: PathBuf,
    /// The operator key itself (from `PALISADE_OPERATOR_KEY`); never printed.
    #[serde(skip_serializing)]
    pub operator_key: Option<SecretString>,
    /// A file holding the operator key.
    pub operator_key_file: Option<PathBuf>,
    /// A second operator key accepted as well, during a rotation (`PALISADE_OPERATOR_KEY_NEXT`);
    /// never printed.
    #[serde(skip_serializing)]
    pub operator_key_next: Option<SecretString>,
    /// A file holding the second operator key.
    pub operator_key_next_file: Option<PathBuf>,
    /// Logging.
    pub log: LogConfig,
    /// Stores.
    pub storage: StorageConfig,
    /// HTTP limits and deadlines.
    pub http: HttpConfig,
    /// Rate limiting.
    pub ratelimit: RateLimitSettings,
    /// Idempotency keys.
    pub idempotency: IdempotencySettings,
    /// The `/metrics` endpoint.
    pub metrics: MetricsConfig,
    /// The audit trail.
    pub audit: palisade_audit::AuditSettings,
    /// The outbound HTTP client (SSRF policy, caps).
    pub fetch: FetchSettings,
    /// Link previews.
    pub previews: PreviewsConfig,
    /// Cron: the firing task and the schedules declared here.
    pub cron: palisade_jobs::cron::CronSettings,
    /// Durable jobs.
    pub jobs: JobsSettings,
    /// Realtime streams.
    pub realtime: palisade_realtime::RealtimeSettings,
    /// One-time passcodes.
    pub otp: palisade_otp::OtpSettings,
    /// One-time CSRF tokens.
    pub csrf: palisade_csrf::CsrfSettings,
    /// Inbound webhooks.
    pub webhooks: palisade_webhooks::WebhooksSettings,
    /// JWT/JWKS verification.
    pub tokens: palisade_tokens::TokenSettings,
}

/// Logging settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Filter directive (`info`, `palisade_server=debug`); `RUST_LOG` wins when set.
    pub level: String,
    /// `json` | `pretty`.
    pub format: LogFormat,
}

/// Store settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `sqlite://FILE` or `postgres://…`; default `sqlite://<data_dir>/palisade.db`.
    pub url: Option<SecretUrl>,
    /// PostgreSQL schema of Palisade's tables (created when missing); default: the search path.
    pub schema: Option<String>,
    /// Optional `redis://…` for hot paths (rate limits, locks, idempotency).
    pub redis_url: Option<SecretUrl>,
    /// Prefix of every Redis key Palisade writes: deployments sharing one Redis set their own.
    pub redis_prefix: String,
    /// Pool size; default computed (PostgreSQL) or 8 (SQLite).
    pub pool_size: Option<u32>,
    /// Palisade instances expected to share the database (pool sizing, fallback shares).
    pub expected_instances: u32,
    /// PostgreSQL connections kept free for others (pool sizing).
    pub pool_reserve: u32,
    /// Longest wait for a pooled connection before answering 503.
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
}

/// HTTP settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest accepted request body.
    #[serde(serialize_with = "exact_bytes")]
    pub body_limit: ByteSize,
    /// Deadline of one request.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// On shutdown, how long `/readyz` fails and answers carry `Connection: close` before
    /// the listener closes (and again before idle connections close).
    #[serde(with = "humantime_serde")]
    pub lame_duck: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            env: Environment::Development,
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./palisade-data"),
            operator_key: None,
            operator_key_file: None,
            operator_key_next: None,
            operator_key_next_file: None,
            log: LogConfig::default(),
            storage: StorageConfig::default(),
            http: HttpConfig::default(),
            ratelimit: RateLimitSettings::default(),
            idempotency: IdempotencySettings::default(),
            metrics: MetricsConfig::default(),
            audit: palisade_audit::AuditSettings::default(),
            fetch: FetchSettings::default(),
            previews: PreviewsConfig::default(),
            cron: palisade_jobs::cron::CronSettings::default(),
            jobs: JobsSettings::default(),
            realtime: palisade_realtime::RealtimeSettings::default(),
            otp: palisade_otp::OtpSettings::default(),
            csrf: palisade_csrf::CsrfSettings::default(),
            webhooks: palisade_webhooks::WebhooksSettings::default(),
            tokens: palisade_tokens::TokenSettings::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Json,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            url: None,
            schema: None,
            redis_url: None,
            redis_prefix: "pal".into(),
            pool_size: None,
            expected_instances: 4,
            pool_reserve: 10,
            acquire_timeout: Duration::from_secs(2),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit: ByteSize::mb(1),
            request_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(10),
            lame_duck: Duration::from_secs(1),
        }
    }
}

/// Serialises a size as its exact number of bytes: the defaults layer goes through
/// serialisation, and `ByteSize`'s own form is a rounded display string (`976.6 KiB`).
fn exact_bytes<S: serde::Serializer>(b: &ByteSize, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(b.as_u64())
}

/// The file loaded when no `--config` is given: in the working directory only.
pub const DEFAULT_FILE: &str = "./palisade.toml";

/// True for a `PALISADE_TEST_*` variable (after the prefix), whatever its case: those belong
/// to the test suite and are never configuration.
fn is_test_variable(key: &str) -> bool {
    key.get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("test_"))
}

/// `fig` with the TOML file `f` merged, or unchanged with an error when `f` is not valid TOML
/// (its other errors are still found in the other layers).
fn merge_file(fig: Figment, f: &Path, errors: &mut Vec<String>) -> Figment {
    match Figment::from(Toml::file_exact(f)).extract::<figment::value::Value>() {
        Ok(_) => fig.merge(Toml::file_exact(f)),
        Err(e) => {
            errors.push(extract::file_error(f, &e));
            fig
        }
    }
}

/// Every problem found while loading the configuration, reported at once.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigErrors(pub Vec<String>);

/// Values from the command line that override every other layer.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
}

impl Config {
    /// Loads defaults, then `file` (or `./palisade.toml` when present: that exact path, never
    /// a parent directory's), then `PALISADE_*` variables (`__` separates sections:
    /// `PALISADE_STORAGE__URL`; `PALISADE_TEST_*` are ignored, in any case), then `overrides`;
    /// validates.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigErrors> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        let mut errors = Vec::new();
        match file {
            Some(f) if !f.exists() => {
                return Err(ConfigErrors(vec![format!(
                    "config file {} not found",
                    f.display()
                )]))
            }
            Some(f) => fig = merge_file(fig, f, &mut errors),
            None if Path::new(DEFAULT_FILE).is_file() => {
                fig = merge_file(fig, Path::new(DEFAULT_FILE), &mut errors)
            }
            None => {}
        }
        fig = fig.merge(
            Env::prefixed("PALISADE_")
                .split("__")
                .filter(|k| !is_test_variable(k.as_str())),
        );
        if let Some(l) = &overrides.listen {
            fig = fig.merge(("listen", l));
        }
        if let Some(d) = &overrides.data_dir {
            fig = fig.merge(("data_dir", d));
        }
        let (cfg, bad_keys) = extract::config(&fig);
        errors.extend(bad_keys);
        if let Some(cfg) = &cfg {
            errors.extend(validate::errors(cfg));
        }
        match cfg {
            Some(cfg) if errors.is_empty() => Ok(cfg),
            _ => Err(ConfigErrors(errors)),
        }
    }

    /// The listen address (validated by [`Config::load`]).
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen.parse().expect("validated listen address")
    }

    /// The durable store URL: the configured one or the embedded SQLite file.
    pub fn storage_url(&self) -> SecretUrl {
        self.storage.url.clone().unwrap_or_else(|| {
            SecretUrl::new(format!(
                "sqlite://{}",
                self.data_dir.join("palisade.db").display()
            ))
        })
    }

    /// True when the durable store is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.storage_url().expose().starts_with("postgres")
    }

    /// The file [`Config::load`] reads for `file`: it, else `./palisade.toml` when present.
    pub fn file_loaded(file: Option<&Path>) -> Option<PathBuf> {
        match file {
            Some(f) => Some(f.to_path_buf()),
            None => Some(PathBuf::from(DEFAULT_FILE)).filter(|p| p.is_file()),
        }
    }
}
