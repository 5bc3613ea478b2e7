//! Policies: what is limited, how much, over which window, and what happens on store failure.

use crate::key::KeyPart;
use palisade_core::input::{self, PathPart};
use palisade_core::FieldError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::time::Duration;

/// The shortest window a policy may have.
pub const MIN_WINDOW: Duration = Duration::from_secs(1);
/// The longest window a policy may have (30 days).
pub const MAX_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);
/// The largest quota or burst.
pub const MAX_QUOTA: u64 = 1_000_000_000;
/// The most key parts a policy may combine.
pub const MAX_KEY_PARTS: usize = 8;

/// How requests are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Generic cell rate algorithm: a token bucket refilling `quota` per `window`, holding `burst`.
    Gcra,
    /// At most `quota` in any window of the given length (counted in 10 sub-windows).
    SlidingWindow,
    /// At most `quota` per aligned window; the count resets at each window boundary.
    FixedWindow,
}

/// Whether a policy denies, or only reports what it would deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Deny requests over the limit.
    #[default]
    Enforce,
    /// Count and report, never deny.
    Shadow,
}

/// What to answer when the shared store fails or misses its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnStoreError {
    /// Decide in process memory with a share of the quota.
    #[default]
    Fallback,
    /// Allow the request.
    Allow,
    /// Deny the request.
    Deny,
}

/// A named rate-limit policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Value")]
pub struct Policy {
    /// 1..=64 characters of `A-Z a-z 0-9 _ . -`.
    pub name: String,
    /// The counting algorithm.
    pub algorithm: Algorithm,
    /// Requests (cost units) allowed per window.
    pub quota: u64,
    /// The window, 1 s ..= 30 d; written as a human duration (`30s`, `5m`, `1d`) or seconds.
    #[serde(with = "human")]
    pub window: Duration,
    /// GCRA only: how many may arrive at once (default `quota`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burst: Option<u64>,
    /// What the key is made of; at least one part.
    pub key: Vec<KeyPart>,
    /// Cost of one request (default 1; 0 tracks without limiting).
    pub cost: u64,
    /// Enforce or shadow.
    pub mode: Mode,
    /// What to do when the store fails.
    pub on_store_error: OnStoreError,
    /// After a violation, deny the key for this long.
    #[serde(with = "human_opt", skip_serializing_if = "Option::is_none")]
    pub block: Option<Duration>,
}

/// The parameters a store needs to decide one check (a policy after overrides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limit {
    /// The counting algorithm.
    pub algorithm: Algorithm,
    /// Units allowed per window.
    pub quota: u64,
    /// Window in milliseconds.
    pub window_ms: u64,
    /// GCRA capacity (ignored by window algorithms).
    pub burst: u64,
    /// Block after a violation, in ms (0 = none).
    pub block_ms: u64,
    /// Shadow mode: report but never deny.
    pub shadow: bool,
    /// Answer on store failure.
    pub on_store_error: OnStoreError,
}

impl Limit {
    /// The most units one check can ever be granted (burst for GCRA, quota otherwise).
    pub fn capacity(&self) -> u64 {
        match self.algorithm {
            Algorithm::Gcra => self.burst,
            _ => self.quota,
        }
    }
}

