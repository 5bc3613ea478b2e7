//! Starting real `palisade serve` processes on port 0 and talking HTTP to them.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `palisade serve` child process; killed on drop.
pub struct Proc {
    pub child: Child,
    pub url: String,
    pub dir: PathBuf,
    pub stderr: PathBuf,
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
    Proc {
        child,
        url,
        dir,
        stderr,
    }
}

/// Starts `palisade serve` in a fresh directory (embedded default).
pub fn spawn(env: &[(&str, &str)]) -> Proc {
    spawn_in(temp_dir(), env)
}

impl Proc {
    /// The operator key bootstrapped into the data dir.
    pub fn operator_key(&self) -> String {
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

    /// Creates a tenant and one key; returns (tenant id, key secret).
    pub async fn tenant_with_key(&self, external_id: &str) -> (String, String) {
        let op = self.operator_key();
        let c = reqwest::Client::new();
        let t: serde_json::Value = c
            .post(self.at("/v1/tenants"))
            .bearer_auth(&op)
            .json(&serde_json::json!({"external_id": external_id, "name": "T"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = t["id"].as_str().unwrap().to_owned();
        let k: serde_json::Value = c
            .post(self.at(&format!("/v1/tenants/{id}/keys")))
            .bearer_auth(&op)
            .json(&serde_json::json!({"name": "test"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (id, k["secret"].as_str().unwrap().to_owned())
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
