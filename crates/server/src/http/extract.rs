//! Request extractors that turn every rejection into a problem+json error.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use palisade_core::{FieldError, PageRequest, Problem};
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// A JSON body; malformed, oversized or wrongly typed bodies answer 400/413/415 problems.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(r) => Err(json_problem(&r)),
        }
    }
}

fn json_problem(r: &JsonRejection) -> Problem {
    match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
            "the request body exceeds the configured limit",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "send the body as application/json",
        ),
        _ => Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-json",
            "Invalid JSON body",
            r.body_text(),
        ),
    }
}

/// Query parameters; unknown or invalid parameters answer a 400 problem naming them.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|r: QueryRejection| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid-query",
                    "Invalid query parameters",
                    r.body_text(),
                )
            })
    }
}

/// Path parameters; undecodable ones answer a 400 problem.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|r: PathRejection| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid-path",
                    "Invalid path parameter",
                    r.body_text(),
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
        if self
            .cursor
            .as_ref()
            .is_some_and(|c| c.is_empty() || c.len() > 256)
        {
            errors.push(FieldError::new(
                "cursor",
                "must be a cursor returned as `next`",
            ));
        }
        if errors.is_empty() {
            Ok(PageRequest {
                after: self.cursor,
                limit,
            })
        } else {
            Err(Problem::invalid(errors))
        }
    }
}
