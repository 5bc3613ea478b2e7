//! GitHub: `X-Hub-Signature-256: sha256=<hex>` over the body.

use palisade_webhooks::{Provider, VerifyError};
use sha2::{Digest, Sha256};

use crate::common::{accepted_and_refusals, Case};

/// GitHub's documentation, "Validating webhook deliveries", testing the webhook payload
/// validation: secret "It's a Secret to Everybody", payload "Hello, World!".
fn kat() -> Case {
    Case::new(
        Provider::GitHub,
        "It's a Secret to Everybody",
        &[
            (
                "X-Hub-Signature-256",
                "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            ),
            ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ],
        b"Hello, World!",
    )
    .signature_header("x-hub-signature-256", "x-hub-signature-256")
}

#[test]
fn documented_vector_verifies_without_timestamp_or_unsigned_delivery_id() {
    let v = accepted_and_refusals(&kat());
    assert_eq!(v.timestamp, None);
    assert_eq!(v.id, None, "X-GitHub-Delivery is not signed: never an id");
    assert_eq!(v.digest, <[u8; 32]>::from(Sha256::digest(b"Hello, World!")));
}

#[test]
fn malformed_headers() {
    let m = Err(VerifyError::MalformedHeader("x-hub-signature-256"));
    for h in [
        "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        "sha256=dXEH6g6yUJ/CESIczphLijdXC211hsIsRvQ3nIsEPhc=",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1",
        "sha256=",
    ] {
        assert_eq!(kat().with_sig(h).run(), m, "{h}");
    }
}

#[test]
fn the_legacy_sha1_header_alone_is_not_enough() {
    let c = kat().with("X-Hub-Signature-256", None).with(
        "X-Hub-Signature",
        Some("sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59"),
    );
    assert_eq!(
        c.run(),
        Err(VerifyError::MissingHeader("x-hub-signature-256"))
    );
}

#[test]
fn a_signature_of_other_bytes_does_not_match() {
    let other = "sha256=0000000000000000000000000000000000000000000000000000000000000000";
    assert_eq!(kat().with_sig(other).run(), Err(VerifyError::BadSignature));
}