impl Policy {
    /// A policy with defaults: cost 1, enforce, fallback on store error, no burst, no block.
    pub fn new(
        name: &str,
        algorithm: Algorithm,
        quota: u64,
        window: Duration,
        key: Vec<KeyPart>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            algorithm,
            quota,
            window,
            burst: None,
            key,
            cost: 1,
            mode: Mode::Enforce,
            on_store_error: OnStoreError::Fallback,
            block: None,
        }
    }

    /// What the store needs to decide a check of this policy.
    pub fn limit(&self) -> Limit {
        Limit {
            algorithm: self.algorithm,
            quota: self.quota,
            window_ms: self.window.as_millis() as u64,
            burst: self.burst.unwrap_or(self.quota),
            block_ms: self.block.map_or(0, |d| d.as_millis() as u64),
            shadow: self.mode == Mode::Shadow,
            on_store_error: self.on_store_error,
        }
    }

    /// Checks every field, reporting every problem at once.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        if !valid_name(&self.name) {
            e.push(FieldError::new(
                "name",
                "1 to 64 characters of A-Z a-z 0-9 _ . -",
            ));
        } else if self.name.starts_with(RESERVED_PREFIX) {
            e.push(FieldError::new(
                "name",
                "a name not starting with `palisade.` (reserved for Palisade's own limits)",
            ));
        }
        check_quota("quota", self.quota, &mut e);
        check_window("window", self.window, &mut e);
        check_rate(self.quota, self.window, &mut e);
        if let Some(b) = self.burst {
            if self.algorithm != Algorithm::Gcra {
                e.push(FieldError::new(
                    "burst",
                    "only the gcra algorithm has a burst",
                ));
            } else {
                check_quota("burst", b, &mut e);
            }
        }
        if self.key.is_empty() || self.key.len() > MAX_KEY_PARTS {
            e.push(FieldError::new("key", "1 to 8 key parts"));
        }
        if self.cost > self.limit().capacity() {
            e.push(FieldError::new(
                "cost",
                "must not exceed the quota (or burst)",
            ));
        }
        if let Some(b) = self.block {
            if b < Duration::from_millis(1) || b > MAX_WINDOW {
                e.push(FieldError::new("block", "must be between 1ms and 30d"));
            }
        }
        if e.is_empty() {
            Ok(())
        } else {
            Err(e)
        }
    }

    /// Parses and validates a JSON policy, reporting every bad or unknown field at once.
    /// `cost`, `mode`, `on_store_error`, `burst` and `block` are optional.
    pub fn parse(v: &Value) -> Result<Self, Vec<FieldError>> {
        let Some(obj) = v.as_object() else {
            return Err(vec![FieldError::new("", "a policy is a JSON object")]);
        };
        let mut e = Vec::new();
        unknown_fields(
            obj,
            &[
                "name",
                "algorithm",
                "quota",
                "window",
                "burst",
                "key",
                "cost",
                "mode",
                "on_store_error",
                "block",
            ],
            &mut e,
        );
        let name = required::<String>(obj, "name", &mut e);
        let algorithm = required::<Algorithm>(obj, "algorithm", &mut e);
        let quota = required::<u64>(obj, "quota", &mut e);
        let window = required_duration(obj, "window", &mut e);
        let burst = optional::<u64>(obj, "burst", &mut e);
        let key = required::<Vec<KeyPart>>(obj, "key", &mut e);
        let cost = optional::<u64>(obj, "cost", &mut e).unwrap_or(1);
        let mode = optional::<Mode>(obj, "mode", &mut e).unwrap_or_default();
        let on_store_error = optional::<OnStoreError>(obj, "on_store_error", &mut e);
        let block = optional_duration(obj, "block", &mut e);
        let complete = name.is_some()
            && algorithm.is_some()
            && quota.is_some()
            && window.is_some()
            && key.is_some();
        // Missing or unparsable fields get neutral placeholders so every other field is
        // still validated; placeholder errors are dropped (the field already has one).
        let p = Self {
            name: name.unwrap_or_default(),
            algorithm: algorithm.unwrap_or(Algorithm::Gcra),
            quota: quota.unwrap_or(MAX_QUOTA),
            window: window.unwrap_or(MAX_WINDOW),
            burst,
            key: key.unwrap_or_else(|| vec![KeyPart::Tenant]),
            cost,
            mode,
            on_store_error: on_store_error.unwrap_or_default(),
            block,
        };
        if let Err(more) = p.validate() {
            let seen: Vec<String> = e.iter().map(|f| f.field.clone()).collect();
            e.extend(more.into_iter().filter(|f| !seen.contains(&f.field)));
        }
        if e.is_empty() && complete {
            Ok(p)
        } else {
            Err(e)
        }
    }
}

