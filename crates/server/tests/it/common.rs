//! Starting real `palisade serve` processes on port 0 and talking HTTP to them.

use reqwest::{Method, Response};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A running `palisade serve` child process; killed on drop.
pub struct Proc {
    pub child: Child,
    pub url: String,
    pub dir: PathBuf,
    pub stderr: PathBuf,
    /// `PALISADE_OPERATOR_KEY` when the process was given one.
    pub op_key: Option<String>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh temporary directory.
pub fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(palisade_testkit::backends::unique("palisade_it"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The `palisade` binary built for these tests.
pub fn palisade() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_palisade"));
    for (k, _) in std::env::vars() {
        if k.starts_with("PALISADE_") && !k.starts_with("PALISADE_TEST_") {
            c.env_remove(k);
        }
    }
    c.env_remove("RUST_LOG");
    c
}

/// Starts `palisade serve` on port 0 in `dir` with extra environment; waits until ready.
pub fn spawn_in(dir: PathBuf, env: &[(&str, &str)]) -> Proc {
    let stderr = dir.join("stderr.log");
    let mut cmd = palisade();
    cmd.current_dir(&dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).unwrap());
    let mut child = cmd.spawn().expect("spawn palisade");
    let out = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| {
            let log = std::fs::read_to_string(&stderr).unwrap_or_default();
            panic!("palisade did not start: stdout {line:?}\nstderr:\n{log}")
        })
        .to_owned();
    let op_key = env
        .iter()
        .find(|(k, _)| *k == "PALISADE_OPERATOR_KEY")
        .map(|(_, v)| (*v).to_owned());
    Proc {
        child,
        url,
        dir,
        stderr,
        op_key,
    }
}

/// Starts `palisade serve` in a fresh directory (embedded default).
pub fn spawn(env: &[(&str, &str)]) -> Proc {
    spawn_in(temp_dir(), env)
}

impl Proc {
    /// The operator key: the one given in the environment, else the one bootstrapped into the
    /// data dir.
    pub fn operator_key(&self) -> String {
        if let Some(k) = &self.op_key {
            return k.clone();
        }
        std::fs::read_to_string(self.dir.join("palisade-data/operator.key"))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// Everything the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// `url` + `path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// A caller of this server with the operator key.
    pub fn operator(&self) -> Api {
        self.api(&self.operator_key())
    }

    /// A caller of this server with `key` (its `metrics()` scrapes with the operator key).
    pub fn api(&self, key: &str) -> Api {
        let mut api = Api::new(&self.url, key);
        api.metrics_key = Some(self.operator_key());
        api
    }

    /// Creates a tenant and one key; returns (tenant id, key secret).
    pub async fn tenant_with_key(&self, external_id: &str) -> (String, String) {
        self.operator().tenant_with_key(external_id).await
    }

    /// A caller of this server with the key of a new tenant `external_id`.
    pub async fn tenant_api(&self, external_id: &str) -> Api {
        let (_, key) = self.tenant_with_key(external_id).await;
        self.api(&key)
    }

    /// The Prometheus text of `/metrics` (scraped with the operator key).
    pub async fn metrics(&self) -> String {
        metrics(&self.url, &self.operator_key()).await
    }

    /// The OpenAPI document.
    pub async fn openapi(&self) -> Value {
        let r = reqwest::get(self.at("/openapi.json")).await.unwrap();
        r.json().await.unwrap()
    }
}

/// The Prometheus text of `/metrics` at `url`, scraped with the operator key `op_key`.
pub async fn metrics(url: &str, op_key: &str) -> String {
    let r = reqwest::Client::new()
        .get(format!("{url}/metrics"))
        .bearer_auth(op_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "/metrics with the operator key");
    r.text().await.unwrap()
}

/// A caller of one server with one bearer key (a tenant's or the operator's). The capability
/// modules add their own calls in `impl Api` blocks of their own.
#[derive(Clone)]
pub struct Api {
    pub c: reqwest::Client,
    pub url: String,
    pub key: String,
    /// The operator key `metrics()` scrapes with (set by [`Proc::api`]).
    pub metrics_key: Option<String>,
}

impl Api {
    /// A caller of the server at `url` with `key`, on a client of its own.
    pub fn new(url: &str, key: &str) -> Self {
        Self::with_client(reqwest::Client::new(), url, key)
    }

    /// A caller of the server at `url` with `key`, on `c`.
    pub fn with_client(c: reqwest::Client, url: &str, key: &str) -> Self {
        Self {
            c,
            url: url.to_owned(),
            key: key.to_owned(),
            metrics_key: None,
        }
    }

    /// `method` `path` (from the server's root), with a JSON body when given.
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        let mut r = self
            .c
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.unwrap()
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Response {
        self.send(Method::GET, path, None).await
    }

