//! Capped buffering of request and response bodies, and building stored and replayed responses.

use crate::config::IdempotencyConfig;
use crate::model::StoredResponse;
use axum_core::body::Body;
use axum_core::response::Response;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use palisade_core::Problem;

/// The replay marker header.
pub const REPLAYED: &str = "idempotent-replayed";
/// The header publishing how long responses are retained, in seconds.
pub const RETENTION: &str = "idempotency-retention";

/// 413 `payload-too-large`.
pub fn too_large(cap: usize) -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
        "Payload too large",
        format!("the request body exceeds {cap} bytes"),
    )
}

/// Reads the whole request body, refusing more than `cap` bytes.
pub async fn read_request(headers: &HeaderMap, body: Body, cap: usize) -> Result<Bytes, Problem> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > cap as u64) {
        return Err(too_large(cap));
    }
    match Limited::new(body, cap).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large(cap)),
        Err(_) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-body",
            "Unreadable body",
            "the request body could not be read",
        )),
    }
}

/// A response body read up to a cap.
pub enum Capped {
    /// The whole body.
    Full(Bytes),
    /// Over the cap: the same bytes, streamed (what was read, then the rest).
    TooBig(Body),
}

/// Reads `body` unless it holds more than `cap` bytes.
pub async fn read_response(mut body: Body, cap: usize) -> Result<Capped, axum_core::Error> {
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            buf.extend_from_slice(&data);
            if buf.len() > cap {
                let head = futures::stream::once(async move { Ok(buf.freeze()) });
                return Ok(Capped::TooBig(Body::from_stream(
                    head.chain(body.into_data_stream()),
                )));
            }
        }
    }
    Ok(Capped::Full(buf.freeze()))
}

/// The response to store: status, allow-listed headers and body.
pub fn stored(
    status: StatusCode,
    headers: &HeaderMap,
    body: &Bytes,
    cfg: &IdempotencyConfig,
) -> StoredResponse {
    let headers = headers
        .iter()
        .filter(|(n, _)| cfg.replay_headers.contains(n))
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    StoredResponse {
        status: status.as_u16(),
        headers,
        body: body.to_vec(),
    }
}

/// The replay of a stored response, marked `Idempotent-Replayed: true`.
pub fn replay(r: StoredResponse, cfg: &IdempotencyConfig) -> Response {
    let mut res = Response::new(Body::from(r.body));
    *res.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let h = res.headers_mut();
    for (n, v) in r.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(n), HeaderValue::try_from(v)) {
            h.append(n, v);
        }
    }
    h.insert(REPLAYED, HeaderValue::from_static("true"));
    with_retention(res, cfg)
}

/// Adds `Idempotency-Retention: <ttl seconds>`.
pub fn with_retention(mut res: Response, cfg: &IdempotencyConfig) -> Response {
    res.headers_mut()
        .insert(RETENTION, HeaderValue::from(cfg.ttl.as_secs()));
    res
}

/// The `code` of a problem+json body, if it is one.
pub fn problem_code(headers: &HeaderMap, body: &Bytes) -> Option<String> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    if !ct.starts_with(palisade_core::problem::PROBLEM_JSON) {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    Some(v.get("code")?.as_str()?.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn response_over_cap_streams_intact() {
        let chunks = (0..4).map(|i| Ok::<_, std::io::Error>(Bytes::from(vec![b'a' + i; 10])));
        let body = Body::from_stream(futures::stream::iter(chunks));
        let Capped::TooBig(b) = read_response(body, 15).await.unwrap() else {
            panic!("over the cap")
        };
        let all = b.collect().await.unwrap().to_bytes();
        assert_eq!(all.len(), 40);
        assert_eq!(&all[..12], b"aaaaaaaaaabb");
        let Capped::Full(b) = read_response(Body::from("short"), 15).await.unwrap() else {
            panic!("under the cap")
        };
        assert_eq!(b, "short");
    }
}
