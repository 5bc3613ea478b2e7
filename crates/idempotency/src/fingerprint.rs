//! Request fingerprints: what makes a retry "the same request" as the first one.
//!
//! A fingerprint is the SHA-256 of the method, the request target (path and query), the tenant,
//! the principal and a SHA-256 digest of the body, each length-prefixed so no two different
//! inputs hash the same bytes. When [`FingerprintConfig::ignore_json_fields`] is not empty and
//! the body is a JSON object, those top-level fields are removed and the rest is hashed in a
//! canonical form (object keys sorted, no insignificant whitespace); any other body is hashed
//! byte for byte.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt;

/// A request fingerprint: 64 lower-case hex characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// Wraps a fingerprint read back from a store or received by the HTTP API.
    pub fn from_hex(hex: impl Into<String>) -> Self {
        Self(hex.into())
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How bodies are fingerprinted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FingerprintConfig {
    /// Top-level JSON fields left out of the body digest (e.g. a client timestamp or trace id).
    #[serde(default)]
    pub ignore_json_fields: Vec<String>,
}

/// The parts of a request a fingerprint covers.
#[derive(Clone, Copy, Debug)]
pub struct FingerprintInput<'a> {
    /// HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// The route: Palisade uses the request's path and query.
    pub route: &'a str,
    /// The tenant id.
    pub tenant: &'a str,
    /// The principal inside the tenant.
    pub principal: &'a str,
    /// The raw request body.
    pub body: &'a [u8],
}

impl FingerprintConfig {
    /// The fingerprint of `input`.
    pub fn fingerprint(&self, input: &FingerprintInput<'_>) -> Fingerprint {
        let body_digest = self.body_digest(input.body);
        let mut h = Sha256::new();
        h.update(b"palisade-idempotency-v1");
        for part in [
            input.method.as_bytes(),
            input.route.as_bytes(),
            input.tenant.as_bytes(),
            input.principal.as_bytes(),
            &body_digest,
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        Fingerprint(hex::encode(h.finalize()))
    }

    fn body_digest(&self, body: &[u8]) -> [u8; 32] {
        if !self.ignore_json_fields.is_empty() {
            if let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(body) {
                for f in &self.ignore_json_fields {
                    map.remove(f);
                }
                let mut canon = Vec::with_capacity(body.len());
                write_canonical(&Value::Object(map), &mut canon);
                return Sha256::digest(&canon).into();
            }
        }
        Sha256::digest(body).into()
    }
}

/// JSON with object keys sorted, whatever the map's iteration order.
fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend(serde_json::to_vec(k).unwrap_or_default());
                out.push(b':');
                write_canonical(&m[k], out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(x, out);
            }
            out.push(b']');
        }
        scalar => out.extend(serde_json::to_vec(scalar).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(body: &'a [u8]) -> FingerprintInput<'a> {
        FingerprintInput {
            method: "POST",
            route: "/v1/charges",
            tenant: "ten_a",
            principal: "key_1",
            body,
        }
    }

    #[test]
    fn every_part_counts() {
        let c = FingerprintConfig::default();
        let base = c.fingerprint(&input(b"{}"));
        assert_eq!(base.as_str().len(), 64);
        assert_eq!(base, c.fingerprint(&input(b"{}")));
        let variants = [
            FingerprintInput {
                method: "PATCH",
                ..input(b"{}")
            },
            FingerprintInput {
                route: "/v1/charges?x=1",
                ..input(b"{}")
            },
            FingerprintInput {
                tenant: "ten_b",
                ..input(b"{}")
            },
            FingerprintInput {
                principal: "key_2",
                ..input(b"{}")
            },
            input(b"{ }"),
        ];
        for v in variants {
            assert_ne!(base, c.fingerprint(&v), "{v:?}");
        }
    }

    #[test]
    fn parts_do_not_run_together() {
        let c = FingerprintConfig::default();
        let a = FingerprintInput {
            tenant: "ab",
            principal: "c",
            ..input(b"")
        };
        let b = FingerprintInput {
            tenant: "a",
            principal: "bc",
            ..input(b"")
        };
        assert_ne!(c.fingerprint(&a), c.fingerprint(&b));
    }

    #[test]
    fn ignored_json_fields_do_not_count() {
        let c = FingerprintConfig {
            ignore_json_fields: vec!["sent_at".into()],
        };
        let a = c.fingerprint(&input(br#"{"amount":5,"sent_at":"10:00"}"#));
        let b = c.fingerprint(&input(br#"{ "sent_at":"10:01", "amount":5 }"#));
        assert_eq!(a, b);
        let other = c.fingerprint(&input(br#"{"amount":6,"sent_at":"10:00"}"#));
        assert_ne!(a, other);
        // Non-JSON bodies are hashed as bytes.
        assert_ne!(
            c.fingerprint(&input(b"not json")),
            c.fingerprint(&input(b"not  json"))
        );
    }
}
