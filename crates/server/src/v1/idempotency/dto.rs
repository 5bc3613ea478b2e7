//! Bodies of `/v1/idempotency` and their validation into the capability's types.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use http::{HeaderName, HeaderValue, StatusCode};
use palisade_core::{Caller, FieldError, Problem};
use palisade_idempotency::{
    Fingerprint, FingerprintConfig, FingerprintInput, IdempotencyConfig, IdempotencyError,
    IdempotencyKey, KeyError, RecoveryPoint, StoredResponse,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Longest principal, route, entry token and recovery point name, in bytes.
const MAX_PRINCIPAL: usize = 200;
const MAX_ROUTE: usize = 2048;
const MAX_TOKEN: usize = 128;
const MAX_NAME: usize = 200;
const MAX_FINGERPRINT: usize = 256;
/// Largest recovery point data, serialized.
pub const MAX_RECOVERY_DATA: usize = 64 * 1024;
/// Most headers in a stored response.
const MAX_HEADERS: usize = 64;
/// The prefix that keeps app-chosen principals apart from key ids.
const APP_PRINCIPAL: &str = "app:";

/// The fields that name an entry (the same in every body): the key in one of two forms and,
/// optionally, your own principal.
pub struct EntryName<'a> {
    key: Option<&'a str>,
    key_header: Option<&'a str>,
    principal: Option<&'a str>,
}

/// Adds `entry_name()` to a body with `key`, `key_header` and `principal` fields.
macro_rules! named {
    ($($t:ty),*) => {$(
        impl $t {
            /// The fields naming the entry.
            pub fn entry_name(&self) -> EntryName<'_> {
                EntryName {
                    key: self.key.as_deref(),
                    key_header: self.key_header.as_deref(),
                    principal: self.principal.as_deref(),
                }
            }
        }
    )*};
}
named!(BeginBody, RecoveryPointBody, CompleteBody, AbandonBody);

/// The request a key is bound to, for Palisade to fingerprint.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestDoc {
    /// HTTP method, e.g. `POST` (1..=20 letters).
    pub method: String,
    /// Path and query, e.g. `/charges?expand=customer` (1..=2048 printable ASCII characters).
    pub route: String,
    /// SHA-256 of the request body as 64 hex digits (of the normalised body if you ignore
    /// fields such as a client timestamp).
    pub body_sha256: String,
}

/// Input of begin.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BeginBody {
    /// The key, decoded: 1..=255 printable ASCII characters. Give this or `key_header`.
    pub key: Option<String>,
    /// The raw `Idempotency-Key` header value your client sent, quoted (`"abc"`, a
    /// structured-field string) or bare (`abc`); Palisade decodes it. Give this or `key`.
    pub key_header: Option<String>,
    /// Who inside the tenant, e.g. your end user's id (1..=200 characters, no control
    /// characters). Default: the calling API key, so entries are per key. Pass the same value
    /// to every call of one entry.
    pub principal: Option<String>,
    /// Your own fingerprint of the request (1..=256 printable ASCII characters). Give this or
    /// `request`.
    pub fingerprint: Option<String>,
    /// The request, for Palisade to fingerprint. Give this or `fingerprint`.
    pub request: Option<RequestDoc>,
}

/// Input of recovery-point.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoveryPointBody {
    /// The key, decoded: 1..=255 printable ASCII characters. Give this or `key_header`.
    pub key: Option<String>,
    /// The raw `Idempotency-Key` header value your client sent, quoted (`"abc"`, a
    /// structured-field string) or bare (`abc`); Palisade decodes it. Give this or `key`.
    pub key_header: Option<String>,
    /// Who inside the tenant, e.g. your end user's id (1..=200 characters, no control
    /// characters). Default: the calling API key, so entries are per key. Pass the same value
    /// to every call of one entry.
    pub principal: Option<String>,
    /// The `entry_token` begin answered.
    pub entry_token: String,
    /// The phase reached, e.g. `charge_created` (1..=200 characters).
    pub name: String,
    /// What a retry needs to resume from there (any JSON, at most 64 KiB serialized).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// Input of complete.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteBody {
    /// The key, decoded: 1..=255 printable ASCII characters. Give this or `key_header`.
    pub key: Option<String>,
    /// The raw `Idempotency-Key` header value your client sent, quoted (`"abc"`, a
    /// structured-field string) or bare (`abc`); Palisade decodes it. Give this or `key`.
    pub key_header: Option<String>,
    /// Who inside the tenant, e.g. your end user's id (1..=200 characters, no control
    /// characters). Default: the calling API key, so entries are per key. Pass the same value
    /// to every call of one entry.
    pub principal: Option<String>,
    /// The `entry_token` begin answered.
    pub entry_token: String,
    /// The response to replay to retries.
    pub response: ResponseDoc,
}

