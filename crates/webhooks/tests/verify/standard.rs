//! Standard Webhooks: `v1,` HMAC-SHA256 (`whsec_` secrets) and `v1a,` ed25519 (`whpk_` keys).

use base64::Engine as _;
use palisade_webhooks::{Provider, VerifyError};
use sha2::{Digest, Sha256};

use crate::common::{accepted_and_refusals, Case};

const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const TS: &str = "1614265330";
const BODY: &str = r#"{"test": 2432232314}"#;
const V1: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
/// standard-webhooks `libraries/go/webhook_asymmetric_test.go` (`TestAsymmetricWebhookSign`):
/// signed with the private key seed below.
const V1A: &str =
    "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag==";
const SEED: &str = "VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=";

/// The specification's test vector (the reference libraries' `TestWebhookSign`).
fn kat(secret: &str, signature: &str) -> Case {
    Case::new(
        Provider::StandardWebhooks,
        secret,
        &[
            ("webhook-id", ID),
            ("webhook-timestamp", TS),
            ("webhook-signature", signature),
        ],
        BODY.as_bytes(),
    )
    .signature_header("webhook-signature", "webhook-signature")
}

fn symmetric() -> Case {
    kat("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", V1)
}

/// The `whpk_` form of the public key of [`SEED`].
fn public_key() -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let seed: [u8; 32] = b64.decode(SEED).unwrap().try_into().unwrap();
    let pk = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    format!("whpk_{}", b64.encode(pk.as_bytes()))
}

#[test]
fn spec_v1_vector_verifies_with_signed_id_and_timestamp() {
    let v = accepted_and_refusals(&symmetric());
    assert_eq!(v.timestamp, Some(1_614_265_330));
    assert_eq!(v.id.as_deref(), Some(ID));
    let signed = format!("{ID}.{TS}.{BODY}");
    assert_eq!(
        v.digest,
        <[u8; 32]>::from(Sha256::digest(signed.as_bytes()))
    );
    // The prefix is optional, as in the reference libraries.
    assert!(kat("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", V1).run().is_ok());
}

#[test]
fn v1a_ed25519_vector_verifies_with_the_public_key() {
    let c = kat(&public_key(), V1A);
    let v = accepted_and_refusals(&c);
    assert_eq!(v.id.as_deref(), Some(ID));
    // Keys are not interchangeable across schemes.
    assert_eq!(kat(&public_key(), V1).run(), Err(VerifyError::BadSignature));
    let c = kat("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", V1A);
    assert_eq!(c.run(), Err(VerifyError::BadSignature));
    // The private key is never accepted as a secret.
    let whsk = format!("whsk_{SEED}");
    assert!(Provider::StandardWebhooks
        .secret_check(whsk.as_bytes())
        .is_err());
    assert_eq!(kat(&whsk, V1A).run(), Err(VerifyError::BadSignature));
}

#[test]
fn id_and_timestamp_are_signed() {
    let c = symmetric().with("webhook-id", Some("msg_p5jXN8AQM9LWM0D4loKWxJeK"));
    assert_eq!(c.run(), Err(VerifyError::BadSignature));
    let c = symmetric().with("webhook-timestamp", Some("1614265331"));
    assert_eq!(c.run(), Err(VerifyError::BadSignature));
    let c = kat(&public_key(), V1A).with("webhook-timestamp", Some("1614265331"));
    assert_eq!(c.run(), Err(VerifyError::BadSignature));
}

#[test]
fn any_of_several_signatures_matches() {
    let other = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
    let list = format!("{other} v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= {V1} {other}");
    assert!(symmetric().with_sig(&list).run().is_ok());
    let both = format!("{V1}  {V1A}");
    assert!(kat(&public_key(), &both).run().is_ok());
    assert!(symmetric().with_sig(&both).run().is_ok());
    let rotation = [
        &b"whsec_c2VjcmV0LW9mLWEtcm90YXRlZC1lbmRwb2ludA=="[..],
        &public_key().into_bytes(),
    ];
    assert!(kat("unused", &both).run_with(&rotation).is_ok());
    // Only wrong ones.
    let wrong = format!("{other} {other}");
    assert_eq!(
        symmetric().with_sig(&wrong).run(),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn malformed_headers() {
    let sig = Err(VerifyError::MalformedHeader("webhook-signature"));
    let many = vec![V1; 17].join(" ");
    for h in [
        "v1",
        "v1,",
        "v1a,",
        "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        &many,
    ] {
        assert_eq!(symmetric().with_sig(h).run(), sig, "{h}");
    }
    // Hex where base64 is expected decodes to other bytes.
    let hex = "v1,83484cf52b04f8e4cf2531adfed9882ad4b2665137b852442d594d20e2c9d4e1";
    assert_eq!(
        symmetric().with_sig(hex).run(),
        Err(VerifyError::BadSignature)
    );
    let id = Err(VerifyError::MalformedHeader("webhook-id"));
    assert_eq!(symmetric().with("webhook-id", Some("msg.1")).run(), id);
    let ts = Err(VerifyError::MalformedHeader("webhook-timestamp"));
    assert_eq!(
        symmetric()
            .with("webhook-timestamp", Some("1614265330.0"))
            .run(),
        ts
    );
    let missing = Err(VerifyError::MissingHeader("webhook-id"));
    assert_eq!(symmetric().with("webhook-id", None).run(), missing);
}

#[test]
fn secret_check() {
    let p = Provider::StandardWebhooks;
    assert!(p
        .secret_check(b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .is_ok());
    assert!(p.secret_check(public_key().as_bytes()).is_ok());
    for bad in [
        &b""[..],
        b"whsec_",
        b"whsec_not base64!",
        b"whpk_AAAA",
        b"whsk_AAAA",
    ] {
        assert!(
            p.secret_check(bad).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}
