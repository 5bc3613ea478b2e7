//! The fetcher: one pinned, checked reqwest client per allowlist, the redirect loop and the time caps.

use crate::body::body_read;
use crate::error::FetchError;
use crate::model::{media_accepted, media_type, FetchRequest, FetchResponse};
use crate::policy::{host_addresses, AddressPolicy};
use crate::resolve::{AnswerBlocked, CheckedResolver, Resolver, SystemResolver};
use crate::settings::{FetchSettings, ValidSettings};
use crate::target::{url_canonical, url_target, TargetHost};
use http::{header, Method, StatusCode};
use palisade_core::{AuditEvent, AuditEventType, NoAudit, SharedAuditSink};
use palisade_core::{FieldError, TenantId};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// The one outbound HTTP client of Palisade.
///
/// Every address a URL's host resolves to is checked against the deny list and the client
/// connects only to checked addresses; IP literals are checked before sending; redirects are
/// followed here, each hop checked like the first. No proxy from the environment is used.
#[derive(Clone)]
pub struct Fetcher {
    settings: Arc<FetchSettings>,
    global: Lane,
    tenants: Arc<HashMap<TenantId, Lane>>,
    audit: SharedAuditSink,
}

/// A client and the policy its resolver enforces (one per distinct allowlist, so a connection
/// pooled under one tenant's allowlist is never reused under another's).
#[derive(Clone)]
struct Lane {
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
}

/// Builds a [`Fetcher`] with an injected resolver or host-address list (tests, embedding apps).
pub struct FetcherBuilder {
    settings: FetchSettings,
    resolver: Arc<dyn Resolver>,
    host_addrs: Option<HashSet<IpAddr>>,
    audit: SharedAuditSink,
}

impl FetcherBuilder {
    /// Resolves names with `resolver` instead of the system's.
    pub fn resolver(mut self, resolver: Arc<dyn Resolver>) -> Self {
        self.resolver = resolver;
        self
    }

    /// Treats these as this host's own addresses instead of the interfaces' addresses.
    pub fn host_addresses(mut self, addrs: HashSet<IpAddr>) -> Self {
        self.host_addrs = Some(addrs);
        self
    }

    /// Records every blocked fetch in `sink` (`fetch.blocked`: tenant, actor, rule, purpose).
    pub fn audit(mut self, sink: SharedAuditSink) -> Self {
        self.audit = sink;
        self
    }

    /// Validates the settings (every bad key named) and builds the clients.
    pub fn build(self) -> Result<Fetcher, Vec<FieldError>> {
        let valid = self.settings.validate()?;
        let own = self.host_addrs.unwrap_or_else(host_addresses);
        let global = AddressPolicy::new(valid.allow.hosts.clone(), valid.allow.cidrs.clone(), own);
        let lane = |policy: AddressPolicy| lane_build(&valid, &self.resolver, policy);
        let tenants = valid
            .tenants
            .iter()
            .map(|(t, a)| Ok((t.clone(), lane(global.widened(&a.hosts, &a.cidrs))?)))
            .collect::<Result<HashMap<_, _>, Vec<FieldError>>>()?;
        Ok(Fetcher {
            global: lane(global)?,
            tenants: Arc::new(tenants),
            settings: Arc::new(valid.settings),
            audit: self.audit,
        })
    }
}

fn lane_build(
    valid: &ValidSettings,
    resolver: &Arc<dyn Resolver>,
    policy: AddressPolicy,
) -> Result<Lane, Vec<FieldError>> {
    let policy = Arc::new(policy);
    let s = &valid.settings;
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .dns_resolver(Arc::new(CheckedResolver {
            inner: resolver.clone(),
            policy: policy.clone(),
        }))
        .connect_timeout(s.connect_timeout)
        .pool_idle_timeout(Duration::from_secs(30))
        .user_agent(s.user_agent.clone())
        .gzip(true)
        .build()
        .map_err(|_| vec![FieldError::new("", "the HTTP client could not be built")])?;
    Ok(Lane { client, policy })
}

impl Fetcher {
    /// A fetcher with the system resolver and this host's interface addresses denied.
    pub fn new(settings: FetchSettings) -> Result<Self, Vec<FieldError>> {
        Self::builder(settings).build()
    }

