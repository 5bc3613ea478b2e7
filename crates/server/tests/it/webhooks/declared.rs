//! Sources declared in the configuration (`[[webhooks.sources]]`): every bad key named by
//! check-config without a value; created at start with secrets from the environment and a
//! file, accepting signed events; made as declared again on a restart, written only when
//! changed; the secrets never in check-config's output, the log or the API.

use super::{now_secs, Provider, SECRET, SECRET2};
use crate::common::{
    assert_config_errors, check_config, check_config_file, palisade, spawn_in, temp_dir,
};

#[test]
fn check_config_names_every_bad_source_key_never_a_secret() {
    let dir = temp_dir();
    let file = dir.join("palisade.toml");
    std::fs::write(
        &file,
        r#"
[webhooks]
public_base_url = "hooks.example.com"

[[webhooks.sources]]
tenant = "no tenant!"
name = "stripe"
provider = { kind = "paypal" }
secrets = [{ secret = "whsec_inline-VALUE-one" }]
tolerance_secs = 300

[[webhooks.sources]]
tenant = "ten_declared"
name = "sw"
provider = { kind = "standard_webhooks" }
secrets = [
  { secret = "not-a-standard-VALUE-two" },
  { secret_env = "WHK_IT_SURELY_UNSET_VARIABLE" },
  { secret_file = "/nonexistent/whk-secret" },
  { secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", secret_env = "X" },
]
tolerance = "10s"
target = { url = "ftp://app", concurrency = 0 }
delivery_secret = { secret = "plain-delivery-VALUE-three" }
"#,
    )
    .unwrap();
    let err = assert_config_errors(
        &check_config_file(&file),
        &[
            "webhooks.public_base_url:",
            "webhooks.sources[0].provider:",
            "webhooks.sources[0].tolerance_secs:",
            "webhooks.sources[0].tenant:",
            "webhooks.sources[1].secrets[0]: the secret must be",
            "webhooks.sources[1].secrets[1].secret_env:",
            "webhooks.sources[1].secrets[2].secret_file:",
            "webhooks.sources[1].secrets[3].secret: exactly one of",
            "webhooks.sources[1].tolerance:",
            "webhooks.sources[1].target.url:",
            "webhooks.sources[1].target.concurrency:",
            "webhooks.sources[1].delivery_secret:",
        ],
    );
    for echoed in [
        "VALUE",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "paypal",
        "no tenant!",
        "hooks.example.com",
    ] {
        assert!(!err.contains(echoed), "{echoed} echoed: {err}");
    }
}

/// The declared sources: a Standard Webhooks one with a secret from the environment and one
/// from a file, and a GitHub one with an inline secret.
fn declared_toml(tenant: &str, secret_file: &std::path::Path, tolerance: &str) -> String {
    format!(
        r#"
[[webhooks.sources]]
tenant = "{tenant}"
name = "billing"
provider = {{ kind = "standard_webhooks" }}
secrets = [{{ secret_env = "WHK_IT_BILLING_SECRET" }}, {{ secret_file = "{}" }}]
tolerance = "{tolerance}"
max_body = "64KiB"

[[webhooks.sources]]
tenant = "{tenant}"
name = "gh"
provider = {{ kind = "github" }}
secrets = [{{ secret = "gh-inline-secret-value-0123456789" }}]
"#,
        secret_file.display()
    )
}

#[tokio::test]
async fn declared_source_accepts_signed_events_and_never_shows_its_secrets() {
    let dir = temp_dir();
    let p = spawn_in(dir.clone(), &[]);
    let (tenant, key) = p.tenant_with_key("wh-declared").await;
    drop(p);
    let secret_file = dir.join("billing.secret");
    std::fs::write(&secret_file, format!("{SECRET2}\n")).unwrap();
    std::fs::write(
        dir.join("palisade.toml"),
        declared_toml(&tenant, &secret_file, "5m"),
    )
    .unwrap();
    let env = [("WHK_IT_BILLING_SECRET", SECRET)];

    // check-config: valid, and not one secret in its output
    let out = check_config(&dir, &env);
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{printed}");
    assert!(printed.contains("2 declared sources"), "{printed}");

    let p = spawn_in(dir.clone(), &env);
    let api = p.api(&key);
    let prov = Provider::new(&p.url);
    let body = br#"{"type":"invoice.paid"}"#;
    // signed with the secret from the environment, then with the one from the file
    let r = prov
        .send_at(&tenant, "billing", SECRET, "msg_env", now_secs(), body)
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = prov
        .send_at(&tenant, "billing", SECRET2, "msg_file", now_secs(), body)
        .await;
    assert_eq!(r.status(), 200);
    let other = "whsec_b3RoZXIgc2VjcmV0IG5vdCBkZWNsYXJlZCBhdCBhbGw=";
    let r = prov
        .send_at(&tenant, "billing", other, "msg_x", now_secs(), body)
        .await;
    assert_eq!(r.status(), 401);

    let view = api.get_json("/v1/webhooks/sources/billing").await;
    assert_eq!(view["tolerance_secs"], 300);
    assert_eq!(view["max_body_bytes"], 64 * 1024);
    assert_eq!(view["secrets"].as_array().unwrap().len(), 2);
    let version = view["version"].clone();
    let list = api.get("/v1/webhooks/sources").await.text().await.unwrap();
    let gh = api
        .get("/v1/webhooks/sources/gh")
        .await
        .text()
        .await
        .unwrap();
    drop(p);

    // a restart with the same configuration writes nothing
    let p = spawn_in(dir.clone(), &env);
    let again = p.api(&key).get_json("/v1/webhooks/sources/billing").await;
    assert_eq!(
        again["version"], version,
        "an unchanged source is not written"
    );
    assert_eq!(
        again["secrets"], view["secrets"],
        "kept secrets keep their ids"
    );
    let log1 = p.stderr();
    drop(p);

    // the file's secret removed, the tolerance changed: applied at the next start
    std::fs::write(
        dir.join("palisade.toml"),
        declared_toml(&tenant, &secret_file, "10m").replace(
            &format!(", {{ secret_file = \"{}\" }}", secret_file.display()),
            "",
        ),
    )
    .unwrap();
    let p = spawn_in(dir.clone(), &env);
    let changed = p.api(&key).get_json("/v1/webhooks/sources/billing").await;
    assert_eq!(changed["tolerance_secs"], 600);
    assert_eq!(changed["secrets"].as_array().unwrap().len(), 1);
    assert_eq!(
        changed["secrets"][0]["id"], view["secrets"][0]["id"],
        "the secret still declared keeps its id"
    );
    let prov = Provider::new(&p.url);
    let r = prov
        .send_at(&tenant, "billing", SECRET2, "msg_file2", now_secs(), body)
        .await;
    assert_eq!(
        r.status(),
        401,
        "a secret no longer declared stops verifying"
    );
    let r = prov
        .send_at(&tenant, "billing", SECRET, "msg_env2", now_secs(), body)
        .await;
    assert_eq!(r.status(), 200);

    let everything = format!("{printed}{view}{list}{gh}{log1}{}", p.stderr());
    for secret in [
        SECRET,
        &SECRET[6..],
        SECRET2,
        &SECRET2[6..],
        "gh-inline-secret-value-0123456789",
    ] {
        assert!(
            !everything.contains(secret),
            "a secret is in check-config's output, the API or the log"
        );
    }
}

#[test]
fn a_declared_secret_from_an_unset_variable_stops_the_start_naming_the_key() {
    let dir = temp_dir();
    let file = dir.join("s.secret");
    std::fs::write(&file, SECRET2).unwrap();
    std::fs::write(
        dir.join("palisade.toml"),
        declared_toml("ten_whatever", &file, "5m"),
    )
    .unwrap();
    let out = palisade()
        .current_dir(&dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("webhooks.sources[0].secrets[0].secret_env"),
        "{err}"
    );
    assert!(!err.contains(&SECRET2[6..]), "{err}");
}

#[tokio::test]
async fn a_declared_delivery_secret_signs_deliveries_and_a_changed_one_rotates() {
    let target = super::Target::start().await;
    let dir = temp_dir();
    let p = spawn_in(dir.clone(), &[]);
    let (tenant, key) = p.tenant_with_key("wh-declared-push").await;
    drop(p);
    let first = "whsec_Zmlyc3QgZGVjbGFyZWQgZGVsaXZlcnkgc2VjcmV0";
    let second = "whsec_c2Vjb25kIGRlY2xhcmVkIGRlbGl2ZXJ5IHNlY3JldA==";
    let toml = format!(
        "{}\n[[webhooks.sources]]\ntenant = \"{tenant}\"\nname = \"orders\"\n\
         provider = {{ kind = \"standard_webhooks\" }}\nsecrets = [{{ secret = \"{SECRET}\" }}]\n\
         target = {{ url = \"{}\" }}\ndelivery_secret = {{ secret_env = \"WHK_IT_DELIVERY\" }}\n",
        super::config_toml(target.port, 1),
        target.url()
    );
    std::fs::write(dir.join("palisade.toml"), toml).unwrap();

    let p = spawn_in(dir.clone(), &[("WHK_IT_DELIVERY", first)]);
    let prov = Provider::new(&p.url);
    let body = br#"{"order":1}"#;
    let r = prov
        .send_at(&tenant, "orders", SECRET, "o1", now_secs(), body)
        .await;
    assert_eq!(r.status(), 200);
    let got = crate::common::eventually_async(std::time::Duration::from_secs(20), || async {
        (target.hits().len() == 1).then_some(())
    })
    .await;
    assert!(got.is_some(), "delivered");
    assert_eq!(signed_with(&target.hits()[0]), [true, false]);
    drop(p);

    // the declared delivery secret changed: rotated, both sign for the grace
    let p = spawn_in(dir, &[("WHK_IT_DELIVERY", second)]);
    let view = p.api(&key).get_json("/v1/webhooks/sources/orders").await;
    assert!(view["delivery_previous_until_ms"].as_i64().is_some());
    let prov = Provider::new(&p.url);
    let r = prov
        .send_at(&tenant, "orders", SECRET, "o2", now_secs(), body)
        .await;
    assert_eq!(r.status(), 200);
    let got = crate::common::eventually_async(std::time::Duration::from_secs(20), || async {
        (target.hits().len() == 2).then_some(())
    })
    .await;
    assert!(got.is_some(), "delivered");
    assert_eq!(signed_with(&target.hits()[1]), [true, true]);

    /// Whether the delivery carries the first and the second secret's signature.
    fn signed_with(hit: &super::Hit) -> [bool; 2] {
        let h = |n: &str| hit.headers[n].to_str().unwrap().to_owned();
        let ts: i64 = h("webhook-timestamp").parse().unwrap();
        let sigs: Vec<String> = h("webhook-signature")
            .split(' ')
            .map(str::to_owned)
            .collect();
        let by = |s: &str| sigs.contains(&super::signature(s, &h("webhook-id"), ts, &hit.body));
        [
            by("whsec_Zmlyc3QgZGVjbGFyZWQgZGVsaXZlcnkgc2VjcmV0"),
            by("whsec_c2Vjb25kIGRlY2xhcmVkIGRlbGl2ZXJ5IHNlY3JldA=="),
        ]
    }
}
