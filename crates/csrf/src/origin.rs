//! OWASP's Fetch-Metadata and Origin rules for state-changing requests, and their tower layer.
//!
//! [`origin_check`] decides a request from its method and headers:
//! 1. Safe methods (`GET`, `HEAD`, `OPTIONS`, `TRACE`) pass: they must not change state.
//! 2. With `Sec-Fetch-Site`: `same-origin` and `none` (typed by the user) pass; `same-site`
//!    passes only when the policy allows it; `cross-site` and anything else are refused.
//! 3. Without it, `Origin` must be one of the allowed origins (`null` never is).
//! 4. Without both, `Referer`'s origin must be.
//! 5. A request with none of the three is refused.

use futures::future::{Either, Ready};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use std::task::{Context, Poll};

/// Which origins may send state-changing requests.
#[derive(Debug, Clone, Default)]
pub struct OriginPolicy {
    /// Allowed origins, `scheme://host[:port]` (compared ASCII case-insensitively, no path).
    pub allowed_origins: Vec<String>,
    /// Whether `Sec-Fetch-Site: same-site` passes (sibling subdomains).
    pub allow_same_site: bool,
}

/// Why a request was refused: a fixed rule name, safe to log and to use as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused(pub &'static str);

impl OriginPolicy {
    fn allows(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/');
        self.allowed_origins
            .iter()
            .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin))
    }
}

/// `scheme://authority` of an absolute URL, if it is one.
fn origin_of(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    (end > 0).then(|| &url[..scheme.len() + 3 + end])
}

/// The header's value when present exactly once and readable.
fn one<'a>(headers: &'a HeaderMap, name: &str) -> Option<Result<&'a str, Refused>> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return Some(Err(Refused("duplicate-header")));
    }
    Some(first.to_str().map_err(|_| Refused("unreadable-header")))
}

/// Decides whether a request may change state (see the module's rules).
pub fn origin_check(
    policy: &OriginPolicy,
    method: &Method,
    headers: &HeaderMap,
) -> Result<(), Refused> {
    if matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) {
        return Ok(());
    }
    if let Some(site) = one(headers, "sec-fetch-site") {
        return match site?.to_ascii_lowercase().as_str() {
            "same-origin" | "none" => Ok(()),
            "same-site" if policy.allow_same_site => Ok(()),
            "same-site" => Err(Refused("same-site")),
            "cross-site" => Err(Refused("cross-site")),
            _ => Err(Refused("sec-fetch-site")),
        };
    }
    if let Some(origin) = one(headers, "origin") {
        let origin = origin?;
        return match origin != "null" && policy.allows(origin) {
            true => Ok(()),
            false => Err(Refused("origin")),
        };
    }
    if let Some(referer) = one(headers, "referer") {
        return match origin_of(referer?).is_some_and(|o| policy.allows(o)) {
            true => Ok(()),
            false => Err(Refused("referer")),
        };
    }
    Err(Refused("no-origin"))
}

/// A tower layer refusing state-changing requests that fail [`origin_check`] with a bare 403.
#[derive(Debug, Clone)]
pub struct OriginCheckLayer {
    policy: std::sync::Arc<OriginPolicy>,
}

impl OriginCheckLayer {
    /// The layer of `policy`.
    pub fn new(policy: OriginPolicy) -> Self {
        Self {
            policy: std::sync::Arc::new(policy),
        }
    }
}

impl<S> tower::Layer<S> for OriginCheckLayer {
    type Service = OriginCheck<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OriginCheck {
            inner,
            policy: self.policy.clone(),
        }
    }
}

/// The service of [`OriginCheckLayer`].
#[derive(Debug, Clone)]
pub struct OriginCheck<S> {
    inner: S,
    policy: std::sync::Arc<OriginPolicy>,
}

impl<S, B, RB> tower::Service<Request<B>> for OriginCheck<S>
where
    S: tower::Service<Request<B>, Response = Response<RB>>,
    RB: Default,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<Response<RB>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        match origin_check(&self.policy, req.method(), req.headers()) {
            Ok(()) => Either::Left(self.inner.call(req)),
            Err(Refused(rule)) => {
                metrics::counter!("palisade_csrf_origin_refused_total", "rule" => rule)
                    .increment(1);
                let mut res = Response::new(RB::default());
                *res.status_mut() = StatusCode::FORBIDDEN;
                Either::Right(futures::future::ready(Ok(res)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::{Layer, ServiceExt};

    fn policy() -> OriginPolicy {
        OriginPolicy {
            allowed_origins: vec!["https://app.example.com".into()],
            allow_same_site: false,
        }
    }

    fn check(method: Method, headers: &[(&str, &str)]) -> Result<(), Refused> {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        origin_check(&policy(), &method, &h)
    }

    #[test]
    fn owasp_rules() {
        assert_eq!(
            check(Method::GET, &[("sec-fetch-site", "cross-site")]),
            Ok(())
        );
        assert_eq!(
            check(Method::POST, &[("sec-fetch-site", "same-origin")]),
            Ok(())
        );
        assert_eq!(check(Method::POST, &[("sec-fetch-site", "none")]), Ok(()));
        assert_eq!(
            check(
                Method::POST,
                &[
                    ("sec-fetch-site", "cross-site"),
                    ("origin", "https://app.example.com")
                ]
            ),
            Err(Refused("cross-site"))
        );
        assert_eq!(
            check(Method::POST, &[("sec-fetch-site", "same-site")]),
            Err(Refused("same-site"))
        );
        assert_eq!(
            check(Method::POST, &[("origin", "https://APP.example.com")]),
            Ok(())
        );
        assert_eq!(
            check(Method::POST, &[("origin", "https://evil.example")]),
            Err(Refused("origin"))
        );
        assert_eq!(
            check(Method::POST, &[("origin", "null")]),
            Err(Refused("origin"))
        );
        assert_eq!(
            check(
                Method::DELETE,
                &[("referer", "https://app.example.com/a?b")]
            ),
            Ok(())
        );
        assert_eq!(
            check(
                Method::DELETE,
                &[("referer", "https://app.example.com.evil/a")]
            ),
            Err(Refused("referer"))
        );
        assert_eq!(check(Method::POST, &[]), Err(Refused("no-origin")));
        assert_eq!(
            check(
                Method::POST,
                &[
                    ("origin", "https://app.example.com"),
                    ("origin", "https://x")
                ]
            ),
            Err(Refused("duplicate-header"))
        );
    }

    #[tokio::test]
    async fn layer_refuses_with_403() {
        let svc = tower::service_fn(|_req: Request<()>| async {
            Ok::<_, std::convert::Infallible>(Response::new(String::from("done")))
        });
        let svc = OriginCheckLayer::new(policy()).layer(svc);
        let bad = Request::post("/")
            .header("sec-fetch-site", "cross-site")
            .body(())
            .unwrap();
        let res = svc.clone().oneshot(bad).await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let good = Request::post("/")
            .header("origin", "https://app.example.com")
            .body(())
            .unwrap();
        let res = svc.oneshot(good).await.unwrap();
        assert_eq!(res.into_body(), "done");
    }
}
