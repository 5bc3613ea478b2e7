//! The OTP lockout webhook against a real server and a local app: one notice per lockout,
//! signed in Standard Webhooks form, naming the identity only by its keyed hash, retried until
//! the app answers 2xx; and its settings checked by `check-config`.

use crate::common::{assert_config_errors, check_config, eventually_async, spawn_in, temp_dir};
use crate::webhooks::{signature, Hit, Target, SECRET};
use serde_json::{json, Value};
use std::time::Duration;

/// A server whose lockouts (after 3 failures, no delay) are POSTed to `target`.
fn server(target: &Target) -> crate::common::Proc {
    let dir = temp_dir();
    let toml = format!(
        "[fetch]\nallow_ports = [80, 443, {port}]\n[fetch.allow]\ncidrs = [\"127.0.0.1/32\"]\n\
         [otp]\nlockout_after = 3\ndelay_base = \"0s\"\nlockout_webhook_url = \"{url}\"\n\
         lockout_webhook_secret = \"{SECRET}\"\n",
        port = target.port,
        url = target.url(),
    );
    std::fs::write(dir.join("palisade.toml"), toml).unwrap();
    spawn_in(dir, &[])
}

/// True when `hit` carries a valid signature under [`SECRET`].
fn signed(hit: &Hit) -> bool {
    let h = |n: &str| hit.headers[n].to_str().unwrap().to_owned();
    let ts: i64 = h("webhook-timestamp").parse().unwrap();
    signature(SECRET, &h("webhook-id"), ts, &hit.body) == h("webhook-signature")
}

#[tokio::test]
async fn lockout_is_posted_signed_once_and_retried_until_the_app_takes_it() {
    let target = Target::start().await;
    target.answer(503, None);
    let p = server(&target);
    let (tenant, key) = p.tenant_with_key("otp-hook").await;
    let api = p.api(&key);
    let issued: Value = api
        .post(
            "/v1/otp/issue",
            json!({"identity": "grace@example.com", "ip": "198.51.100.1"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let hash = issued["identity_hash"].as_str().unwrap().to_owned();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let body =
            json!({"identity": "grace@example.com", "code": "0000000000", "ip": "198.51.100.1"});
        statuses.push(api.post("/v1/otp/verify", body).await.status().as_u16());
    }
    let code = issued["code"].as_str().unwrap();
    assert_ne!(code, "0000000000", "a wrong code");
    assert_eq!(statuses, [422, 422, 423, 423], "locked at the 3rd failure");

    // 503 first, then 200 after the backoff's first delay (~1 s)
    let hits = eventually_async(Duration::from_secs(20), || async {
        let h = target.hits();
        (h.len() >= 2).then_some(h)
    })
    .await
    .expect("the notice, retried after the 503");
    assert!(
        hits.iter().all(signed),
        "every attempt signed with the secret"
    );
    let id = |h: &Hit| h.headers["webhook-id"].to_str().unwrap().to_owned();
    assert_eq!(id(&hits[0]), id(&hits[1]), "a retry keeps the webhook id");
    assert_eq!(hits[0].body, hits[1].body);
    assert_eq!(hits[0].headers["content-type"], "application/json");
    let notice: Value = serde_json::from_slice(&hits[1].body).unwrap();
    assert_eq!(notice["type"], "otp.lockout");
    assert_eq!(notice["tenant"], tenant.as_str());
    assert_eq!(notice["identity_hash"], hash.as_str());
    assert_eq!(notice["failures"], 3);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let until = notice["locked_until_ms"].as_i64().unwrap();
    assert!(until > now_ms + 86_000_000, "the 24 h cooldown: {until}");
    let raw = String::from_utf8_lossy(&hits[1].body);
    assert!(!raw.contains("grace"), "never the identity: {raw}");

    // the 4th verify was refused as locked, not a new lockout: no second notice
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        target.hits().len(),
        2,
        "one lockout, one notice delivered once"
    );
}

#[test]
fn check_config_names_a_bad_lockout_webhook() {
    let dir = temp_dir();
    let out = check_config(
        &dir,
        &[
            ("PALISADE_OTP__LOCKOUT_WEBHOOK_URL", "ftp://app.example/otp"),
            ("PALISADE_OTP__LOCKOUT_WEBHOOK_SECRET", "whsec_c2hvcnQ="),
        ],
    );
    let text = assert_config_errors(
        &out,
        &[
            "otp.lockout_webhook_url: must be an http or https URL with a host",
            "otp.lockout_webhook_secret: must be whsec_ and 24 to 64 bytes in base64",
        ],
    );
    assert!(!text.contains("c2hvcnQ"), "never the secret: {text}");
}
