//! The per-IP quotas of issue and verify, decided across instances by the rate-limiting capability.

use crate::error::ApiError;
use crate::state::AppState;
use palisade_core::{FieldError, TenantId};
use palisade_otp::OtpError;
use palisade_ratelimit::{Algorithm, Check, Limit, OnStoreError};
use serde_json::Value;
use std::net::IpAddr;

/// Issue quota per end-user IP (reserved: no tenant policy can take the name).
pub const ISSUE_POLICY: &str = "palisade.otp.issue";
/// Verify quota per end-user IP (reserved).
pub const VERIFY_POLICY: &str = "palisade.otp.verify";

const IP_EXPECTED: &str = "required: the end user's IPv4 or IPv6 address";

/// The `ip` member as an address, or a 400 field error.
pub fn ip_parse(v: &Value) -> Result<IpAddr, FieldError> {
    v.as_str()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| FieldError::new("ip", IP_EXPECTED))
}

/// The limit key of an address: an IPv4 address itself (IPv4-mapped IPv6 included), an IPv6
/// address's /64 (one subscriber's usual allocation).
pub fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("ip4:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("ip4:{v4}"),
            None => {
                let s = v6.segments();
                format!("ip6:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Spends one unit of `quota` per `state.config.otp.ip_window` for `ip` under `policy`; the
/// `otp-rate-limited` error when none is left (quota 0: no limit).
pub async fn ip_allowance(
    state: &AppState,
    tenant: &TenantId,
    policy: &'static str,
    quota: u64,
    ip: IpAddr,
) -> Result<Result<(), OtpError>, ApiError> {
    if quota == 0 {
        return Ok(Ok(()));
    }
    let check = Check {
        policy: policy.into(),
        limit: Limit {
            algorithm: Algorithm::Gcra,
            quota,
            window_ms: state.config.otp.ip_window.as_millis() as u64,
            burst: quota,
            block_ms: 0,
            shadow: false,
            on_store_error: OnStoreError::Fallback,
        },
        key: ip_key(ip),
        cost: 1,
    };
    let decisions = state
        .ratelimit
        .limiter()
        .check(tenant, std::slice::from_ref(&check))
        .await
        .map_err(|e| ApiError::from(e.to_problem()))?;
    Ok(match decisions.first() {
        Some(d) if !d.allowed => {
            palisade_otp::metrics::ip_limited(policy_label(policy));
            Err(OtpError::RateLimited {
                retry_after_secs: d.retry_after_ms.div_ceil(1_000).max(1),
            })
        }
        _ => Ok(()),
    })
}

fn policy_label(policy: &str) -> &'static str {
    match policy {
        ISSUE_POLICY => "issue",
        _ => "verify",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let k = |s: &str| ip_key(s.parse().unwrap());
        assert_eq!(k("203.0.113.5"), "ip4:203.0.113.5");
        assert_eq!(k("::ffff:203.0.113.5"), "ip4:203.0.113.5");
        assert_eq!(k("2001:db8:1:2:3:4:5:6"), k("2001:db8:1:2:ffff::1"));
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
        assert!(ip_parse(&Value::from("nope")).is_err());
        assert!(ip_parse(&Value::from(5)).is_err());
    }
}
