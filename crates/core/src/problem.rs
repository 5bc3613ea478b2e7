//! RFC 9457 problem details: the one shape every Palisade error takes on the wire.

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};

/// The media type of a problem body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid input field and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field's name or JSON pointer-like path (`quota`, `policies[2].window`).
    pub field: String,
    /// What is wrong with it, for a human.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A public error: stable code, HTTP status, and text that is safe to show a client.
///
/// Never put backend messages, SQL, secrets or personal data in `title` or `detail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable, machine-readable code (kebab-case), e.g. `quota-exceeded`.
    pub code: &'static str,
    /// Short human summary that does not vary between occurrences.
    pub title: &'static str,
    /// Human explanation of this occurrence.
    pub detail: String,
    /// Invalid fields, when the problem is bad input.
    pub errors: Vec<FieldError>,
    /// Seconds after which a retry may succeed (sent as `Retry-After`).
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem with the given status, code, title and detail.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// 400 `invalid-request` listing every invalid field.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| match e.field.as_str() {
                "" => e.message.clone(),
                f => format!("{f}: {}", e.message),
            })
            .collect::<Vec<_>>()
            .join("; ");
        let mut p = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "Invalid request",
            detail,
        );
        p.errors = errors;
        p
    }

    /// 404 `not-found`; used alike for missing resources and other tenants' resources.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            format!("{what} not found"),
        )
    }

    /// 503 `store-unavailable` with `Retry-After`.
    pub fn unavailable(retry_after: u64) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store-unavailable",
            "Service temporarily unavailable",
            "a backing store is unavailable or saturated; retry later",
        )
        .with_retry_after(retry_after)
    }

    /// 500 `internal` with no detail beyond the request id.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "an internal error occurred; quote the request id when reporting it",
        )
    }

    /// Sets `Retry-After` seconds.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// The JSON body, citing `request_id` when known.
    pub fn body(&self, request_id: Option<&str>) -> serde_json::Value {
        let mut v = serde_json::json!({
            "type": format!("urn:palisade:problem:{}", self.code),
            "title": self.title,
            "status": self.status.as_u16(),
            "code": self.code,
            "detail": self.detail,
        });
        if let Some(id) = request_id {
            v["request_id"] = id.into();
        }
        if !self.errors.is_empty() {
            v["errors"] = serde_json::to_value(&self.errors).unwrap_or_default();
        }
        v
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let rid = crate::request_id::current();
        let body = self.body(rid.as_deref()).to_string();
        let mut res = Response::new(Body::from(body));
        *res.status_mut() = self.status;
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_rfc9457_members_and_code() {
        let p = Problem::invalid(vec![
            FieldError::new("quota", "must be positive"),
            FieldError::new("window", "must be at least 1s"),
        ]);
        let b = p.body(Some("req_x"));
        assert_eq!(b["status"], 400);
        assert_eq!(b["code"], "invalid-request");
        assert_eq!(b["type"], "urn:palisade:problem:invalid-request");
        assert_eq!(b["request_id"], "req_x");
        assert_eq!(b["errors"].as_array().unwrap().len(), 2);
        assert!(b["detail"].as_str().unwrap().contains("window"));
    }

    #[test]
    fn response_sets_media_type_and_retry_after() {
        let res = Problem::unavailable(2).into_response();
        assert_eq!(res.status(), 503);
        assert_eq!(res.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(res.headers()[header::RETRY_AFTER], "2");
    }
}
