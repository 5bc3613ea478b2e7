//! The OTP capability's deployment settings (`[otp]`): code format, limits, lockout, per-IP quotas.

use crate::decide::OtpLimits;
use crate::model::CodeAlphabet;
use palisade_core::sensitive::{SecretString, SecretUrl};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The most consecutive failures `lockout_after` may allow (NIST SP 800-63B §5.2.2).
pub const MAX_LOCKOUT_AFTER: u32 = 100;

/// OTP settings; every field is documented in `docs/configuration.md`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtpSettings {
    /// Symbols per code, 6 ..= 12.
    pub code_length: usize,
    /// `numeric` (0-9) or `alphanumeric` (32 symbols: 2-9 and A-Z without I and O).
    pub alphabet: CodeAlphabet,
    /// How long an issued code is valid, 30s ..= 1h.
    #[serde(with = "humantime_serde")]
    pub code_ttl: Duration,
    /// Verifies decided per identity per `verify_window`, from any IP, 1 ..= 1000.
    pub verify_limit: u32,
    /// The window of `verify_limit`, 1m ..= 1d.
    #[serde(with = "humantime_serde")]
    pub verify_window: Duration,
    /// Consecutive failed verifies that lock the identity, 1 ..= 100.
    pub lockout_after: u32,
    /// How long a lockout lasts, 1m ..= 30d (an unlock ends it sooner).
    #[serde(with = "humantime_serde")]
    pub lockout_cooldown: Duration,
    /// Consecutive failures after which each further verify must wait (the progressive delay),
    /// 1 ..= 100.
    pub delay_after: u32,
    /// The wait after the `delay_after`-th failure, doubled with each further failure, 0 ..= 1h
    /// (0: no delay).
    #[serde(with = "humantime_serde")]
    pub delay_base: Duration,
    /// The longest wait, `delay_base` ..= 1d.
    #[serde(with = "humantime_serde")]
    pub delay_max: Duration,
    /// Issues per end-user IP (an IPv6 /64) per `ip_window`, across instances; 0: no limit.
    pub ip_issue_quota: u64,
    /// Verifies per end-user IP (an IPv6 /64) per `ip_window`, across instances; 0: no limit.
    pub ip_verify_quota: u64,
    /// The window of the per-IP quotas, whole seconds, 1s ..= 1d.
    #[serde(with = "humantime_serde")]
    pub ip_window: Duration,
    /// The key of the identity and code hashes (at least 32 bytes, from `PALISADE_OTP__HASH_KEY`);
    /// when absent a random key is generated once and kept in the durable store.
    #[serde(skip_serializing)]
    pub hash_key: Option<SecretString>,
    /// How often expired OTP state is purged.
    #[serde(with = "humantime_serde")]
    pub purge_interval: Duration,
    /// Where each lockout is POSTed (an `http`/`https` URL, through the safe-fetch client);
    /// none: the audit trail only.
    pub lockout_webhook_url: Option<SecretUrl>,
    /// The Standard Webhooks secret (`whsec_` and 24 to 64 bytes in base64) that signs the
    /// lockout webhooks; required with `lockout_webhook_url`.
    #[serde(skip_serializing)]
    pub lockout_webhook_secret: Option<SecretString>,
}

impl Default for OtpSettings {
    fn default() -> Self {
        Self {
            code_length: 10,
            alphabet: CodeAlphabet::Numeric,
            code_ttl: Duration::from_secs(600),
            verify_limit: 20,
            verify_window: Duration::from_secs(3_600),
            lockout_after: 50,
            lockout_cooldown: Duration::from_secs(86_400),
            delay_after: 3,
            delay_base: Duration::from_secs(1),
            delay_max: Duration::from_secs(300),
            ip_issue_quota: 10,
            ip_verify_quota: 30,
            ip_window: Duration::from_secs(600),
            hash_key: None,
            purge_interval: Duration::from_secs(600),
            lockout_webhook_url: None,
            lockout_webhook_secret: None,
        }
    }
}

impl OtpSettings {
    /// The per-identity limits a verify is decided under.
    pub fn limits(&self) -> OtpLimits {
        OtpLimits {
            verify_limit: self.verify_limit,
            window_ms: self.verify_window.as_millis() as i64,
            lockout_after: self.lockout_after,
            cooldown_ms: self.lockout_cooldown.as_millis() as i64,
            delay_after: self.delay_after,
            delay_base_ms: self.delay_base.as_millis() as i64,
            delay_max_ms: self.delay_max.as_millis() as i64,
        }
    }

    /// How long purge keeps an identity's state after its last change: the longest of the
    /// cooldown, the window and the longest delay, so a failure count (and the delay it
    /// imposes) outlives any pause shorter than a lockout or than the delay itself.
    pub fn retention(&self) -> Duration {
        self.lockout_cooldown
            .max(self.verify_window)
            .max(self.delay_max)
    }