/// Input of abandon.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AbandonBody {
    /// The key, decoded: 1..=255 printable ASCII characters. Give this or `key_header`.
    pub key: Option<String>,
    /// The raw `Idempotency-Key` header value your client sent, quoted (`"abc"`, a
    /// structured-field string) or bare (`abc`); Palisade decodes it. Give this or `key`.
    pub key_header: Option<String>,
    /// Who inside the tenant, e.g. your end user's id (1..=200 characters, no control
    /// characters). Default: the calling API key, so entries are per key. Pass the same value
    /// to every call of one entry.
    pub principal: Option<String>,
    /// The `entry_token` begin answered.
    pub entry_token: String,
}

/// One header of a stored response.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderDoc {
    /// Header name (stored in lower case).
    pub name: String,
    /// Header value (visible ASCII).
    pub value: String,
}

/// A response as stored and replayed.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseDoc {
    /// HTTP status, 100..=599.
    pub status: u16,
    /// Headers; only the replay allow-list is kept (content-type, content-language,
    /// content-location, location, etag, last-modified, link), others are dropped. At most 64.
    #[serde(default)]
    pub headers: Vec<HeaderDoc>,
    /// The body, base64 (standard alphabet, padded); at most 1 MiB decoded.
    #[serde(default)]
    pub body_base64: String,
}

impl From<StoredResponse> for ResponseDoc {
    fn from(r: StoredResponse) -> Self {
        Self {
            status: r.status,
            headers: r
                .headers
                .into_iter()
                .map(|(name, value)| HeaderDoc { name, value })
                .collect(),
            body_base64: B64.encode(r.body),
        }
    }
}

/// A recovery point as begin answers it.
#[derive(Serialize, ToSchema)]
pub struct RecoveryPointDoc {
    /// The phase an earlier attempt reached.
    pub name: String,
    /// Its data.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// What begin decided.
#[derive(Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum BeginView {
    /// Run the operation, then complete (or abandon) with the token.
    Proceed {
        /// Proves the claim; send it to recovery-point, complete and abandon. A secret.
        entry_token: String,
        /// 1 for a new entry; more when a retry took over an entry whose lock expired.
        attempt: u32,
        /// The last recovery point of an earlier attempt: resume from there.
        recovery_point: Option<RecoveryPointDoc>,
    },
    /// The operation completed before: answer your client with this response and
    /// `Idempotent-Replayed: true`.
    Replay {
        /// The stored response.
        response: ResponseDoc,
    },
}

/// Checks `value` is 1..=`max` bytes without control characters.
fn text(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.is_empty() || value.len() > max || value.chars().any(char::is_control) {
        let msg = format!("must be 1 to {max} characters without control characters");
        return Err(FieldError::new(field, msg));
    }
    Ok(())
}

fn printable(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.is_empty() || value.len() > max || !value.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        let msg = format!("must be 1 to {max} printable ASCII characters");
        return Err(FieldError::new(field, msg));
    }
    Ok(())
}

fn key_problem(e: KeyError) -> Problem {
    IdempotencyError::Key(e).problem()
}

impl EntryName<'_> {
    /// The key: exactly one of `key` or `key_header`; malformed → 400 `idempotency-key-*`.
    pub fn key(&self) -> Result<IdempotencyKey, Problem> {
        match (self.key, self.key_header) {
            (Some(k), None) => IdempotencyKey::new(k.to_owned()).map_err(key_problem),
            (None, Some(h)) => IdempotencyKey::parse_header(h.as_bytes()).map_err(key_problem),
            (None, None) => Err(Problem::new(
                StatusCode::BAD_REQUEST,
                KeyError::Missing.code(),
                "Bad idempotency key",
                "the key field is required (or key_header: an Idempotency-Key header's raw value)",
            )),
            (Some(_), Some(_)) => Err(Problem::invalid(vec![FieldError::new(
                "key",
                "give either key or key_header, not both",
            )])),
        }
    }

    /// `app:<principal>` when given, else the caller's key id.
    pub fn principal(&self, caller: &Caller) -> Result<String, FieldError> {
        match self.principal {
            None => Ok(caller.principal.clone()),
            Some(p) => {
                text("principal", p, MAX_PRINCIPAL)?;
                Ok(format!("{APP_PRINCIPAL}{p}"))
            }
        }
    }
}