impl TryFrom<Value> for Policy {
    type Error = String;
    fn try_from(v: Value) -> Result<Self, String> {
        Self::parse(&v).map_err(|e| {
            e.iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

/// The prefix of the policy names Palisade's own limits use (a preview fetch's, say): no
/// configured or tenant policy may take one, so no tenant can read, reset or share their state.
pub const RESERVED_PREFIX: &str = "palisade.";

/// True for 1..=64 characters of `A-Z a-z 0-9 _ . -` (safe in keys and header strings).
pub fn valid_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

pub(crate) fn check_quota(field: &str, q: u64, e: &mut Vec<FieldError>) {
    if q == 0 || q > MAX_QUOTA {
        e.push(FieldError::new(field, "must be between 1 and 1000000000"));
    }
}

pub(crate) fn check_window(field: &str, w: Duration, e: &mut Vec<FieldError>) {
    if w < MIN_WINDOW || w > MAX_WINDOW || w != Duration::from_millis(w.as_millis() as u64) {
        e.push(FieldError::new(
            field,
            "must be between 1s and 30d, in whole milliseconds",
        ));
    }
}

pub(crate) fn check_rate(quota: u64, window: Duration, e: &mut Vec<FieldError>) {
    if quota as u128 > window.as_micros() {
        e.push(FieldError::new(
            "quota",
            "at most one unit per microsecond of window",
        ));
    }
}

/// One error for the object when it has fields outside `known` (their names are the caller's,
/// so they are not repeated).
pub(crate) fn unknown_fields(obj: &Map<String, Value>, known: &[&str], e: &mut Vec<FieldError>) {
    if obj.keys().any(|k| !known.contains(&k.as_str())) {
        let msg = format!("unknown field; allowed fields: {}", known.join(", "));
        e.push(FieldError::new("", msg));
    }
}

pub(crate) fn optional<T: DeserializeOwned>(
    obj: &Map<String, Value>,
    field: &str,
    e: &mut Vec<FieldError>,
) -> Option<T> {
    let v = obj.get(field).filter(|v| !v.is_null())?;
    match serde_json::from_value(v.clone()) {
        Ok(t) => Some(t),
        Err(err) => {
            let path = [PathPart::Field(field)];
            e.push(input::field_error(&path, &err.to_string()));
            None
        }
    }
}

pub(crate) fn required<T: DeserializeOwned>(
    obj: &Map<String, Value>,
    field: &str,
    e: &mut Vec<FieldError>,
) -> Option<T> {
    if obj.get(field).is_none_or(Value::is_null) {
        e.push(FieldError::new(field, "required"));
        return None;
    }
    optional(obj, field, e)
}

pub(crate) fn optional_duration(
    obj: &Map<String, Value>,
    field: &str,
    e: &mut Vec<FieldError>,
) -> Option<Duration> {
    let v = obj.get(field).filter(|v| !v.is_null())?;
    match human::parse_value(v) {
        Ok(d) => Some(d),
        Err(m) => {
            e.push(FieldError::new(field, m));
            None
        }
    }
}

fn required_duration(
    obj: &Map<String, Value>,
    field: &str,
    e: &mut Vec<FieldError>,
) -> Option<Duration> {
    if obj.get(field).is_none_or(Value::is_null) {
        e.push(FieldError::new(field, "required"));
        return None;
    }
    optional_duration(obj, field, e)
}

/// Durations as human strings (`30s`, `5m`, `1d`) or whole seconds.
pub mod human {
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_json::Value;
    use std::time::Duration;

    /// A duration from a human string or a number of seconds.
    pub fn parse_value(v: &Value) -> Result<Duration, String> {
        match v {
            Value::String(s) => humantime::parse_duration(s.trim())
                .map_err(|_| "expected a duration such as 30s, 5m, 1h or 1d".to_owned()),
            Value::Number(n) => n
                .as_u64()
                .map(Duration::from_secs)
                .ok_or_else(|| "expected whole seconds".to_owned()),
            _ => Err("expected a duration such as 30s, 5m, 1h or 1d".to_owned()),
        }
    }

    /// Serializes as a human string.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    /// Deserializes from a human string or seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        parse_value(&Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

mod human_opt {
    use serde::Serializer;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::human::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    #[allow(dead_code)]
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        super::human::deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_human_windows_and_defaults() {
        let p = Policy::parse(&json!({
            "name": "api", "algorithm": "gcra", "quota": 100, "window": "1m",
            "burst": 20, "key": ["ip/64", "route"], "block": "5m"
        }))
        .unwrap();
        assert_eq!(p.window, Duration::from_secs(60));
        assert_eq!(p.cost, 1);
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.on_store_error, OnStoreError::Fallback);
        assert_eq!(p.limit().burst, 20);
        assert_eq!(p.limit().block_ms, 300_000);
        for w in ["1s", "30s", "5m", "1d", "30d"] {
            let mut v = serde_json::to_value(&p).unwrap();
            v["window"] = w.into();
            assert!(Policy::parse(&v).is_ok(), "{w}");
        }
    }

    #[test]
    fn the_reserved_prefix_is_refused_without_echoing_the_name() {
        let body = json!({"name": "palisade.previews.fetch", "algorithm": "gcra", "quota": 5, "window": "1m", "key": ["route"]});
        let e = Policy::parse(&body).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].field, "name");
        assert!(e[0].message.contains("reserved"), "{e:?}");
        assert!(!e[0].message.contains("previews.fetch"), "{e:?}");
        let body = json!({"name": "palisadex", "algorithm": "gcra", "quota": 5, "window": "1m", "key": ["route"]});
        assert!(Policy::parse(&body).is_ok());
    }

    #[test]
    fn serde_round_trips() {
        let mut p = Policy::new(
            "a",
            Algorithm::SlidingWindow,
            5,
            Duration::from_secs(86400),
            vec![KeyPart::Tenant],
        );
        p.block = Some(Duration::from_secs(30));
        p.mode = Mode::Shadow;
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["window"], "1day");
        assert_eq!(serde_json::from_value::<Policy>(v).unwrap(), p);
    }

    #[test]
    fn reports_every_bad_field_at_once() {
        let e = Policy::parse(&json!({
            "name": "bad name!", "algorithm": "leaky", "quota": 0, "window": "500ms",
            "key": [], "mode": "loud", "on_store_error": "panic", "extra": 1
        }))
        .unwrap_err();
        let fields: Vec<_> = e.iter().map(|f| f.field.as_str()).collect();
        for f in ["", "algorithm", "window", "mode", "on_store_error"] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
        let e = Policy::parse(&json!({
            "name": "bad name!", "algorithm": "fixed_window", "quota": 0, "window": "31d",
            "burst": 3, "key": [], "cost": 5, "block": "0s"
        }))
        .unwrap_err();
        let fields: Vec<_> = e.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            ["name", "quota", "window", "burst", "key", "cost", "block"]
        );
        let e = Policy::parse(&json!({})).unwrap_err();
        assert_eq!(e.len(), 5, "{e:?}");
    }
}
