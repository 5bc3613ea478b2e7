//! Test keys of every family (RSA from checked-in fixtures, EC and Ed25519 generated), token
//! signing, and a local JWKS server that counts its fetches and can swap keys or misbehave.
#![allow(dead_code)]

use base64::Engine as _;
use jsonwebtoken::{EncodingKey, Header};
use palisade_tokens::Alg;
use parking_lot::Mutex;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tokens/tests/fixtures");

/// A signing key and its public JWK.
#[derive(Clone)]
pub struct TestKey {
    pub alg: Alg,
    pub kid: String,
    pub enc: EncodingKey,
    pub jwk: Value,
}

impl TestKey {
    /// The checked-in RSA key `name` (`a` or `b`), signing with `alg` (RS* or PS*).
    pub fn rsa(name: &str, kid: &str, alg: Alg) -> Self {
        let der = std::fs::read(format!("{FIXTURES}/rsa_{name}.der")).unwrap();
        let mut jwk: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{FIXTURES}/rsa_{name}.jwk.json")).unwrap(),
        )
        .unwrap();
        jwk["kid"] = kid.into();
        Self {
            alg,
            kid: kid.into(),
            enc: EncodingKey::from_rsa_der(&der),
            jwk,
        }
    }

    /// A fresh P-256 key (ES256).
    pub fn ec(kid: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let pk = pair.public_key().as_ref();
        Self {
            alg: Alg::ES256,
            kid: kid.into(),
            enc: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk: json!({"kty": "EC", "crv": "P-256", "kid": kid,
                        "x": b64(&pk[1..33]), "y": b64(&pk[33..65])}),
        }
    }

    /// A fresh Ed25519 key (EdDSA).
    pub fn ed(kid: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        Self {
            alg: Alg::EdDSA,
            kid: kid.into(),
            enc: EncodingKey::from_ed_der(pkcs8.as_ref()),
            jwk: json!({"kty": "OKP", "crv": "Ed25519", "kid": kid,
                        "x": b64(pair.public_key().as_ref())}),
        }
    }

    /// `claims` signed with this key, its alg and kid in the header.
    pub fn sign(&self, claims: &Value) -> String {
        let mut h = Header::new(self.alg.jwt());
        h.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&h, claims, &self.enc).unwrap()
    }

    /// `claims` signed with this key under another header `alg`/`kid`.
    pub fn sign_as(&self, alg: Alg, kid: &str, claims: &Value) -> String {
        let mut h = Header::new(alg.jwt());
        h.kid = Some(kid.into());
        jsonwebtoken::encode(&h, claims, &self.enc).unwrap()
    }
}

/// Seconds since the epoch.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Valid claims for `iss` and audience `aud`, issued now, expiring in an hour.
pub fn claims(iss: &str, aud: &str) -> Value {
    let now = now_secs();
    json!({"iss": iss, "aud": aud, "sub": "user-1", "jti": format!("j-{}", rand_suffix()),
           "iat": now, "exp": now + 3600})
}

fn rand_suffix() -> u64 {
    static N: AtomicUsize = AtomicUsize::new(0);
    (N.fetch_add(1, Ordering::Relaxed) as u64) ^ (now_secs() as u64).rotate_left(20)
}

/// What the JWKS server answers.
struct Answer {
    status: u16,
    body: String,
}

/// A local JWKS server: `GET /jwks.json`, counting requests.
#[derive(Clone)]
pub struct JwksServer {
    pub port: u16,
    answer: Arc<Mutex<Answer>>,
    hits: Arc<AtomicUsize>,
}

impl JwksServer {
    /// A server answering a JWKS of `keys`.
    pub async fn start(keys: &[&TestKey]) -> Self {
        let answer = Arc::new(Mutex::new(Answer {
            status: 200,
            body: String::new(),
        }));
        let hits = Arc::new(AtomicUsize::new(0));
        let (a, h) = (answer.clone(), hits.clone());
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let (a, h) = (a.clone(), h.clone());
                async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    let a = a.lock();
                    (
                        axum::http::StatusCode::from_u16(a.status).unwrap(),
                        [("content-type", "application/json")],
                        a.body.clone(),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let s = Self { port, answer, hits };
        s.set_keys(keys);
        s
    }

    /// Its JWKS URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/jwks.json", self.port)
    }

    /// Answers a JWKS of `keys` from now on.
    pub fn set_keys(&self, keys: &[&TestKey]) {
        let doc = json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()});
        self.set(200, doc.to_string());
    }

    /// Answers `status` with `body` from now on.
    pub fn set(&self, status: u16, body: String) {
        *self.answer.lock() = Answer { status, body };
    }

    /// Requests served so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}
