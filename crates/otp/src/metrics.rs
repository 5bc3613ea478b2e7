//! The OTP metrics: issues and verifies by outcome, lockouts. Labels are fixed words only.

/// Counts an issue: `issued`, `locked`, `rate_limited` or `error`.
pub fn issue(outcome: &'static str) {
    metrics::counter!("palisade_otp_issues_total", "outcome" => outcome).increment(1);
}

/// Counts a verify: `valid`, `invalid`, `locked`, `rate_limited`, `delayed` or `error`.
pub fn verify(outcome: &'static str) {
    metrics::counter!("palisade_otp_verifies_total", "outcome" => outcome).increment(1);
}

/// Counts a lockout (an identity reached `lockout_after` consecutive failures).
pub fn lockout() {
    metrics::counter!("palisade_otp_lockouts_total").increment(1);
}

/// Counts a request refused by a per-IP quota: `issue` or `verify`.
pub fn ip_limited(operation: &'static str) {
    metrics::counter!("palisade_otp_ip_limited_total", "operation" => operation).increment(1);
}
