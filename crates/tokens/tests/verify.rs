//! The verifier against a local JWKS server through the real safe-fetch client: every refusal
//! code, algorithm confusion, key rotation, the unknown-kid cooldown under a storm, the stale
//! bound, bad JWKS documents, and the tower layer on a tiny axum app.

#[path = "verify/cache.rs"]
mod cache;
mod support;

use palisade_core::{ManualClock, NoAudit, TenantId};
use palisade_fetch::{AllowList, FetchSettings, Fetcher};
use palisade_tokens::{
    Alg, IssuerInput, MemoryTokenStore, Revocation, SafeFetchJwks, TokenError, TokenSettings,
    Tokens,
};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::{claims, now_secs, JwksServer, TestKey};

const ISS: &str = "https://idp.test";
const AUD: &str = "api";

/// A runtime whose fetcher may reach the local JWKS server, its JWKS cache on `clock`.
fn tokens(port: u16, clock: Arc<ManualClock>) -> Tokens {
    let fetch = FetchSettings {
        allow_ports: vec![80, 443, port],
        allow: AllowList {
            hosts: vec![],
            cidrs: vec!["127.0.0.1/32".into()],
        },
        ..FetchSettings::default()
    };
    let fetcher = Fetcher::new(fetch).unwrap();
    Tokens::with_clock(
        Arc::new(MemoryTokenStore::default()),
        Arc::new(SafeFetchJwks(fetcher)),
        TokenSettings::default(),
        Arc::new(NoAudit),
        clock,
    )
}

async fn issuer(t: &Tokens, tenant: &TenantId, url: &str, algs: &[Alg]) {
    t.issuer_create(
        tenant,
        IssuerInput {
            issuer: Some(ISS.into()),
            jwks_url: Some(url.into()),
            audiences: Some(vec![AUD.into(), "other".into()]),
            algorithms: Some(algs.iter().map(|a| a.as_str().to_owned()).collect()),
            leeway_secs: Some(30),
        },
    )
    .await
    .unwrap();
}

/// A server with `keys`, a runtime and a tenant with an issuer allowing every alg.
async fn setup(keys: &[&TestKey]) -> (JwksServer, Tokens, TenantId, Arc<ManualClock>) {
    let srv = JwksServer::start(keys).await;
    let clock = ManualClock::new(now_secs() * 1000);
    let t = tokens(srv.port, clock.clone());
    let tenant = TenantId::generate();
    issuer(&t, &tenant, &srv.url(), &Alg::ALL).await;
    (srv, t, tenant, clock)
}

fn code(r: Result<palisade_tokens::VerifiedToken, TokenError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

#[tokio::test]
async fn every_family_verifies_and_answers_its_claims_issuer_and_kid() {
    let keys = [
        TestKey::rsa("a", "r1", Alg::RS256),
        TestKey::rsa("b", "p1", Alg::PS384),
        TestKey::ec("e1"),
        TestKey::ed("d1"),
    ];
    let (_srv, t, tenant, _) = setup(&keys.iter().collect::<Vec<_>>()).await;
    for k in &keys {
        let c = claims(ISS, AUD);
        let v = t.token_verify(&tenant, &k.sign(&c)).await.unwrap();
        assert_eq!(v.kid.as_deref(), Some(k.kid.as_str()));
        assert_eq!(v.alg, k.alg);
        assert_eq!(v.claims["jti"], c["jti"]);
        assert!(v.issuer.as_str().starts_with("tki_"));
    }
}

#[tokio::test]
async fn every_refusal_answers_its_code() {
    let a = TestKey::rsa("a", "a", Alg::RS256);
    let b = TestKey::rsa("b", "b", Alg::RS256);
    let (_srv, t, tenant, _) = setup(&[&a]).await;
    let now = now_secs();
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut c = claims(ISS, AUD);
        f(&mut c);
        c
    };
    let cases: Vec<(&str, String)> = vec![
        ("ok", a.sign(&claims(ISS, AUD))),
        ("ok", a.sign(&with(&|c| c["aud"] = json!(["x", AUD])))),
        (
            "token-expired",
            a.sign(&with(&|c| c["exp"] = json!(now - 600))),
        ),
        ("ok", a.sign(&with(&|c| c["exp"] = json!(now - 5)))), // within the 30 s leeway
        (
            "token-not-yet-valid",
            a.sign(&with(&|c| c["nbf"] = json!(now + 600))),
        ),
        (
            "token-bad-signature",
            b.sign_as(Alg::RS256, "a", &claims(ISS, AUD)),
        ),
        ("token-unknown-key", b.sign(&claims(ISS, AUD))),
        (
            "token-wrong-audience",
            a.sign(&with(&|c| c["aud"] = json!("someone-else"))),
        ),
        (
            "token-missing-claim",
            a.sign(&with(&|c| {
                c.as_object_mut().unwrap().remove("aud");
            })),
        ),
        (
            "token-missing-claim",
            a.sign(&with(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            })),
        ),
        (
            "token-unknown-issuer",
            a.sign(&with(&|c| c["iss"] = json!("https://evil.test"))),
        ),
        (
            "token-unknown-issuer",
            a.sign(&with(&|c| {
                c.as_object_mut().unwrap().remove("iss");
            })),
        ),
        ("token-malformed", "not.a.jwt".into()),
        ("token-malformed", "x".into()),
        ("token-too-large", "a".repeat(9_000)),
    ];
    for (want, tok) in cases {
        assert_eq!(code(t.token_verify(&tenant, &tok).await), want, "{want}");
    }
    // Another tenant has no such issuer.
    let other = TenantId::generate();
    let tok = a.sign(&claims(ISS, AUD));
    assert_eq!(
        code(t.token_verify(&other, &tok).await),
        "token-unknown-issuer"
    );
}

