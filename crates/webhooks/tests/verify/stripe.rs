//! Stripe: `Stripe-Signature: t=…,v1=…`, keyed by the whole `whsec_…` string.

use palisade_webhooks::{Provider, VerifyError};
use sha2::{Digest, Sha256};

use crate::common::{accepted_and_refusals, Case};

const SECRET: &str = "whsec_test_secret";
const BODY: &str = "{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\"\n}";
const SIG: &str = "c2f890decbc5ede7c5060bb9a6d31e0626a4342bacb9aeae2adb1bcea72f9812";

/// Produced by the official SDK: stripe-node 23.1.0
/// `stripe.webhooks.generateTestHeaderString({payload: BODY, secret: "whsec_test_secret",
/// timestamp: 1492774577})` (Stripe's documentation publishes no vector with its secret).
fn kat() -> Case {
    let header = format!("t=1492774577,v1={SIG}");
    Case::new(
        Provider::Stripe,
        SECRET,
        &[("Stripe-Signature", &header)],
        BODY.as_bytes(),
    )
    .signature_header("stripe-signature", "stripe-signature")
}

#[test]
fn sdk_vector_verifies_with_its_timestamp_event_id_and_digest() {
    let v = accepted_and_refusals(&kat());
    assert_eq!(v.timestamp, Some(1_492_774_577));
    assert_eq!(v.id.as_deref(), Some("evt_test_webhook"));
    let signed = format!("1492774577.{BODY}");
    assert_eq!(
        v.digest,
        <[u8; 32]>::from(Sha256::digest(signed.as_bytes()))
    );
}

#[test]
fn the_whole_whsec_string_is_the_key() {
    assert_eq!(
        kat().run_with(&[b"test_secret"]),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn any_v1_of_several_matches_and_other_schemes_are_ignored() {
    let bad = "5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd";
    let h = format!("t=1492774577,v0={bad},v1={bad},v1={SIG},v9=x");
    assert!(kat().with_sig(&h).run().is_ok());
    let upper = format!("t=1492774577,v1={}", SIG.to_uppercase());
    assert!(kat().with_sig(&upper).run().is_ok());
}

#[test]
fn the_timestamp_is_signed() {
    let h = format!("t=1492774578,v1={SIG}");
    assert_eq!(kat().with_sig(&h).run(), Err(VerifyError::BadSignature));
}

#[test]
fn malformed_headers() {
    let m = Err(VerifyError::MalformedHeader("stripe-signature"));
    let many = format!("t=1492774577{}", format!(",v1={SIG}").repeat(17));
    let b64 = "t=1492774577,v1=wviQ3svF7efFBgu5ptMeBiakNCusuaauKtsbzqcvmBI=";
    for h in [
        format!("v1={SIG}"),                           // no timestamp
        format!("t=1492774577,t=1492774577,v1={SIG}"), // two timestamps
        format!("t=14927745x7,v1={SIG}"),              // not a number
        format!("t=-1492774577,v1={SIG}"),             // signed
        "t=1492774577,v0=abcd".to_string(),            // no v1
        format!("t=1492774577;v1={SIG}"),              // wrong separator
        format!("t=1492774577,v1{SIG}"),               // no `=`
        many,                                          // too many signatures
        b64.to_string(),                               // base64, not hex
    ] {
        assert_eq!(kat().with_sig(&h).run(), m, "{h}");
    }
}

#[test]
fn secret_check() {
    assert!(Provider::Stripe.secret_check(SECRET.as_bytes()).is_ok());
    for bad in [&b""[..], b"whsec_", b"sk_test_123", b"whsec_with space"] {
        assert!(Provider::Stripe.secret_check(bad).is_err());
    }
    let e = Provider::Stripe
        .secret_check(b"nope")
        .unwrap_err()
        .to_string();
    assert!(!e.contains("nope"), "{e}");
}
