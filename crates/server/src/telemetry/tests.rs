//! Captures real log output in memory and checks what reaches it.

use std::io;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tracing::{info, info_span, warn};
use tracing_subscriber::layer::SubscriberExt;

use super::{layer, pretty_layer, LogFormat};

const KEY: &str = "pal_key_AbCdEfGh12345678_0123456789abcdefghijABCDEFGHIJ0123456789";
const CARD: &str = "4111 1111 1111 1111";

/// An in-memory log sink.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// Every line, parsed as one JSON object.
    fn lines(&self) -> Vec<serde_json::Map<String, Value>> {
        self.text()
            .lines()
            .map(|line| match serde_json::from_str(line) {
                Ok(Value::Object(object)) => object,
                other => panic!("not a JSON object: {line} ({other:?})"),
            })
            .collect()
    }
}

/// Runs `f` with the JSON layer as the thread's subscriber and returns what it wrote.
fn json_logs(f: impl FnOnce()) -> Capture {
    let capture = Capture::default();
    let sink = capture.clone();
    let subscriber = tracing_subscriber::registry().with(layer(move || sink.clone()));
    tracing::subscriber::with_default(subscriber, f);
    capture
}

#[derive(Debug)]
#[allow(dead_code)] // read through `Debug` only
struct KeyRequest {
    tenant: &'static str,
    key: &'static str,
    attempts: u32,
}

/// Events carrying every kind of secret the layer must catch.
fn emit_secrets() {
    let span = info_span!("request", request_id = "req_1", card = CARD);
    let _guard = span.enter();
    info!("user alice@example.com signed up");
    info!(password = "hunter2", user = "bob", "login attempt");
    info!(
        authorization = "Bearer abcdef.ghijkl.mnop1234",
        "upstream call"
    );
    let mut headers = http::HeaderMap::new();
    headers.insert("x-trace", "t-1".parse().unwrap());
    headers.insert("authorization", "Basic dXNlcjpzM2NyM3Q=".parse().unwrap());
    info!(?headers, "headers");
    let request = KeyRequest {
        tenant: "acme",
        key: KEY,
        attempts: 2,
    };
    warn!(request = ?request, "key rejected");
    info!(
        err = &io::Error::other("mail bob@example.org failed") as &dyn std::error::Error,
        "send"
    );
}

#[test]
fn secrets_never_reach_the_json_log() {
    let logs = json_logs(emit_secrets).text();
    for secret in [
        "alice@example.com",
        "hunter2",
        "abcdef.ghijkl.mnop1234",
        "dXNlcjpzM2NyM3Q=",
        KEY,
        CARD,
        "4111",
        "bob@example.org",
    ] {
        assert!(!logs.contains(secret), "{secret} leaked into:\n{logs}");
    }
    for marker in [
        "[REDACTED:email]",
        "\"password\":\"[REDACTED]\"",
        "\"authorization\":\"[REDACTED]\"",
        "[REDACTED:api_key]",
        "[REDACTED:card]",
    ] {
        assert!(logs.contains(marker), "{marker} missing from:\n{logs}");
    }
}

