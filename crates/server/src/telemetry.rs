//! Logging setup: one JSON object per line (or human-readable text), every field and message redacted.
//!
//! Redaction happens when a value is recorded: a field whose name is sensitive
//! ([`palisade_core::redact::is_sensitive_field`]) becomes `"[REDACTED]"`; every other string,
//! `Debug`-formatted value, error and message goes through [`palisade_core::redact::redact`];
//! numbers and booleans are kept as they are, without any pattern matching. See `docs/logging.md`.

mod fields;
mod json;
mod pretty;
#[cfg(test)]
mod tests;

use std::io::IsTerminal as _;
use std::str::FromStr;

use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub use json::JsonLayer;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line (the default; for log collectors).
    #[default]
    Json,
    /// Human-readable lines (for a terminal), redacted like the JSON ones.
    Pretty,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(LogFormat::Json),
            "pretty" => Ok(LogFormat::Pretty),
            other => Err(format!(
                "unknown log format {other:?} (allowed: json, pretty)"
            )),
        }
    }
}

/// The JSON log layer writing to `writer` (e.g. `std::io::stderr`, or an in-memory buffer in tests).
pub fn layer<S, W>(writer: W) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    JsonLayer::new(writer)
}

/// The human-readable log layer writing to `writer` without colours, redacted like [`layer`].
pub fn pretty_layer<S, W>(writer: W) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    pretty::layer(writer, false)
}

/// Installs the global subscriber: logs to stderr in `format`, filtered by `RUST_LOG` when it is
/// set and valid, else by `filter` (an `EnvFilter` directive such as `info,palisade=debug`).
///
/// A second call (or a subscriber installed elsewhere first) leaves the first one in place.
pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter));
    let registry = tracing_subscriber::registry().with(filter);
    let installed = match format {
        LogFormat::Json => registry.with(layer(std::io::stderr)).try_init(),
        LogFormat::Pretty => {
            let ansi = std::io::stderr().is_terminal();
            registry
                .with(pretty::layer(std::io::stderr, ansi))
                .try_init()
        }
    };
    if installed.is_err() {
        tracing::debug!("a global tracing subscriber was already installed; keeping it");
    }
}
