//! Request extractors that turn every rejection into a problem+json error.

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use palisade_core::input::{self, PathPart};
use palisade_core::{FieldError, PageRequest, Problem};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::error::Category;
use serde_path_to_error::Segment;

/// A JSON body; malformed, oversized or wrongly typed bodies answer 400/413/415 problems.
///
/// A body that is not JSON answers `invalid-json`; JSON of the wrong shape (unknown, missing or
/// mistyped fields) answers `invalid-request` with an `errors` entry per field, in the words of
/// [`palisade_core::input`]: the field and what is expected, never the value received. Free-form
/// maps in a body type take `serde_json::Value` values, so no error path ends in a caller's key.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        if !is_json(req.headers()) {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "send the body as application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| body_problem(r.status()))?;
        json_body(&bytes).map(Self)
    }
}

/// `Content-Type: application/json` or `application/<something>+json`.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn body_problem(status: StatusCode) -> Problem {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return super::middleware::payload_too_large();
    }
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid-json",
        "Invalid JSON body",
        "the request body could not be read",
    )
}

/// Parses a JSON body into `T` (the mechanism behind [`ApiJson`]). A key repeated in any
/// object is refused (400 naming it), whatever `T` makes of it.
pub fn json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    if let Some(path) = super::dupkeys::first_duplicate(bytes) {
        return Err(Problem::invalid(vec![FieldError::new(
            path,
            "appears more than once",
        )]));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let inner = e.inner();
        match inner.classify() {
            Category::Data => shape_problem(e.path(), &inner.to_string()),
            _ => syntax_problem(inner),
        }
    })?;
    de.end().map_err(|e| syntax_problem(&e))?;
    Ok(value)
}

/// JSON that does not parse: where, never what.
fn syntax_problem(e: &serde_json::Error) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid-json",
        "Invalid JSON body",
        format!(
            "the body is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ),
    )
}

/// A value of the wrong shape at `path`: 400 `invalid-request` naming the field.
fn shape_problem(path: &serde_path_to_error::Path, message: &str) -> Problem {
    let parts: Vec<PathPart<'_>> = path
        .iter()
        .filter_map(|s| match s {
            Segment::Seq { index } => Some(PathPart::Index(*index)),
            Segment::Map { key } => Some(PathPart::Field(key)),
            Segment::Enum { variant } => Some(PathPart::Field(variant)),
            _ => None,
        })
        .collect();
    Problem::invalid(vec![input::field_error(&parts, message)])
}

/// Query parameters; unknown or invalid parameters answer 400 `invalid-request` naming them.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Self)
            .map_err(|e| shape_problem(e.path(), &e.inner().to_string()))
    }
}

/// Path parameters; undecodable ones answer a 400 problem (without echoing them).
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|_: PathRejection| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid-path",
                    "Invalid path parameter",
                    "a path parameter is not valid for this route",
                )
            })
    }
}

/// `?limit=&cursor=` of every list endpoint.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1..=200 (default 50).
    pub limit: Option<u32>,
    /// The `next` cursor of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// Validates the bounds.
    pub fn page(self) -> Result<PageRequest, Problem> {
        let limit = self.limit.unwrap_or(palisade_core::page::DEFAULT_PAGE);
        let mut errors = Vec::new();
        if !(1..=palisade_core::page::MAX_PAGE).contains(&limit) {
            errors.push(FieldError::new("limit", "must be between 1 and 200"));
        }
        let after = match self
            .cursor
            .as_deref()
            .map(palisade_core::page::cursor_decode)
        {
            Some(None) => {
                errors.push(FieldError::new(
                    "cursor",
                    "must be a cursor returned as `next`",
                ));
                None
            }
            Some(raw) => raw,
            None => None,
        };
        if errors.is_empty() {
            Ok(PageRequest { after, limit })
        } else {
            Err(Problem::invalid(errors))
        }
    }
}
