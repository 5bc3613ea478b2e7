//! Requests signed by the providers' official SDKs (`tests/sdk/sign.mjs`), verified here: each
//! is accepted with the timestamp and id the case expects, and a tampered copy is refused.
//! Needs node and npm; under `CI=true` their absence fails the test instead of skipping it.

use palisade_testkit::tools::{npm_ci, tool_present};
use std::path::{Path, PathBuf};
use std::process::Command;

use palisade_webhooks::{verify, Inbound, Provider, VerifyError};
use serde::Deserialize;

use crate::common::header_map;

#[derive(Deserialize)]
struct SdkCase {
    name: String,
    sdk: String,
    provider: Provider,
    secret: String,
    url: String,
    headers: serde_json::Map<String, serde_json::Value>,
    body: String,
    expect: Expect,
}

#[derive(Deserialize)]
struct Expect {
    timestamp: Option<i64>,
    id: Option<String>,
}

const WHAT: &str = "the SDK-signed webhook cases";

fn sdk_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk")
}

fn sdk_cases() -> Option<Vec<SdkCase>> {
    if !tool_present("node", WHAT) || !tool_present("npm", WHAT) {
        return None;
    }
    let dir = sdk_dir();
    npm_ci(&dir);
    let out = Command::new("node")
        .arg("sign.mjs")
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

#[test]
fn every_sdk_signed_case_verifies_and_a_tampered_copy_does_not() {
    let Some(cases) = sdk_cases() else { return };
    let mut kinds: Vec<String> = Vec::new();
    for c in &cases {
        let pairs: Vec<(String, String)> = c
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().expect("header values are strings").to_owned(),
                )
            })
            .collect();
        let headers = header_map(&pairs);
        c.provider.validate().expect("the case's provider is valid");
        c.provider
            .secret_check(c.secret.as_bytes())
            .unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let req = Inbound {
            url: &c.url,
            headers: &headers,
            body: c.body.as_bytes(),
        };
        let v = verify(&c.provider, &[c.secret.as_bytes()], &req)
            .unwrap_or_else(|e| panic!("{} (signed by {}) refused: {e}", c.name, c.sdk));
        assert_eq!(v.timestamp, c.expect.timestamp, "{}", c.name);
        assert_eq!(v.id, c.expect.id, "{}", c.name);

        let mut body = c.body.clone().into_bytes();
        let last = body.len() - 1;
        body[last] ^= 0x01;
        let tampered = Inbound { body: &body, ..req };
        let r = verify(&c.provider, &[c.secret.as_bytes()], &tampered);
        assert_eq!(
            r,
            Err(VerifyError::BadSignature),
            "{}: tampered body",
            c.name
        );
        let wrong = verify(&c.provider, &[b"another-secret"], &req);
        assert!(wrong.is_err(), "{}: another secret", c.name);

        let kind = serde_json::to_value(&c.provider).unwrap()["kind"].to_string();
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    assert_eq!(
        kinds.len(),
        7,
        "every provider has SDK-signed cases: {kinds:?}"
    );
    eprintln!("{} SDK-signed cases verified", cases.len());
}
