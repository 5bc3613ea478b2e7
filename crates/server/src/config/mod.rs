//! Layered, validated configuration: embedded defaults → `palisade.toml` → `PALISADE_*` environment.

mod validate;

pub use palisade_idempotency::{IdempotencySettings, IdempotencyStoreKind};
pub use palisade_ratelimit::{RateLimitSettings, RateLimitStoreKind};

use bytesize::ByteSize;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
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
#[derive(Clone, Serialize, Deserialize)]
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
    pub operator_key: Option<String>,
    /// A file holding the operator key.
    pub operator_key_file: Option<PathBuf>,
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
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("env", &self.env)
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field(
                "operator_key",
                &self.operator_key.as_ref().map(|_| "[REDACTED]"),
            )
            .field("operator_key_file", &self.operator_key_file)
            .field("log", &self.log)
            .field("storage", &self.storage)
            .field("http", &self.http)
            .field("ratelimit", &self.ratelimit)
            .field("idempotency", &self.idempotency)
            .finish()
    }
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
    pub url: Option<String>,
    /// PostgreSQL schema of Palisade's tables (created when missing); default: the search path.
    pub schema: Option<String>,
    /// Optional `redis://…` for hot paths (rate limits, locks, idempotency).
    pub redis_url: Option<String>,
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
    pub body_limit: ByteSize,
    /// Deadline of one request.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            env: Environment::Development,
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./palisade-data"),
            operator_key: None,
            operator_key_file: None,
            log: LogConfig::default(),
            storage: StorageConfig::default(),
            http: HttpConfig::default(),
            ratelimit: RateLimitSettings::default(),
            idempotency: IdempotencySettings::default(),
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
    /// Loads defaults, then `file` (or `./palisade.toml` when present), then `PALISADE_*`
    /// variables (`__` separates sections: `PALISADE_STORAGE__URL`), then `overrides`; validates.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigErrors> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(f) if !f.exists() => {
                return Err(ConfigErrors(vec![format!(
                    "config file {} not found",
                    f.display()
                )]))
            }
            Some(f) => fig = fig.merge(Toml::file(f)),
            None => fig = fig.merge(Toml::file("palisade.toml")),
        }
        fig = fig.merge(
            Env::prefixed("PALISADE_")
                .split("__")
                .filter(|k| !k.as_str().starts_with("test_")),
        );
        if let Some(l) = &overrides.listen {
            fig = fig.merge(("listen", l));
        }
        if let Some(d) = &overrides.data_dir {
            fig = fig.merge(("data_dir", d));
        }
        let cfg: Config = fig
            .extract()
            .map_err(|e| ConfigErrors(e.into_iter().map(|e| e.to_string()).collect()))?;
        let errors = validate::errors(&cfg);
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// The listen address (validated by [`Config::load`]).
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen.parse().expect("validated listen address")
    }

    /// The durable store URL: the configured one or the embedded SQLite file.
    pub fn storage_url(&self) -> String {
        self.storage
            .url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("palisade.db").display()))
    }

    /// True when the durable store is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.storage_url().starts_with("postgres")
    }
}
