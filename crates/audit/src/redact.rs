//! Redaction of an event's detail: sensitive field names and secret-looking text, bounded size.

use palisade_core::redact::{is_sensitive_field, redact};
use serde_json::{Map, Value};

/// The largest stored detail (serialised JSON); a larger one is replaced by `{"truncated":true}`.
pub const MAX_DETAIL_BYTES: usize = 4096;

/// Nesting kept at most; deeper values become `"[TRUNCATED]"`.
const MAX_DEPTH: usize = 4;

/// The detail as it may be stored: every value under a sensitive field name (`secret`,
/// `authorization`, `token`, …) is `"[REDACTED]"`, every string passes through the log
/// redactor (keys, JWTs, bearer values, e-mails, cards, phones), and the result is bounded.
/// A detail that is not an object is wrapped as `{"value": …}`.
pub fn redact_detail(detail: &Value) -> Value {
    let object = match detail {
        Value::Object(_) => value(detail, 0),
        Value::Null => Value::Object(Map::new()),
        other => Value::Object(Map::from_iter([("value".to_owned(), value(other, 1))])),
    };
    let size = serde_json::to_string(&object).map_or(usize::MAX, |s| s.len());
    if size > MAX_DETAIL_BYTES {
        return serde_json::json!({ "truncated": true });
    }
    object
}

fn value(v: &Value, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::String("[TRUNCATED]".into());
    }
    match v {
        Value::String(s) => Value::String(redact(s).into_owned()),
        Value::Array(items) => items.iter().map(|i| value(i, depth + 1)).collect(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                let key = redact(k).into_owned();
                if is_sensitive_field(k) {
                    (key, Value::String("[REDACTED]".into()))
                } else {
                    (key, value(v, depth + 1))
                }
            })
            .collect::<Map<_, _>>()
            .into(),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sensitive_names_and_secret_text_are_redacted() {
        let d = json!({
            "authorization": "Bearer abc.def",
            "nested": {"client_secret": 42, "note": "mail bob@example.com"},
            "list": ["eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2lnbmF0dXJl"],
            "policy": "api",
        });
        let r = redact_detail(&d);
        assert_eq!(r["authorization"], "[REDACTED]");
        assert_eq!(r["nested"]["client_secret"], "[REDACTED]");
        assert_eq!(r["nested"]["note"], "mail [REDACTED:email]");
        assert!(!r["list"][0].as_str().unwrap().contains("eyJ"));
        assert_eq!(r["policy"], "api");
    }

    #[test]
    fn bounded_in_size_and_depth() {
        let big = json!({"s": "x".repeat(MAX_DETAIL_BYTES)});
        assert_eq!(redact_detail(&big), json!({"truncated": true}));
        let deep = json!({"a": {"b": {"c": {"d": {"e": 1}}}}});
        assert_eq!(redact_detail(&deep)["a"]["b"]["c"]["d"]["e"], "[TRUNCATED]");
        assert_eq!(redact_detail(&json!(7)), json!({"value": 7}));
        assert_eq!(redact_detail(&Value::Null), json!({}));
    }
}
