//! The configurable HMAC scheme: settings as JSON, validation, and other providers' vectors
//! verified through it.

use palisade_webhooks::{HmacAlgorithm, HmacScheme, Provider, SignatureEncoding, VerifyError};
use serde_json::json;

use crate::common::{accepted_and_refusals, Case};

fn scheme(v: serde_json::Value) -> Provider {
    let p: Provider = serde_json::from_value(v).expect("a valid scheme");
    p.validate().expect("a valid scheme");
    p
}

/// GitHub's documented vector through a generic scheme.
#[test]
fn github_as_a_generic_scheme() {
    let p = scheme(
        json!({"kind": "hmac", "header": "X-Hub-Signature-256", "algorithm": "sha256",
                          "encoding": "hex", "prefix": "sha256="}),
    );
    let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let c = Case::new(
        p,
        "It's a Secret to Everybody",
        &[("X-Hub-Signature-256", sig)],
        b"Hello, World!",
    )
    .signature_header("x-hub-signature-256", "signature");
    let v = accepted_and_refusals(&c);
    assert_eq!((v.timestamp, v.id), (None, None));
    let m = Err(VerifyError::MalformedHeader("signature"));
    assert_eq!(
        c.with_sig(&sig["sha256=".len()..]).run(),
        m,
        "the prefix is required"
    );
}