    /// Every problem of these settings, each naming its key under `at` (e.g. `otp`).
    pub fn errors(&self, at: &str) -> Vec<String> {
        let mut e = Vec::new();
        let mut bad = |key: &str, msg: &str| e.push(format!("{at}.{key}: {msg}"));
        let secs = |d: Duration| d.as_secs_f64();
        if !(6..=12).contains(&self.code_length) {
            bad("code_length", "must be between 6 and 12");
        }
        if !(30.0..=3_600.0).contains(&secs(self.code_ttl)) {
            bad("code_ttl", "must be between 30s and 1h");
        }
        if !(1..=1_000).contains(&self.verify_limit) {
            bad("verify_limit", "must be between 1 and 1000");
        }
        if !(60.0..=86_400.0).contains(&secs(self.verify_window)) {
            bad("verify_window", "must be between 1m and 1d");
        }
        if !(1..=MAX_LOCKOUT_AFTER).contains(&self.lockout_after) {
            bad(
                "lockout_after",
                "must be between 1 and 100 (NIST SP 800-63B)",
            );
        }
        if !(60.0..=30.0 * 86_400.0).contains(&secs(self.lockout_cooldown)) {
            bad("lockout_cooldown", "must be between 1m and 30d");
        }
        if !(1..=MAX_LOCKOUT_AFTER).contains(&self.delay_after) {
            bad("delay_after", "must be between 1 and 100");
        }
        if self.delay_base > Duration::from_secs(3_600) {
            bad("delay_base", "must be between 0s (no delay) and 1h");
        }
        if self.delay_max < self.delay_base || self.delay_max > Duration::from_secs(86_400) {
            bad("delay_max", "must be between otp.delay_base and 1d");
        }
        for (key, q) in [
            ("ip_issue_quota", self.ip_issue_quota),
            ("ip_verify_quota", self.ip_verify_quota),
        ] {
            if q > 1_000_000 {
                bad(key, "must be 0 (no limit) to 1000000");
            }
        }
        let w = self.ip_window;
        if w < Duration::from_secs(1) || w > Duration::from_secs(86_400) || w.subsec_millis() != 0 {
            bad("ip_window", "must be whole seconds between 1s and 1d");
        }
        if self
            .hash_key
            .as_ref()
            .is_some_and(|k| k.expose().len() < 32)
        {
            bad("hash_key", "must be at least 32 bytes");
        }
        if !(1.0..=86_400.0).contains(&secs(self.purge_interval)) {
            bad("purge_interval", "must be between 1s and 1d");
        }
        e.extend(self.webhook_errors(at));
        e
    }

    /// The problems of the lockout webhook's two keys, each named under `at`.
    fn webhook_errors(&self, at: &str) -> Vec<String> {
        let mut e = Vec::new();
        let url_ok = |u: &str| {
            url::Url::parse(u)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        };
        match (&self.lockout_webhook_url, &self.lockout_webhook_secret) {
            (Some(u), _) if !url_ok(u.expose()) => e.push(format!(
                "{at}.lockout_webhook_url: must be an http or https URL with a host"
            )),
            (Some(_), None) => e.push(format!(
                "{at}.lockout_webhook_secret: required with {at}.lockout_webhook_url"
            )),
            _ => {}
        }
        match &self.lockout_webhook_secret {
            Some(s) if !secret_valid(s.expose()) => e.push(format!(
                "{at}.lockout_webhook_secret: must be whsec_ and 24 to 64 bytes in base64"
            )),
            Some(_) if self.lockout_webhook_url.is_none() => e.push(format!(
                "{at}.lockout_webhook_url: required with {at}.lockout_webhook_secret"
            )),
            _ => {}
        }
        e
    }
}

/// True for a secret in Standard Webhooks form: `whsec_` and 24 to 64 bytes in base64.
fn secret_valid(secret: &str) -> bool {
    use base64::Engine as _;
    secret
        .strip_prefix("whsec_")
        .and_then(|k| base64::engine::general_purpose::STANDARD.decode(k).ok())
        .is_some_and(|k| (24..=64).contains(&k.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_outlives_the_longest_delay() {
        let s = OtpSettings {
            lockout_cooldown: Duration::from_secs(60),
            verify_window: Duration::from_secs(60),
            delay_max: Duration::from_secs(3_600),
            ..OtpSettings::default()
        };
        assert_eq!(s.retention(), Duration::from_secs(3_600));
        assert_eq!(
            OtpSettings::default().retention(),
            Duration::from_secs(86_400)
        );
    }

    #[test]
    fn defaults_are_valid_and_bounds_named() {
        assert!(OtpSettings::default().errors("otp").is_empty());
        let s = OtpSettings {
            code_length: 13,
            lockout_after: 101,
            hash_key: Some("short".into()),
            ..OtpSettings::default()
        };
        let e = s.errors("otp");
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].starts_with("otp.code_length"));
        assert!(e[1].starts_with("otp.lockout_after"));
        assert!(e.iter().all(|m| !m.contains("short")));
        let s = OtpSettings {
            delay_after: 0,
            delay_base: Duration::from_secs(7_200),
            delay_max: Duration::from_secs(60),
            ..OtpSettings::default()
        };
        let e = s.errors("otp");
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].starts_with("otp.delay_after"));
        assert!(e[1].starts_with("otp.delay_base"));
        assert!(e[2].starts_with("otp.delay_max"));
    }

    #[test]
    fn lockout_webhook_needs_an_http_url_and_a_whsec_secret() {
        let hook = |url: Option<&str>, secret: Option<&str>| OtpSettings {
            lockout_webhook_url: url.map(Into::into),
            lockout_webhook_secret: secret.map(Into::into),
            ..OtpSettings::default()
        };
        let good = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        assert!(hook(Some("https://app.example/otp"), Some(good))
            .errors("otp")
            .is_empty());
        let e = hook(Some("ftp://app.example/otp"), Some(good)).errors("otp");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("otp.lockout_webhook_url: must be an http"));
        let e = hook(Some("https://app.example/otp"), None).errors("otp");
        assert!(
            e[0].starts_with("otp.lockout_webhook_secret: required"),
            "{e:?}"
        );
        let e = hook(None, Some(good)).errors("otp");
        assert!(
            e[0].starts_with("otp.lockout_webhook_url: required"),
            "{e:?}"
        );
        let e = hook(Some("https://app.example/otp"), Some("whsec_c2hvcnQ=")).errors("otp");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("otp.lockout_webhook_secret: must be whsec_"));
        assert!(!e[0].contains("c2hvcnQ"), "never the value");
    }
}
