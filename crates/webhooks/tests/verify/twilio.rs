//! Twilio: `X-Twilio-Signature` over the URL and the sorted form parameters, or over the URL
//! with `bodySHA256` for JSON bodies; with and without the default port.
//!
//! Vectors: twilio-php's `tests/Twilio/Unit/Security/RequestValidatorTest.php` (the same auth
//! token, URL and parameters as Twilio's "Webhooks security" documentation and the other
//! SDKs' request-validator tests).

use palisade_webhooks::{Provider, VerifyError};
use sha2::{Digest, Sha256};

use crate::common::{accepted_and_refusals, Case};

const TOKEN: &str = "12345";
const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
/// CallSid, Caller, Digits, From, To — sent out of order, `+` percent-encoded.
const FORM: &str =
    "To=%2B18005551212&Digits=1234&CallSid=CA1234567890ABCDE&From=%2B14158675309&Caller=%2B14158675309";
const JSON: &str = r#"{"property": "value", "boolean": true}"#;
const BODY_HASH: &str = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";

fn case(url: &str, sig: &str, body: &str) -> Case {
    Case::new(
        Provider::Twilio,
        TOKEN,
        &[("X-Twilio-Signature", sig)],
        body.as_bytes(),
    )
    .url(url)
    .signature_header("x-twilio-signature", "x-twilio-signature")
}

#[test]
fn documented_form_vector_verifies() {
    let v = accepted_and_refusals(&case(URL, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", FORM));
    assert_eq!((v.timestamp, v.id), (None, None));
    let signed = format!(
        "{URL}CallSidCA1234567890ABCDECaller+14158675309Digits1234From+14158675309To+18005551212"
    );
    assert_eq!(
        v.digest,
        <[u8; 32]>::from(Sha256::digest(signed.as_bytes()))
    );
}

#[test]
fn repeated_parameters_are_sorted_and_deduplicated() {
    let form = "Sid=CA123&Digits=5678&SidAccount=AC123&Digits=1234&Digits=1234";
    accepted_and_refusals(&case(URL, "IK+Dwps556ElfBT0I3Rgjkr1wJU=", form));
}

#[test]
fn json_body_signed_through_body_sha256() {
    let url = format!("{URL}&bodySHA256={BODY_HASH}");
    let c = case(&url, "a9nBmqA0ju/hNViExpshrM61xv4=", JSON);
    accepted_and_refusals(&c);
    // The hash is checked against the body even though the body itself is not signed.
    let other = r#"{"property": "value", "boolean": false}"#;
    assert_eq!(
        c.with_body(other.as_bytes()).run(),
        Err(VerifyError::BadSignature)
    );
    // The form signature does not serve the JSON body.
    let c = case(URL, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", JSON);
    assert_eq!(c.run(), Err(VerifyError::BadSignature));
}

#[test]
fn with_and_without_ports() {
    let cases = [
        // Signed without the port the URL has (https and a custom port).
        (
            "https://mycompany.com:1234/myapp.php?foo=1&bar=2",
            "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
        ),
        // Signed with the custom port the URL has (http).
        (
            "http://mycompany.com:1234/myapp.php?foo=1&bar=2",
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=",
        ),
        // Signed with the default port the URL leaves out.
        (URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),
        (
            "http://mycompany.com/myapp.php?foo=1&bar=2",
            "0ZXoZLH/DfblKGATFgpif+LLRf4=",
        ),
        // Userinfo kept as it is, with and without the default port.
        (
            "https://user:pass@mycompany.com/myapp.php?foo=1&bar=2",
            "CukzLTc1tT5dXEDIHm/tKBanW10=",
        ),
        (
            "https://user:pass@mycompany.com/myapp.php?foo=1&bar=2",
            "ZQFR1PTIZXF2MXB8ZnKCvnnA+rI=",
        ),
        (
            "https://user@mycompany.com/myapp.php?foo=1&bar=2",
            "2YRLlVAflCqxaNicjMpJcSTgzSs=",
        ),
    ];
    for (url, sig) in cases {
        assert!(case(url, sig, FORM).run().is_ok(), "{url} {sig}");
    }
    // Another host, path or query is another URL.
    for url in [
        "https://mycompany.org/myapp.php?foo=1&bar=2",
        "https://mycompany.com/myapp.php?foo=1&bar=3",
        "https://mycompany.com/MyApp.php?foo=1&bar=2",
    ] {
        let r = case(url, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", FORM).run();
        assert_eq!(r, Err(VerifyError::BadSignature), "{url}");
    }
}

#[test]
fn the_settings_header_names_the_algorithm() {
    let c = case(URL, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", FORM);
    let s = "X-Twilio-Webhooks-Signature-Settings";
    assert!(c.with(s, Some("key=k1,algorithm=HMAC_SHA1")).run().is_ok());
    let sha256 = c.with(s, Some("key=k1,algorithm=HMAC_SHA256")).run();
    assert_eq!(
        sha256,
        Err(VerifyError::BadSignature),
        "a SHA-1 MAC is not a SHA-256 one"
    );
    let unknown = c.with(s, Some("algorithm=HMAC_MD5")).run();
    let m = Err(VerifyError::MalformedHeader(
        "x-twilio-webhooks-signature-settings",
    ));
    assert_eq!(unknown, m);
}

#[test]
fn wrong_encodings_are_refused() {
    let hex = "4523980ede13d5c51374ad4f0ddf77fd556bf01f";
    assert_eq!(case(URL, hex, FORM).run(), Err(VerifyError::BadSignature));
    let m = Err(VerifyError::MalformedHeader("x-twilio-signature"));
    assert_eq!(case(URL, "RSOYDt4T1cUTdK1PDd93_VVr8B8=", FORM).run(), m);
}