/// Slack's documented vector through a template with a signed timestamp.
#[test]
fn slack_as_a_templated_scheme() {
    let p = scheme(
        json!({"kind": "hmac", "header": "X-Slack-Signature", "algorithm": "sha256",
                          "encoding": "hex", "prefix": "v0=",
                          "timestamp_header": "X-Slack-Request-Timestamp",
                          "template": "v0:{timestamp}:{body}"}),
    );
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let c = Case::new(
        p,
        "8f742231b10e8888abcd99yyyzzz85a5",
        &[
            (
                "X-Slack-Signature",
                "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            ),
            ("X-Slack-Request-Timestamp", "1531420618"),
        ],
        body.as_bytes(),
    )
    .signature_header("x-slack-signature", "signature");
    let v = accepted_and_refusals(&c);
    assert_eq!(v.timestamp, Some(1_531_420_618));
    let ts = c.with("X-Slack-Request-Timestamp", Some("1531420617"));
    assert_eq!(ts.run(), Err(VerifyError::BadSignature));
    let gone = c.with("X-Slack-Request-Timestamp", None);
    assert_eq!(gone.run(), Err(VerifyError::MissingHeader("timestamp")));
}

/// The Standard Webhooks vector through a template with a signed id (base64).
#[test]
fn standard_webhooks_as_a_templated_scheme_with_an_id() {
    let p = scheme(
        json!({"kind": "hmac", "header": "X-Sig", "algorithm": "sha256",
                          "encoding": "base64", "timestamp_header": "X-Ts", "id_header": "X-Id",
                          "template": "{id}.{timestamp}.{body}"}),
    );
    let key = base64_decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    let mut c = Case::new(
        p,
        "",
        &[
            ("X-Sig", "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
            ("X-Ts", "1614265330"),
            ("X-Id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
        ],
        br#"{"test": 2432232314}"#,
    )
    .signature_header("x-sig", "signature");
    c.secret = key;
    let v = accepted_and_refusals(&c);
    assert_eq!(v.id.as_deref(), Some("msg_p5jXN8AQM9LWM0D4loKWxJek"));
    assert_eq!(v.timestamp, Some(1_614_265_330));
    let other = c.with("X-Id", Some("msg_other"));
    assert_eq!(other.run(), Err(VerifyError::BadSignature));
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

/// RFC 2202 (HMAC-SHA1) and RFC 4231 (HMAC-SHA512) test case 2, hex and base64url.
#[test]
fn sha1_and_sha512_vectors() {
    let data = b"what do ya want for nothing?";
    let sha1 = Provider::Hmac(HmacScheme {
        header: "X-Sig".into(),
        algorithm: HmacAlgorithm::Sha1,
        encoding: SignatureEncoding::Hex,
        prefix: String::new(),
        timestamp_header: None,
        id_header: None,
        template: None,
    });
    let c = Case::new(
        sha1,
        "Jefe",
        &[("X-Sig", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")],
        data,
    )
    .signature_header("x-sig", "signature");
    accepted_and_refusals(&c);
    let sha512 = scheme(
        json!({"kind": "hmac", "header": "X-Sig", "algorithm": "sha512",
                               "encoding": "base64url"}),
    );
    let sig =
        "Fkt6e_z4GeLjlfvnO1bgo4e9ZCIugx_WECcM1-olBVSXWL91wFqZSm0DT2X48Ob9yuqxo01Ka0tjbgcKOLznNw";
    let c =
        Case::new(sha512, "Jefe", &[("X-Sig", sig)], data).signature_header("x-sig", "signature");
    accepted_and_refusals(&c);
    // The same MAC in standard base64 is the wrong encoding for this scheme.
    let std = sig.replace('_', "/").replace('-', "+");
    assert_eq!(
        c.with_sig(&std).run(),
        Err(VerifyError::MalformedHeader("signature"))
    );
}

#[test]
fn validation_names_every_bad_field() {
    let p: Provider = serde_json::from_value(json!({
        "kind": "hmac", "header": "bad header", "algorithm": "sha256", "encoding": "hex",
        "prefix": "x".repeat(65), "timestamp_header": "ok-name", "id_header": "(bad)",
        "template": "{body}.{body}"
    }))
    .unwrap();
    let fields: Vec<String> = p
        .validate()
        .unwrap_err()
        .into_iter()
        .map(|e| e.field)
        .collect();
    assert_eq!(fields, ["header", "prefix", "id_header", "template"]);
    for (template, ts) in [
        ("{timestamp}.{body}", None), // {timestamp} without its header
        ("{body}", Some("X-Ts")),     // the timestamp header unsigned
        ("{body}{nope}", None),       // unknown placeholder
        ("{body}}", None),            // stray brace
        ("", None),                   // no body
    ] {
        let s = HmacScheme {
            header: "X-Sig".into(),
            algorithm: HmacAlgorithm::Sha256,
            encoding: SignatureEncoding::Hex,
            prefix: String::new(),
            timestamp_header: ts.map(Into::into),
            id_header: None,
            template: Some(template.into()),
        };
        let e = Provider::Hmac(s).validate().unwrap_err();
        assert_eq!(e.len(), 1, "{template}");
        assert_eq!(e[0].field, "template");
    }
}

#[test]
fn an_invalid_scheme_refuses_even_a_right_signature() {
    // The timestamp header is set but unsigned: a replay with a fresh timestamp would pass.
    let p = Provider::Hmac(HmacScheme {
        header: "X-Hub-Signature-256".into(),
        algorithm: HmacAlgorithm::Sha256,
        encoding: SignatureEncoding::Hex,
        prefix: "sha256=".into(),
        timestamp_header: Some("X-Ts".into()),
        id_header: None,
        template: None,
    });
    let c = Case::new(
        p,
        "It's a Secret to Everybody",
        &[
            (
                "X-Hub-Signature-256",
                "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            ),
            ("X-Ts", "1"),
        ],
        b"Hello, World!",
    );
    assert_eq!(c.run(), Err(VerifyError::BadSignature));
}

#[test]
fn providers_as_json() {
    for (kind, p) in [
        ("standard_webhooks", Provider::StandardWebhooks),
        ("stripe", Provider::Stripe),
        ("github", Provider::GitHub),
        ("shopify", Provider::Shopify),
        ("slack", Provider::Slack),
        ("twilio", Provider::Twilio),
    ] {
        let v = json!({ "kind": kind });
        assert_eq!(serde_json::to_value(&p).unwrap(), v);
        assert_eq!(serde_json::from_value::<Provider>(v).unwrap(), p);
    }
    let h = json!({"kind": "hmac", "header": "X-Sig", "algorithm": "sha512", "encoding": "base64",
                   "prefix": "", "timestamp_header": null, "id_header": null, "template": null});
    let p: Provider = serde_json::from_value(h.clone()).unwrap();
    assert_eq!(serde_json::to_value(&p).unwrap(), h);
    let unknown = json!({"kind": "hmac", "header": "X-Sig", "algorithm": "sha256",
                         "encoding": "hex", "secret": "leak"});
    assert!(serde_json::from_value::<Provider>(unknown).is_err());
    let md5 = json!({"kind": "hmac", "header": "X-Sig", "algorithm": "md5", "encoding": "hex"});
    assert!(serde_json::from_value::<Provider>(md5).is_err());
}
