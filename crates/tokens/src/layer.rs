//! [`VerifyLayer`]: a tower layer that verifies a request's Bearer JWT and hands its claims on.
//!
//! A request whose `Authorization: Bearer <jwt>` verifies for the layer's tenant goes on with
//! the [`VerifiedToken`] in its extensions; any other request is answered here: 401
//! problem+json with the refusal's code (`token-expired`, `token-revoked`, …) and
//! `WWW-Authenticate: Bearer error="invalid_token"`, or 503 when the store is unavailable.

use crate::model::VerifiedToken;
use crate::runtime::Tokens;
use crate::TokenError;
use http::{header, HeaderValue, Request, Response};
use palisade_core::problem::PROBLEM_JSON;
use palisade_core::TenantId;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Verifies Bearer JWTs of `tenant`'s issuers with `tokens`.
#[derive(Debug, Clone)]
pub struct VerifyLayer {
    tokens: Tokens,
    tenant: TenantId,
}

impl VerifyLayer {
    /// The layer verifying with `tokens` as `tenant`.
    pub fn new(tokens: Tokens, tenant: TenantId) -> Self {
        Self { tokens, tenant }
    }
}

impl<S> tower::Layer<S> for VerifyLayer {
    type Service = Verify<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Verify {
            inner,
            tokens: self.tokens.clone(),
            tenant: self.tenant.clone(),
        }
    }
}

/// The service of [`VerifyLayer`].
#[derive(Debug, Clone)]
pub struct Verify<S> {
    inner: S,
    tokens: Tokens,
    tenant: TenantId,
}

/// The token of `Authorization: Bearer <token>`, if the header is that.
fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn refusal<B: From<String>>(e: &TokenError) -> Response<B> {
    let p = e.problem();
    let mut res = Response::new(B::from(p.body(None).to_string()));
    *res.status_mut() = p.status;
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    if p.status == http::StatusCode::UNAUTHORIZED {
        h.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
    }
    if let Some(secs) = p.retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    res
}

impl<S, ReqB, ResB> tower::Service<Request<ReqB>> for Verify<S>
where
    S: tower::Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send,
    ReqB: Send + 'static,
    ResB: From<String>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResB>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        // The clone that was polled ready serves this request (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let (tokens, tenant) = (self.tokens.clone(), self.tenant.clone());
        Box::pin(async move {
            let Some(token) = bearer(req.headers()).map(str::to_owned) else {
                return Ok(refusal(&TokenError::Malformed));
            };
            match tokens.token_verify(&tenant, &token).await {
                Ok(v) => {
                    req.extensions_mut().insert::<VerifiedToken>(v);
                    inner.call(req).await
                }
                Err(e) => Ok(refusal(&e)),
            }
        })
    }
}