#[test]
fn each_line_is_a_json_object_with_the_standard_keys() {
    let lines = json_logs(emit_secrets).lines();
    assert_eq!(lines.len(), 6);
    for line in &lines {
        let timestamp = line["timestamp"].as_str().unwrap();
        assert!(is_rfc3339_utc(timestamp), "{timestamp}");
        assert!(["INFO", "WARN"].contains(&line["level"].as_str().unwrap()));
        assert_eq!(line["target"], module_path!());
        assert_eq!(line["span"], "request");
        assert!(line["message"].is_string());
    }
    assert_eq!(lines[0]["message"], "user [REDACTED:email] signed up");
    assert_eq!(lines[1]["user"], "bob");
    assert_eq!(lines[4]["level"], "WARN");
    assert!(lines[4]["request"]
        .as_str()
        .unwrap()
        .contains("tenant: \"acme\""));
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
fn is_rfc3339_utc(text: &str) -> bool {
    let shape = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    text.len() == shape.len()
        && text.bytes().zip(shape.bytes()).all(|(c, s)| match s {
            b'd' => c.is_ascii_digit(),
            _ => c == s,
        })
}

#[test]
fn numbers_and_booleans_stay_typed() {
    let lines = json_logs(|| {
        info!(
            status = 200u16,
            latency_ms = 12.5,
            ok = true,
            delta = -3i64,
            big = u128::MAX,
            "done"
        );
    })
    .lines();
    let line = &lines[0];
    assert_eq!(line["status"], Value::from(200));
    assert_eq!(line["latency_ms"], Value::from(12.5));
    assert_eq!(line["ok"], Value::Bool(true));
    assert_eq!(line["delta"], Value::from(-3));
    assert_eq!(line["big"], Value::from(u128::MAX.to_string()));
}

#[test]
fn sensitive_names_hide_numbers_too() {
    let lines = json_logs(|| info!(pin_secret = 1234, api_key = 42u64, "x")).lines();
    assert_eq!(lines[0]["pin_secret"], "[REDACTED]");
    assert_eq!(lines[0]["api_key"], "[REDACTED]");
}

#[test]
fn request_span_fields_appear_on_every_line_inside_it() {
    let lines = json_logs(|| {
        let request = info_span!(
            "request",
            request_id = "req_42",
            tenant = "acme",
            route = "/v1/tenants/{id}",
            method = "GET",
            status = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        let _request = request.enter();
        info!("started");
        {
            let _inner = info_span!("store", op = "tenant_get", tenant = "inner").entered();
            info!(rows = 1, "queried");
        }
        request.record("status", 200);
        request.record("latency_ms", 7);
        info!(status = 201, "finished");
    })
    .lines();
    assert_eq!(lines.len(), 3);
    for line in &lines {
        assert_eq!(line["request_id"], "req_42");
        assert_eq!(line["route"], "/v1/tenants/{id}");
        assert_eq!(line["method"], "GET");
    }
    assert!(lines[0].get("status").is_none());
    assert_eq!(lines[1]["span"], "store");
    assert_eq!(lines[1]["op"], "tenant_get");
    assert_eq!(lines[1]["tenant"], "inner", "the inner span's field wins");
    assert_eq!(lines[1]["rows"], 1);
    assert_eq!(lines[2]["tenant"], "acme");
    assert_eq!(lines[2]["latency_ms"], 7);
    assert_eq!(lines[2]["status"], 201, "the event's field wins");
    assert!(
        lines[2].get("op").is_none(),
        "a closed span's fields are gone"
    );
}

#[test]
fn recorded_span_values_are_redacted() {
    let lines = json_logs(|| {
        let span = info_span!(
            "request",
            user = tracing::field::Empty,
            token = tracing::field::Empty
        );
        let _guard = span.enter();
        span.record("user", "carol@example.com");
        span.record("token", "t0k3n");
        info!("x");
    })
    .lines();
    assert_eq!(lines[0]["user"], "[REDACTED:email]");
    assert_eq!(lines[0]["token"], "[REDACTED]");
}

#[test]
fn field_names_the_layer_uses_itself_are_kept_apart() {
    let lines = json_logs(|| info!(level = "custom", target = 3, "m")).lines();
    assert_eq!(lines[0]["level"], "INFO");
    assert_eq!(lines[0]["fields.level"], "custom");
    assert_eq!(lines[0]["fields.target"], 3);
}

#[test]
fn pretty_output_is_redacted_too() {
    let capture = Capture::default();
    let sink = capture.clone();
    let subscriber = tracing_subscriber::registry().with(pretty_layer(move || sink.clone()));
    tracing::subscriber::with_default(subscriber, emit_secrets);
    let logs = capture.text();
    assert_eq!(logs.lines().count(), 6, "{logs}");
    for secret in [
        "alice@example.com",
        "hunter2",
        "abcdef.ghijkl.mnop1234",
        KEY,
        CARD,
        "dXNlcjpzM2NyM3Q=",
    ] {
        assert!(!logs.contains(secret), "{secret} leaked into:\n{logs}");
    }
    for marker in [
        "[REDACTED:email]",
        "password=\"[REDACTED]\"",
        "[REDACTED:card]",
        "[REDACTED:api_key]",
    ] {
        assert!(logs.contains(marker), "{marker} missing from:\n{logs}");
    }
}

#[test]
fn pretty_messages_cannot_forge_lines() {
    let capture = Capture::default();
    let sink = capture.clone();
    let subscriber = tracing_subscriber::registry().with(pretty_layer(move || sink.clone()));
    tracing::subscriber::with_default(subscriber, || {
        let name = "eve\n2026-01-01T00:00:00Z INFO admin logged in\u{1b}[2J";
        info!("hello {name}");
    });
    let logs = capture.text();
    assert_eq!(logs.lines().count(), 1, "{logs}");
    assert!(!logs.contains('\u{1b}'), "{logs}");
}

#[test]
fn log_format_parses() {
    assert_eq!("json".parse::<LogFormat>().unwrap(), LogFormat::Json);
    assert_eq!("Pretty".parse::<LogFormat>().unwrap(), LogFormat::Pretty);
    assert!("yaml"
        .parse::<LogFormat>()
        .unwrap_err()
        .contains("json, pretty"));
    assert_eq!(LogFormat::default(), LogFormat::Json);
}