    /// `GET path`, its JSON body.
    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path).await.json().await.unwrap()
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.send(Method::POST, path, Some(body)).await
    }

    /// `POST path` with a raw body, and `content_type` when given.
    pub async fn post_raw(&self, path: &str, content_type: Option<&str>, body: &str) -> Response {
        let mut r = self
            .c
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.key);
        if let Some(ct) = content_type {
            r = r.header("content-type", ct);
        }
        r.body(body.to_owned()).send().await.unwrap()
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: Value) -> Response {
        self.send(Method::PUT, path, Some(body)).await
    }

    /// `DELETE path`.
    pub async fn patch(&self, path: &str, body: Value) -> Response {
        self.send(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.send(Method::DELETE, path, None).await
    }

    /// The Prometheus text of the server's `/metrics` (the operator key if known, else `key`).
    pub async fn metrics(&self) -> String {
        metrics(&self.url, self.metrics_key.as_deref().unwrap_or(&self.key)).await
    }

    /// As the operator: creates a tenant and one key; returns (tenant id, key secret).
    pub async fn tenant_with_key(&self, external_id: &str) -> (String, String) {
        let t = json!({"external_id": external_id, "name": "T"});
        let t: Value = self.post("/v1/tenants", t).await.json().await.unwrap();
        let id = t["id"].as_str().unwrap().to_owned();
        let keys = format!("/v1/tenants/{id}/keys");
        let k: Value = self
            .post(&keys, json!({"name": "test"}))
            .await
            .json()
            .await
            .unwrap();
        (id, k["secret"].as_str().unwrap().to_owned())
    }
}

/// Runs `palisade check-config` in `dir` with extra environment.
pub fn check_config(dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = palisade();
    cmd.arg("check-config").current_dir(dir);
    cmd.envs(env.iter().copied()).output().unwrap()
}

/// Runs `palisade check-config --config file`.
pub fn check_config_file(file: &Path) -> Output {
    let mut cmd = palisade();
    cmd.arg("check-config").arg("--config").arg(file);
    cmd.output().unwrap()
}

/// Asserts that check-config failed (exit 2) naming each of `needles`; returns its stderr.
pub fn assert_config_errors(out: &Output, needles: &[&str]) -> String {
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_contains_all(&err, needles);
    err
}

/// Asserts that `text` contains each of `needles`.
pub fn assert_contains_all(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
}

/// Waits until `f` is true or `limit` passes.
pub async fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

/// Asserts a problem+json body with `status` and `code`; returns the body.
pub async fn problem(res: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(ct, "application/problem+json");
    let rid = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert_eq!(
        body["request_id"], rid,
        "the body cites the response's request id"
    );
    body
}

/// A configuration for an in-process server on port 0 in a fresh directory.
pub fn test_config() -> palisade_server::config::Config {
    palisade_server::config::Config {
        env: palisade_server::config::Environment::Test,
        listen: "127.0.0.1:0".into(),
        data_dir: temp_dir().join("data"),
        operator_key: Some("pal_op_test_key_0123456789abcdefghijklmnop".into()),
        ..Default::default()
    }
}

/// The SQLite store of an in-process server started with [`test_config`].
pub fn sqlite(running: &palisade_server::serve::Running) -> &palisade_store_sqlite::SqliteStore {
    running
        .state
        .stores
        .durable
        .as_any()
        .downcast_ref()
        .expect("the test config's durable store is SQLite")
}

/// Polls `f` every 50 ms until it answers `Some` or `limit` passes.
pub async fn eventually_async<T, F, Fut>(limit: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if start.elapsed() >= limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Drops a test's PostgreSQL `schema` (and everything in it) once its servers are gone.
pub async fn drop_schema(pg: &str, schema: &str) {
    let pool = sqlx::PgPool::connect(pg).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&pool)
        .await
        .unwrap();
}

/// The answers of `n` concurrent uses of one secret: exactly one 200; every other one refused
/// with a code of `refusals`, at most as many as given, or shed with 503 (a loaded machine
/// answers past a store's timeout that way, and a client retries it); nothing else.
pub fn assert_one_success(
    counts: &std::collections::BTreeMap<u16, usize>,
    n: usize,
    refusals: &[(u16, usize)],
) {
    assert_eq!(
        counts.get(&200),
        Some(&1),
        "exactly one success: {counts:?}"
    );
    assert_eq!(counts.values().sum::<usize>(), n, "{counts:?}");
    for (status, count) in counts {
        let bound = refusals.iter().find(|(s, _)| s == status).map(|(_, b)| *b);
        match (status, bound) {
            (200 | 503, _) => {}
            (_, Some(b)) => assert!(*count <= b, "at most {b} × {status}: {counts:?}"),
            (_, None) => panic!("unexpected {status}: {counts:?}"),
        }
    }
    eprintln!("{} of {n} shed with 503", counts.get(&503).unwrap_or(&0));
}

/// The value of counter `series` (name and labels, as `/metrics` prints them), 0 when absent.
pub fn counter(text: &str, series: &str) -> u64 {
    let needle = format!("{series} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&needle))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// The revocation bound across instances (1 s) plus 100 ms for the test's own scheduling
/// between reading its clock and the request leaving.
pub const REVOCATION_BOUND: Duration = Duration::from_millis(1100);

/// Polls `probe(i)` for each of `n` instances until [`REVOCATION_BOUND`] after `t0` plus a
/// second. `probe` answers 200 (still accepted) or 401 (refused); every request sent after
/// the bound must be refused, and each instance must have refused by then.
pub async fn all_refuse_after_bound<F, Fut>(n: usize, t0: std::time::Instant, probe: F)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    let mut late_ok = Vec::new();
    while t0.elapsed() < REVOCATION_BOUND + Duration::from_secs(1) {
        for i in 0..n {
            let sent = t0.elapsed();
            let status = probe(i).await;
            if sent >= REVOCATION_BOUND && status != 401 {
                late_ok.push((i, sent, status));
            }
            assert!(status == 200 || status == 401, "instance {i}: {status}");
        }
    }
    assert!(late_ok.is_empty(), "answered after the bound: {late_ok:?}");
}
