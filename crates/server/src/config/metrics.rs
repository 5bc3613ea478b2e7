//! The `[metrics]` section: where Prometheus scrapes `/metrics`.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// Metrics settings. On the main listener `/metrics` always needs the operator key; an
/// optional second listener serves it without authentication (bind it to a private address).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address of a listener that serves only `/metrics`, unauthenticated; none by default.
    pub listen: Option<String>,
}

impl MetricsConfig {
    /// The metrics listener's address (validated by [`crate::config::Config::load`]).
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen.as_deref().and_then(|l| l.parse().ok())
    }

    /// Every problem of these settings.
    pub(super) fn errors(&self, main_listen: &str) -> Vec<String> {
        let mut e = Vec::new();
        if let Some(l) = &self.listen {
            match l.parse::<SocketAddr>() {
                Err(_) => e.push("metrics.listen: must be an address like 127.0.0.1:9090".into()),
                Ok(a) if a.port() != 0 && l == main_listen => {
                    e.push("metrics.listen: must differ from listen".into())
                }
                Ok(_) => {}
            }
        }
        e
    }
}
