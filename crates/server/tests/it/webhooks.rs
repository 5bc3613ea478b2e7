//! Inbound webhooks against real servers: ingress and its refusals, the API, delivery to a
//! local target (allowlisted in `[fetch]`), several processes over PostgreSQL, and a
//! PostgreSQL restart mid-ingest. Provider signatures are computed here with HMAC-SHA256
//! (Standard Webhooks), never by the verifier under test.

mod declared;
mod delivery;
mod ingress;
mod multi;
mod sdk;

use crate::common::{spawn_in, temp_dir, Api, Proc};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// A provider's secret (Standard Webhooks form).
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Another one, for rotation.
pub const SECRET2: &str = "whsec_c2Vjb25kIHNlY3JldCBmb3Igcm90YXRpb24=";

/// `v1,<base64 HMAC-SHA256(key, id.ts.body)>` for a `whsec_` secret.
pub fn signature(secret: &str, id: &str, ts: i64, body: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64.decode(secret.trim_start_matches("whsec_")).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    format!("v1,{}", b64.encode(mac.finalize().into_bytes()))
}

/// Now in Unix seconds.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A provider sending signed events to one server.
#[derive(Clone)]
pub struct Provider {
    pub client: reqwest::Client,
    pub base: String,
}

impl Provider {
    pub fn new(base: &str) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: base.to_owned(),
        }
    }

    /// POSTs `body` with these headers to `/hooks/{tenant}/{source}`.
    pub async fn raw(
        &self,
        tenant: &str,
        source: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut r = self
            .client
            .post(format!("{}/hooks/{tenant}/{source}", self.base))
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            r = r.header(*k, v);
        }
        r.send().await.unwrap()
    }

    /// POSTs event `id` signed with `secret` at `ts`.
    pub async fn send_at(
        &self,
        tenant: &str,
        source: &str,
        secret: &str,
        id: &str,
        ts: i64,
        body: &[u8],
    ) -> reqwest::Response {
        let h = [
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", ts.to_string()),
            ("webhook-signature", signature(secret, id, ts, body)),
        ];
        self.raw(tenant, source, &h, body.to_vec()).await
    }

    /// POSTs event `id` signed with [`SECRET`] now.
    pub async fn send(
        &self,
        tenant: &str,
        source: &str,
        id: &str,
        body: &[u8],
    ) -> reqwest::Response {
        self.send_at(tenant, source, SECRET, id, now_secs(), body)
            .await
    }
}

/// A status to answer, with a `Retry-After` value (`date+N`: the HTTP-date N seconds after
/// the answer).
pub type Answer = (u16, Option<&'static str>);

/// One request the target received.
#[derive(Clone, Debug)]
pub struct Hit {
    pub headers: HeaderMap,
    pub body: Bytes,
    /// When it arrived.
    pub at: std::time::Instant,
}

/// A `Retry-After` value as the target sends it: `date+N` becomes an HTTP-date.
fn retry_after_value(v: &str) -> String {
    match v.strip_prefix("date+") {
        Some(n) => {
            let secs: u64 = n.parse().unwrap();
            let at = std::time::SystemTime::now() + std::time::Duration::from_secs(secs);
            httpdate::fmt_http_date(at)
        }
        None => v.to_owned(),
    }
}

/// A local app receiving deliveries: answers the queued statuses first (with `Retry-After`
/// when given), then 200; records every request.
#[derive(Clone, Default)]
pub struct Target {
    pub hits: Arc<Mutex<Vec<Hit>>>,
    pub answers: Arc<Mutex<VecDeque<Answer>>>,
    pub port: u16,
}

impl Target {
    pub async fn start() -> Self {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::on(l)
    }

    /// The target on `l`.
    pub fn on(l: tokio::net::TcpListener) -> Self {
        let mut t = Target::default();
        let (hits, answers) = (t.hits.clone(), t.answers.clone());
        let app = axum::Router::new().route(
            "/hooks",
            post(move |headers: HeaderMap, body: Bytes| {
                let (hits, answers) = (hits.clone(), answers.clone());
                async move {
                    let at = std::time::Instant::now();
                    hits.lock().unwrap().push(Hit { headers, body, at });
                    let next = answers.lock().unwrap().pop_front();
                    let (status, retry_after) = next.unwrap_or((200, None));
                    let mut h = HeaderMap::new();
                    if let Some(r) = retry_after {
                        h.insert("retry-after", retry_after_value(r).parse().unwrap());
                    }
                    (StatusCode::from_u16(status).unwrap(), h, "ok")
                }
            }),
        );
        t.port = l.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        t
    }

    pub fn url(&self) -> String {
        url(self.port)
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    pub fn answer(&self, status: u16, retry_after: Option<&'static str>) {
        self.answers
            .lock()
            .unwrap()
            .push_back((status, retry_after));
    }
}

/// The target URL on `port`.
pub fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/hooks")
}

/// `[fetch]` letting deliveries reach 127.0.0.1:`port` (nothing else private), and a retry
/// schedule of `retries` delays of 1 s.
pub fn config_toml(port: u16, retries: usize) -> String {
    config_toml_schedule(port, &vec!["1s"; retries])
}

/// `[fetch]` as [`config_toml`], and this retry schedule.
pub fn config_toml_schedule(port: u16, delays: &[&str]) -> String {
    let schedule: Vec<String> = delays.iter().map(|d| format!("\"{d}\"")).collect();
    let schedule = schedule.join(", ");
    format!(
        "[fetch]\nallow_ports = [80, 443, {port}]\n[fetch.allow]\ncidrs = [\"127.0.0.1/32\"]\n\
         [webhooks]\nretry_schedule = [{schedule}]\n"
    )
}

/// A server (embedded SQLite) able to deliver to port `port`, retrying `retries` times.
pub fn server(port: u16, retries: usize) -> Proc {
    let dir = temp_dir();
    std::fs::write(dir.join("palisade.toml"), config_toml(port, retries)).unwrap();
    spawn_in(dir, &[])
}

/// Creates a source; answers the create's body.
pub async fn source_create(api: &Api, body: Value) -> Value {
    let r = api.post("/v1/webhooks/sources", body).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

/// A pulled source named `name` with [`SECRET`].
pub fn pull_source(name: &str) -> Value {
    json!({"name": name, "provider": {"kind": "standard_webhooks"}, "secrets": [SECRET]})
}

/// A pushed source named `name` with [`SECRET`] delivering to port `port`.
pub fn push_source(name: &str, port: u16, ordered: bool) -> Value {
    json!({"name": name, "provider": {"kind": "standard_webhooks"}, "secrets": [SECRET],
           "target": {"url": url(port), "ordered": ordered}})
}