#[tokio::test]
async fn revoked_jti_and_revoked_subject_are_refused() {
    let a = TestKey::ed("a");
    let (_srv, t, tenant, _) = setup(&[&a]).await;
    let c1 = claims(ISS, AUD);
    let (tok1, tok2) = (a.sign(&c1), a.sign(&claims(ISS, AUD)));
    assert_eq!(code(t.token_verify(&tenant, &tok1).await), "ok");
    let jti = Revocation::Jti {
        jti: c1["jti"].as_str().unwrap().into(),
        expires_at_ms: c1["exp"].as_i64().unwrap() * 1000,
    };
    t.revocation_create(&tenant, &jti, None).await.unwrap();
    assert_eq!(code(t.token_verify(&tenant, &tok1).await), "token-revoked");
    assert_eq!(
        code(t.token_verify(&tenant, &tok2).await),
        "ok",
        "another jti"
    );
    // Revoking the subject refuses every token issued until now, and no later one. (The
    // runtime's clock here is the JWKS cache's manual one: the revocation names real time.)
    let now_ms = now_secs() * 1000 + 999;
    let sub = Revocation::Subject {
        subject: "user-1".into(),
        not_before_ms: now_ms,
    };
    t.revocation_create(&tenant, &sub, None).await.unwrap();
    assert_eq!(code(t.token_verify(&tenant, &tok2).await), "token-revoked");
    let mut later = claims(ISS, AUD);
    later["iat"] = json!(now_ms / 1000 + 1);
    assert_eq!(code(t.token_verify(&tenant, &a.sign(&later)).await), "ok");
    let mut other = claims(ISS, AUD);
    other["sub"] = json!("user-2");
    assert_eq!(code(t.token_verify(&tenant, &a.sign(&other)).await), "ok");
    // Revocations are the tenant's: another tenant's same jti is untouched.
    let t2 = TenantId::generate();
    issuer(&t, &t2, &_srv.url(), &[Alg::EdDSA]).await;
    assert_eq!(code(t.token_verify(&t2, &tok1).await), "ok");
}

