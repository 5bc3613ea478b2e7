//! Shopify: `X-Shopify-Hmac-Sha256: <base64>` over the body.

use palisade_webhooks::{Provider, VerifyError};

use crate::common::{accepted_and_refusals, Case};

/// Shopify documents the scheme ("Verify the webhook": base64 of HMAC-SHA256 of the raw body
/// with the app's client secret) but publishes no vector; this is RFC 4231 test case 2 (key
/// "Jefe") in that encoding, so the HMAC and the base64 are both pinned by an outside source.
fn kat() -> Case {
    Case::new(
        Provider::Shopify,
        "Jefe",
        &[
            (
                "X-Shopify-Hmac-Sha256",
                "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=",
            ),
            (
                "X-Shopify-Webhook-Id",
                "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
            ),
        ],
        b"what do ya want for nothing?",
    )
    .signature_header("x-shopify-hmac-sha256", "x-shopify-hmac-sha256")
}

#[test]
fn vector_verifies_without_unsigned_webhook_id() {
    let v = accepted_and_refusals(&kat());
    assert_eq!((v.timestamp, v.id), (None, None));
}

#[test]
fn wrong_encodings_are_refused() {
    let hex = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
    assert_eq!(kat().with_sig(hex).run(), Err(VerifyError::BadSignature));
    let r = kat()
        .with_sig("W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=!")
        .run();
    assert_eq!(
        r,
        Err(VerifyError::MalformedHeader("x-shopify-hmac-sha256"))
    );
    let unpadded = "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM";
    let r = kat().with_sig(unpadded).run();
    assert_eq!(
        r,
        Err(VerifyError::MalformedHeader("x-shopify-hmac-sha256")),
        "padding is required"
    );
}
