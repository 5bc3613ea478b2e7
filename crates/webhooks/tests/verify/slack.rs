//! Slack: `X-Slack-Signature: v0=<hex>` over `v0:<timestamp>:<body>`.

use palisade_webhooks::{Provider, VerifyError};

use crate::common::{accepted_and_refusals, Case};

const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";

/// Slack's documentation, "Verifying requests from Slack", the step-by-step walk-through.
fn kat() -> Case {
    Case::new(
        Provider::Slack,
        "8f742231b10e8888abcd99yyyzzz85a5",
        &[
            (
                "X-Slack-Signature",
                "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            ),
            ("X-Slack-Request-Timestamp", "1531420618"),
        ],
        BODY.as_bytes(),
    )
    .signature_header("x-slack-signature", "x-slack-signature")
}

#[test]
fn documented_vector_verifies_with_its_timestamp() {
    let v = accepted_and_refusals(&kat());
    assert_eq!(v.timestamp, Some(1_531_420_618));
    assert_eq!(v.id, None, "a slash command carries no event_id");
}

#[test]
fn the_timestamp_is_signed_and_required() {
    let ts = "X-Slack-Request-Timestamp";
    let c = kat().with(ts, Some("1531420619"));
    assert_eq!(c.run(), Err(VerifyError::BadSignature));
    let c = kat().with(ts, None);
    assert_eq!(
        c.run(),
        Err(VerifyError::MissingHeader("x-slack-request-timestamp"))
    );
    let c = kat().with(ts, Some("1531420618.5"));
    assert_eq!(
        c.run(),
        Err(VerifyError::MalformedHeader("x-slack-request-timestamp"))
    );
    let mut dup = kat();
    dup.headers.push((ts.into(), "1531420618".into()));
    assert_eq!(
        dup.run(),
        Err(VerifyError::DuplicateHeader("x-slack-request-timestamp"))
    );
}

#[test]
fn only_v0_hex() {
    let m = Err(VerifyError::MalformedHeader("x-slack-signature"));
    for h in [
        "v1=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        "a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        "v0=ohFNV7SOrDm5rRid2DFiNae0qNIaEL0nUZZmSJxptQM=",
    ] {
        assert_eq!(kat().with_sig(h).run(), m, "{h}");
    }
}