#[tokio::test]
async fn algorithm_confusion_is_refused() {
    let rsa = TestKey::rsa("a", "r", Alg::RS256);
    let ec = TestKey::ec("e");
    let (srv, t, tenant, _) = setup(&[&rsa, &ec]).await;
    let c = claims(ISS, AUD);
    // HS256 with the RSA public key's modulus as the HMAC secret (the classic confusion).
    let secret = jsonwebtoken::EncodingKey::from_secret(rsa.jwk["n"].as_str().unwrap().as_bytes());
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = Some("r".into());
    let hs = jsonwebtoken::encode(&h, &c, &secret).unwrap();
    assert_eq!(
        code(t.token_verify(&tenant, &hs).await),
        "token-alg-not-allowed"
    );
    // alg none, unsigned.
    use base64::Engine as _;
    let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let none = format!(
        "{}.{}.",
        b(r#"{"alg":"none","kid":"r"}"#),
        b(&c.to_string())
    );
    assert_eq!(
        code(t.token_verify(&tenant, &none).await),
        "token-malformed"
    );
    let none = format!(
        "{}.{}.c2ln",
        b(r#"{"alg":"none","kid":"r"}"#),
        b(&c.to_string())
    );
    assert_eq!(
        code(t.token_verify(&tenant, &none).await),
        "token-alg-not-allowed"
    );
    // An ES256 header naming the RSA key, and an RS256 header naming the EC key.
    let es_on_rsa = ec.sign_as(Alg::ES256, "r", &c);
    assert_eq!(
        code(t.token_verify(&tenant, &es_on_rsa).await),
        "token-alg-not-allowed"
    );
    let rs_on_ec = rsa.sign_as(Alg::RS256, "e", &c);
    assert_eq!(
        code(t.token_verify(&tenant, &rs_on_ec).await),
        "token-alg-not-allowed"
    );
    // A JWK that names its alg (RS256) refuses PS256 with the same RSA key.
    let mut pinned = rsa.clone();
    pinned.jwk["alg"] = "RS256".into();
    srv.set_keys(&[&pinned]);
    let t2 = tokens(srv.port, ManualClock::new(0));
    let tenant2 = TenantId::generate();
    issuer(&t2, &tenant2, &srv.url(), &Alg::ALL).await;
    let ps = rsa.sign_as(Alg::PS256, "r", &c);
    assert_eq!(
        code(t2.token_verify(&tenant2, &ps).await),
        "token-alg-not-allowed"
    );
    assert_eq!(code(t2.token_verify(&tenant2, &rsa.sign(&c)).await), "ok");
    // An issuer that allows only EdDSA refuses a good RS256 token.
    let t3 = TenantId::generate();
    issuer(&t2, &t3, &srv.url(), &[Alg::EdDSA]).await;
    assert_eq!(
        code(t2.token_verify(&t3, &rsa.sign(&c)).await),
        "token-alg-not-allowed"
    );
}

#[tokio::test]
async fn key_rotation_is_followed_without_downtime() {
    let old = TestKey::ec("k-old");
    let new = TestKey::ed("k-new");
    let (srv, t, tenant, clock) = setup(&[&old]).await;
    assert_eq!(
        code(t.token_verify(&tenant, &old.sign(&claims(ISS, AUD))).await),
        "ok"
    );
    assert_eq!(srv.hits(), 1);
    // The issuer publishes the new key next to the old one, then signs with it: the unknown
    // kid triggers one refetch (the cooldown since the first fetch has passed) and both verify.
    srv.set_keys(&[&old, &new]);
    clock.advance(Duration::from_secs(10));
    assert_eq!(
        code(t.token_verify(&tenant, &new.sign(&claims(ISS, AUD))).await),
        "ok"
    );
    assert_eq!(
        code(t.token_verify(&tenant, &old.sign(&claims(ISS, AUD))).await),
        "ok"
    );
    assert_eq!(srv.hits(), 2);
    // The old key is retired: once the TTL passes, the next fetch drops it.
    srv.set_keys(&[&new]);
    clock.advance(Duration::from_secs(300));
    assert_eq!(
        code(t.token_verify(&tenant, &new.sign(&claims(ISS, AUD))).await),
        "ok"
    );
    assert_eq!(srv.hits(), 3);
    clock.advance(Duration::from_secs(10));
    assert_eq!(
        code(t.token_verify(&tenant, &old.sign(&claims(ISS, AUD))).await),
        "token-unknown-key"
    );
}

#[tokio::test]
async fn an_unknown_kid_storm_fetches_at_most_once_per_cooldown() {
    let a = TestKey::ed("a");
    let stranger = TestKey::ed("stranger");
    let (srv, t, tenant, clock) = setup(&[&a]).await;
    assert_eq!(
        code(t.token_verify(&tenant, &a.sign(&claims(ISS, AUD))).await),
        "ok"
    );
    assert_eq!(srv.hits(), 1);
    clock.advance(Duration::from_secs(10));
    for round in 1..=2 {
        let tok = stranger.sign(&claims(ISS, AUD));
        let storm = (0..1_000).map(|_| {
            let (t, tenant, tok) = (t.clone(), tenant.clone(), tok.clone());
            tokio::spawn(async move { code(t.token_verify(&tenant, &tok).await) })
        });
        for r in futures_join(storm).await {
            assert_eq!(r, "token-unknown-key");
        }
        assert_eq!(srv.hits(), 1 + round, "one fetch in round {round}");
        // Known keys keep verifying meanwhile, from the cache.
        assert_eq!(
            code(t.token_verify(&tenant, &a.sign(&claims(ISS, AUD))).await),
            "ok"
        );
        clock.advance(Duration::from_secs(9));
        assert_eq!(
            code(t.token_verify(&tenant, &tok).await),
            "token-unknown-key"
        );
        assert_eq!(srv.hits(), 1 + round, "no fetch within the cooldown");
        clock.advance(Duration::from_secs(1));
    }
}

async fn futures_join<T: Send + 'static>(
    hs: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for h in hs.collect::<Vec<_>>() {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn stale_keys_are_served_on_fetch_errors_only_within_the_bound() {
    let a = TestKey::rsa("a", "a", Alg::RS256);
    let (srv, t, tenant, clock) = setup(&[&a]).await;
    let tok = a.sign(&claims(ISS, AUD));
    assert_eq!(code(t.token_verify(&tenant, &tok).await), "ok");
    srv.set(500, "down".into());
    // Past the TTL the refetch fails: the last keys are still used...
    clock.advance(Duration::from_secs(301));
    assert_eq!(code(t.token_verify(&tenant, &tok).await), "ok");
    assert_eq!(srv.hits(), 2);
    clock.advance(Duration::from_secs(3_000));
    assert_eq!(code(t.token_verify(&tenant, &tok).await), "ok");
    // ...until jwks_ttl + jwks_stale_max (5 min + 1 h) after they were fetched.
    clock.advance(Duration::from_secs(598));
    assert_eq!(code(t.token_verify(&tenant, &tok).await), "ok");
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        code(t.token_verify(&tenant, &tok).await),
        "token-jwks-unavailable"
    );
    // A recovered JWKS is fetched again after the cooldown.
    srv.set_keys(&[&a]);
    assert_eq!(
        code(t.token_verify(&tenant, &tok).await),
        "token-jwks-unavailable"
    );
    clock.advance(Duration::from_secs(10));
    assert_eq!(code(t.token_verify(&tenant, &tok).await), "ok");
}

#[tokio::test]
async fn jwks_that_are_not_json_or_too_large_are_refused_with_a_code() {
    let a = TestKey::ed("a");
    let (srv, t, tenant, clock) = setup(&[&a]).await;
    let tok = a.sign(&claims(ISS, AUD));
    for (body, want) in [
        ("<html>not json</html>".to_owned(), "token-jwks-invalid"),
        (
            format!("{{\"keys\": [], \"pad\": \"{}\"}}", "x".repeat(70_000)),
            "token-jwks-invalid",
        ),
        (
            "{\"keys\": [{\"kty\": \"oct\", \"k\": \"c2VjcmV0\"}]}".to_owned(),
            "token-jwks-invalid",
        ),
    ] {
        srv.set(200, body);
        assert_eq!(code(t.token_verify(&tenant, &tok).await), want);
        clock.advance(Duration::from_secs(10));
    }
    srv.set(404, String::new());
    assert_eq!(
        code(t.token_verify(&tenant, &tok).await),
        "token-jwks-unavailable"
    );
}

#[tokio::test]
async fn the_tower_layer_hands_claims_on_and_answers_refusals() {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt as _;
    let a = TestKey::ed("a");
    let (_srv, t, tenant, _) = setup(&[&a]).await;
    let app = axum::Router::new()
        .route(
            "/me",
            axum::routing::get(
                |axum::Extension(v): axum::Extension<palisade_tokens::VerifiedToken>| async move {
                    v.claims["sub"].as_str().unwrap_or_default().to_owned()
                },
            ),
        )
        .layer(palisade_tokens::layer::VerifyLayer::new(t, tenant));
    let call = |auth: Option<String>| {
        let app = app.clone();
        async move {
            let mut req = Request::get("/me");
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let res = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
            let status = res.status();
            let www = res.headers().get("www-authenticate").cloned();
            let body = axum::body::to_bytes(res.into_body(), 1 << 16)
                .await
                .unwrap();
            (status, www, String::from_utf8(body.to_vec()).unwrap())
        }
    };
    let good = a.sign(&claims(ISS, AUD));
    let (s, _, body) = call(Some(format!("Bearer {good}"))).await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, "user-1"));
    let mut c = claims(ISS, AUD);
    c["exp"] = json!(now_secs() - 600);
    let expired = a.sign(&c);
    let (s, www, body) = call(Some(format!("Bearer {expired}"))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(www.is_some());
    let p: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(p["code"], "token-expired");
    assert!(!body.contains(&expired), "the token is never echoed");
    let (s, _, body) = call(None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(body.contains("token-malformed"));
}
