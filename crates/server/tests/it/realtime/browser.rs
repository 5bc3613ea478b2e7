//! The browser example (`examples/realtime-progress/`) in headless Chromium, driven through
//! the DevTools protocol, against a real server and a real job reported by an HTTP worker.

use super::server;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Chromium started by this test in its own process group; the group is killed on drop.
struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

fn chromium_or_skip() -> Option<&'static str> {
    for bin in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(bin)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Some(bin);
        }
    }
    if palisade_testkit::backends::in_ci() {
        panic!("chromium is not installed and CI=true: the browser example test cannot be skipped");
    }
    eprintln!("\n!!!!! SKIPPED realtime browser example: chromium is not installed !!!!!\n");
    None
}

/// One DevTools session on a page.
struct Page {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_id: u64,
}

impl Page {
    /// The first page target of the browser listening on `port`.
    async fn attach(port: u16) -> Self {
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = loop {
            let list = reqwest::get(format!("http://127.0.0.1:{port}/json/list")).await;
            if let Ok(r) = list {
                if let Ok(targets) = r.json::<Vec<Value>>().await {
                    if let Some(t) = targets.iter().find(|t| t["type"] == "page") {
                        break t["webSocketDebuggerUrl"].as_str().unwrap().to_owned();
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromium's DevTools never answered"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Self { ws, next_id: 1 }
    }

    /// The page's progress state (`p` percent, `s` status, `r` reconnects), waiting (up to
    /// 30 s) until the page has loaded it.
    async fn state(&mut self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(text) = self.eval(STATE).await.as_str() {
                return serde_json::from_str(text).unwrap();
            }
            assert!(Instant::now() < deadline, "the page never loaded");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Evaluates `expr` in the page; its value (null while the page cannot answer).
    async fn eval(&mut self, expr: &str) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let call = json!({"id": id, "method": "Runtime.evaluate",
                          "params": {"expression": expr, "returnByValue": true}});
        self.ws
            .send(Message::Text(call.to_string().into()))
            .await
            .unwrap();
        loop {
            let m = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .expect("a DevTools answer")
                .unwrap()
                .unwrap();
            if let Message::Text(t) = m {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["id"] == id {
                    return v["result"]["result"]["value"].clone();
                }
            }
        }
    }
}

const STATE: &str = "JSON.stringify({p: document.getElementById('bar').dataset.percent, \
    s: document.getElementById('status').textContent, \
    r: document.getElementById('status').dataset.reconnects})";

#[tokio::test]
async fn the_browser_example_shows_a_jobs_live_progress_and_survives_reconnects() {
    let Some(bin) = chromium_or_skip() else {
        return;
    };
    // Streams end after 1 s (`max-lifetime`, reconnect: retry): the page must reopen them.
    let p = server("max_stream_lifetime = \"1s\"\njob_poll_interval = \"50ms\"\n");
    let a = p.tenant_api("rt-browser").await;
    let job = a
        .enqueue(json!({"queue": "demo", "kind": "report.build", "payload": {}}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (token, _) = a
        .mint(json!({"principal": "demo-user", "jobs": [job]}))
        .await;
    let page = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/realtime-progress/index.html")
        .canonicalize()
        .unwrap();
    let url = format!(
        "file://{}?api={}&job={job}&token={token}",
        page.display(),
        p.url
    );
    let port = palisade_testkit::own_redis::OwnRedis::free_port();
    let profile = crate::common::temp_dir();
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless=new",
        "--disable-gpu",
        "--no-sandbox",
        "--no-first-run",
        "--disable-web-security",
        &format!("--user-data-dir={}", profile.display()),
        &format!("--remote-debugging-port={port}"),
        &url,
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let _browser = Browser(cmd.spawn().expect("start chromium"));
    let mut tab = Page::attach(port).await;
    tab.state().await;

    // The HTTP worker: lease, report progress for ~4 s (several stream lifetimes), complete.
    let leased: Value = a
        .post(
            "/v1/jobs/lease",
            json!({"queue": "demo", "worker": "w1", "wait_ms": 5000}),
        )
        .await
        .json()
        .await
        .unwrap();
    let lease = leased["jobs"][0]["token"].as_u64().unwrap();
    let mut seen = Vec::new();
    for percent in (10..=90).step_by(10) {
        let r = a
            .post(
                &format!("/v1/jobs/{job}/progress"),
                json!({"token": lease, "percent": percent}),
            )
            .await;
        assert_eq!(r.status(), 200);
        tokio::time::sleep(Duration::from_millis(450)).await;
        let s = tab.state().await;
        seen.push(s["p"].as_str().unwrap().parse::<u32>().unwrap());
    }
    let r = a
        .post(&format!("/v1/jobs/{job}/complete"), json!({"token": lease}))
        .await;
    assert!(r.status().is_success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let last = loop {
        let s = tab.state().await;
        seen.push(s["p"].as_str().unwrap().parse::<u32>().unwrap());
        if s["s"] == "done" {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the page never showed the job done: {s}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(last["p"], "100");
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "the bar only rises: {seen:?}"
    );
    assert!(
        seen.iter().any(|&p| (10..100).contains(&p)),
        "live progress shown: {seen:?}"
    );
    let reconnects: u32 = last["r"].as_str().unwrap().parse().unwrap();
    eprintln!("progress seen {seen:?}, reconnects {reconnects}");
    assert!(
        reconnects >= 1,
        "the page reopened its ended streams ({reconnects})"
    );
}