    /// A builder, to inject a resolver or the host's addresses.
    pub fn builder(settings: FetchSettings) -> FetcherBuilder {
        FetcherBuilder {
            settings,
            resolver: Arc::new(SystemResolver),
            host_addrs: None,
            audit: Arc::new(NoAudit),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &FetchSettings {
        &self.settings
    }

    /// Fetches `req` under every check and cap; a block is counted, logged and audited by rule
    /// only (never the URL or an address).
    pub async fn fetch(&self, mut req: FetchRequest) -> Result<FetchResponse, FetchError> {
        let total = self.settings.total_timeout;
        let (tenant, actor, purpose) = (req.tenant.clone(), req.actor.take(), req.purpose);
        let res = tokio::time::timeout(total, self.hops_follow(req))
            .await
            .unwrap_or(Err(FetchError::Timeout { phase: "total" }));
        if let Err(FetchError::Blocked { rule }) = &res {
            crate::metrics::blocked(*rule);
            tracing::warn!(rule = rule.name(), purpose, "outbound fetch blocked");
            let mut ev = AuditEvent::new(AuditEventType::FetchBlocked)
                .detail(serde_json::json!({ "rule": rule.name(), "use": purpose }));
            if let Some(t) = &tenant {
                ev = ev.tenant(t);
            }
            if let Some(a) = actor {
                ev = ev.actor(a);
            }
            self.audit.audit_record(ev);
        }
        res
    }

    fn lane(&self, tenant: Option<&TenantId>) -> &Lane {
        tenant
            .and_then(|t| self.tenants.get(t))
            .unwrap_or(&self.global)
    }

    async fn hops_follow(&self, req: FetchRequest) -> Result<FetchResponse, FetchError> {
        let s = &self.settings;
        let lane = self.lane(req.tenant.as_ref());
        let cap = req
            .max_body
            .map_or(s.max_body.as_u64(), |m| m.min(s.max_body.as_u64()));
        let mut hop = Hop {
            url: url_canonical(&req.url, s.max_url_len)?,
            method: req.method,
            headers: req.headers,
            body: req.body,
        };
        for n in 0..=s.max_redirects {
            let resp = self.hop_send(lane, &hop).await?;
            let Some(next) = redirect_target(&resp, &hop.url, s.max_url_len)? else {
                if !media_accepted(media_type(resp.headers()).as_deref(), &req.accept) {
                    return Err(FetchError::BadContentType);
                }
                return response_read(resp, hop.url, cap).await;
            };
            if n == s.max_redirects {
                break;
            }
            hop.redirect(resp.status(), next);
        }
        Err(FetchError::TooManyRedirects)
    }

    async fn hop_send(&self, lane: &Lane, hop: &Hop) -> Result<reqwest::Response, FetchError> {
        if let TargetHost::Ip(ip) = url_target(&hop.url, &self.settings.allow_ports)? {
            lane.policy
                .ip_check(ip)
                .map_err(|rule| FetchError::Blocked { rule })?;
        }
        let mut rb = lane
            .client
            .request(hop.method.clone(), hop.url.clone())
            .headers(hop.headers.clone());
        if let Some(b) = &hop.body {
            rb = rb.body(b.clone());
        }
        let send = rb.send();
        match tokio::time::timeout(self.settings.first_byte_timeout, send).await {
            Ok(r) => r.map_err(|e| error_map(&e)),
            Err(_) => Err(FetchError::Timeout {
                phase: "first-byte",
            }),
        }
    }
}

/// One hop's request.
struct Hop {
    url: Url,
    method: Method,
    headers: http::HeaderMap,
    body: Option<bytes::Bytes>,
}

impl Hop {
    /// Turns this hop into the next one after a redirect with `status` to `next`.
    fn redirect(&mut self, status: StatusCode, next: Url) {
        let to_get = status == StatusCode::SEE_OTHER
            || (matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
                && self.method == Method::POST);
        if to_get {
            self.method = Method::GET;
            self.body = None;
            self.headers.remove(header::CONTENT_TYPE);
        }
        if next.origin() != self.url.origin() {
            self.headers.remove(header::AUTHORIZATION);
            self.headers.remove(header::COOKIE);
            self.headers.remove(header::PROXY_AUTHORIZATION);
        }
        self.url = next;
    }
}

/// The canonical next URL when `resp` is a redirect (301, 302, 303, 307, 308 with a Location).
fn redirect_target(
    resp: &reqwest::Response,
    base: &Url,
    max_len: usize,
) -> Result<Option<Url>, FetchError> {
    let redirect = matches!(resp.status().as_u16(), 301 | 302 | 303 | 307 | 308);
    let Some(loc) = resp.headers().get(header::LOCATION).filter(|_| redirect) else {
        return Ok(None);
    };
    let loc = loc
        .to_str()
        .map_err(|_| FetchError::BadUrl { reason: "redirect" })?;
    let next = base
        .join(loc)
        .map_err(|_| FetchError::BadUrl { reason: "redirect" })?;
    url_canonical(next.as_str(), max_len).map(Some)
}

async fn response_read(
    resp: reqwest::Response,
    url: Url,
    cap: u64,
) -> Result<FetchResponse, FetchError> {
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = body_read(resp, cap).await?;
    Ok(FetchResponse {
        url,
        status,
        headers,
        body,
    })
}

/// Maps a client error: a refused resolution to its rule, timeouts, the rest to unreachable.
pub(crate) fn error_map(e: &reqwest::Error) -> FetchError {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if let Some(AnswerBlocked(rule)) = s.downcast_ref::<AnswerBlocked>() {
            return FetchError::Blocked { rule: *rule };
        }
        src = s.source();
    }
    if e.is_timeout() {
        let phase = if e.is_connect() { "connect" } else { "total" };
        return FetchError::Timeout { phase };
    }
    FetchError::Unreachable
}