/// An entry token's shape (its value is checked by the store).
pub fn token(value: &str) -> Result<(), FieldError> {
    printable("entry_token", value, MAX_TOKEN)
}

impl BeginBody {
    /// The fingerprint over tenant, principal and either the app's fingerprint or the request.
    pub fn fingerprint(&self, caller: &Caller, principal: &str) -> Result<Fingerprint, FieldError> {
        let input = |method, route, body| FingerprintInput {
            method,
            route,
            tenant: caller.tenant.as_str(),
            principal,
            body,
        };
        let cfg = FingerprintConfig::default();
        match (&self.fingerprint, &self.request) {
            (Some(f), None) => {
                printable("fingerprint", f, MAX_FINGERPRINT)?;
                Ok(cfg.fingerprint(&input("", "", f.as_bytes())))
            }
            (None, Some(r)) => {
                let (method, digest) = r.validate()?;
                Ok(cfg.fingerprint(&input(&method, &r.route, digest.as_bytes())))
            }
            _ => Err(FieldError::new(
                "fingerprint",
                "give exactly one of fingerprint or request",
            )),
        }
    }
}

impl RequestDoc {
    /// The upper-cased method and lower-cased digest, once every field checks out.
    fn validate(&self) -> Result<(String, String), FieldError> {
        let m = &self.method;
        if m.is_empty() || m.len() > 20 || !m.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(FieldError::new("request.method", "must be 1 to 20 letters"));
        }
        printable("request.route", &self.route, MAX_ROUTE)?;
        let d = &self.body_sha256;
        if d.len() != 64 || !d.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(FieldError::new(
                "request.body_sha256",
                "must be a SHA-256 as 64 hex digits",
            ));
        }
        Ok((m.to_ascii_uppercase(), d.to_ascii_lowercase()))
    }
}

impl RecoveryPointBody {
    /// The point, once its name and data size check out.
    pub fn point(&self) -> Result<RecoveryPoint, FieldError> {
        text("name", &self.name, MAX_NAME)?;
        let size = serde_json::to_vec(&self.data).map_or(usize::MAX, |v| v.len());
        if size > MAX_RECOVERY_DATA {
            let msg = format!("must be at most {MAX_RECOVERY_DATA} bytes serialized");
            return Err(FieldError::new("data", msg));
        }
        Ok(RecoveryPoint {
            name: self.name.clone(),
            data: self.data.clone(),
        })
    }
}

impl ResponseDoc {
    /// The response to store: status and body checked, headers filtered by the allow-list.
    pub fn stored(&self, cfg: &IdempotencyConfig) -> Result<StoredResponse, Vec<FieldError>> {
        let mut errors = Vec::new();
        if StatusCode::from_u16(self.status).is_err() || !(100..=599).contains(&self.status) {
            errors.push(FieldError::new("response.status", "must be 100 to 599"));
        }
        if self.headers.len() > MAX_HEADERS {
            let msg = format!("at most {MAX_HEADERS} headers");
            errors.push(FieldError::new("response.headers", msg));
        }
        let headers = self.headers.iter().try_fold(Vec::new(), |mut acc, h| {
            let name = HeaderName::try_from(h.name.as_str()).ok();
            let value = HeaderValue::try_from(h.value.as_str()).ok();
            match (name, value.filter(|v| v.to_str().is_ok())) {
                (Some(n), Some(_)) if cfg.replay_headers.contains(&n) => {
                    acc.push((n.as_str().to_owned(), h.value.clone()));
                    Ok(acc)
                }
                (Some(_), Some(_)) => Ok(acc),
                _ => Err(FieldError::new(
                    "response.headers",
                    "each must have a valid header name and a visible ASCII value",
                )),
            }
        });
        let headers = headers.map_err(|e| errors.push(e)).unwrap_or_default();
        let body = self
            .body(cfg.max_stored_response)
            .map_err(|e| errors.push(e));
        match body {
            Ok(body) if errors.is_empty() => Ok(StoredResponse {
                status: self.status,
                headers,
                body,
            }),
            _ => Err(errors),
        }
    }

    fn body(&self, cap: usize) -> Result<Vec<u8>, FieldError> {
        let field = "response.body_base64";
        // Base64 grows 4/3: refuse early what cannot decode under the cap.
        let too_big = || FieldError::new(field, format!("at most {cap} bytes decoded"));
        if self.body_base64.len() > cap.div_ceil(3) * 4 {
            return Err(too_big());
        }
        let body = B64
            .decode(&self.body_base64)
            .map_err(|_| FieldError::new(field, "must be standard base64 with padding"))?;
        if body.len() > cap {
            return Err(too_big());
        }
        Ok(body)
    }
}
