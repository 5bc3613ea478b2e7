//! Requests signed by the providers' official SDKs (crates/webhooks/tests/sdk/sign.mjs, run
//! with node at test time: `stripe`, `@octokit/webhooks-methods`, `standardwebhooks`, `twilio`
//! from the npm registry, pinned by its package-lock) posted to a real server's
//! `/hooks/{tenant}/{source}`: each is accepted, a tampered copy refused. The server runs behind
//! a pretend proxy (`webhooks.public_base_url`), as Twilio's URL signature needs; without the
//! setting the Twilio requests are refused. Needs node and npm; under `CI=true` their absence
//! fails the test instead of skipping it.

use crate::common::{spawn_in, temp_dir, Proc};
use palisade_testkit::tools::{npm_ci, tool_present};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The public base URL the pretend proxy serves Palisade under.
const PUBLIC: &str = "https://hooks.example.test";

#[derive(Deserialize)]
struct SdkCase {
    name: String,
    sdk: String,
    provider: serde_json::Value,
    secret: String,
    url: String,
    headers: serde_json::Map<String, serde_json::Value>,
    body: String,
}

const WHAT: &str = "the SDK-signed webhook requests";

fn sdk_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../webhooks/tests/sdk")
}

/// The SDK-signed cases for URLs under `base`, signed now.
fn sdk_cases(base: &str) -> Option<Vec<SdkCase>> {
    if !tool_present("node", WHAT) || !tool_present("npm", WHAT) {
        return None;
    }
    let dir = sdk_dir();
    npm_ci(&dir);
    let out = Command::new("node")
        .arg("sign.mjs")
        .arg(base)
        .current_dir(&dir)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "sign.mjs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("sign.mjs prints a JSON array of cases"))
}

/// A server behind the pretend proxy when `public` is set.
fn server(public: Option<&str>) -> Proc {
    let dir = temp_dir();
    if let Some(base) = public {
        let toml = format!("[webhooks]\npublic_base_url = \"{base}\"\n");
        std::fs::write(dir.join("palisade.toml"), toml).unwrap();
    }
    spawn_in(dir, &[])
}

/// POSTs the case (or its body with the last byte flipped) to the server, at the path and
/// query of the URL it was signed for.
async fn post(p: &Proc, c: &SdkCase, tamper: bool) -> reqwest::Response {
    let path = c
        .url
        .strip_prefix(PUBLIC)
        .expect("a case under the public base");
    let mut body = c.body.clone().into_bytes();
    if tamper {
        let last = body.len() - 1;
        body[last] ^= 0x01;
    }
    let mut r = reqwest::Client::new().post(p.at(path)).body(body);
    let mut typed = false;
    for (k, v) in &c.headers {
        typed |= k.eq_ignore_ascii_case("content-type");
        r = r.header(k, v.as_str().expect("header values are strings"));
    }
    if !typed {
        r = r.header("content-type", "application/json");
    }
    r.send().await.unwrap()
}

#[tokio::test]
async fn sdk_signed_requests_are_accepted_by_the_server_and_tampered_ones_refused() {
    let p = server(Some(PUBLIC));
    let (tenant, key) = p.tenant_with_key("wh-sdk").await;
    let Some(cases) = sdk_cases(&format!("{PUBLIC}/hooks/{tenant}/")) else {
        return;
    };
    let api = p.api(&key);
    let mut kinds = std::collections::BTreeSet::new();
    for c in &cases {
        let body =
            serde_json::json!({"name": c.name, "provider": c.provider, "secrets": [c.secret]});
        let r = api.post("/v1/webhooks/sources", body).await;
        assert_eq!(r.status(), 201, "{}: {}", c.name, r.text().await.unwrap());

        let r = post(&p, c, true).await;
        assert_eq!(
            r.status(),
            401,
            "{} (signed by {}): tampered body",
            c.name,
            c.sdk
        );
        let r = post(&p, c, false).await;
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(
            status, 200,
            "{} (signed by {}) refused: {text}",
            c.name, c.sdk
        );
        assert!(text.contains("\"accepted\""), "{}: {text}", c.name);
        kinds.insert(c.provider["kind"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        kinds.len(),
        7,
        "every provider has SDK-signed cases: {kinds:?}"
    );
    let stats = api.get_json("/v1/webhooks/stats").await;
    assert_eq!(stats["pending"].as_u64(), Some(cases.len() as u64));
    eprintln!("{} SDK-signed requests accepted by the server", cases.len());
}

#[tokio::test]
async fn twilio_signs_the_public_url_so_without_the_base_url_the_server_refuses() {
    let p = server(None);
    let (tenant, key) = p.tenant_with_key("wh-sdk-noproxy").await;
    let Some(cases) = sdk_cases(&format!("{PUBLIC}/hooks/{tenant}/")) else {
        return;
    };
    let api = p.api(&key);
    let twilio: Vec<&SdkCase> = cases
        .iter()
        .filter(|c| c.provider["kind"] == "twilio")
        .collect();
    assert_eq!(twilio.len(), 4);
    for c in twilio {
        let body =
            serde_json::json!({"name": c.name, "provider": c.provider, "secrets": [c.secret]});
        assert_eq!(api.post("/v1/webhooks/sources", body).await.status(), 201);
        // the server sees Host 127.0.0.1:<port>, not the URL Twilio called
        let r = post(&p, c, false).await;
        assert_eq!(r.status(), 401, "{}: verified against the Host", c.name);
    }
}
