//! Fuzzes what webhook ingress and the inbox API parse: source names and event ids from
//! paths, the signed timestamp check, the replay-guard key from a body field, and a source's
//! settings JSON — never panics; keys stay bounded and printable; accepted names round-trip.
#![no_main]
use libfuzzer_sys::fuzz_target;
use palisade_webhooks::ingest::{event_key, timestamp_check};
use palisade_webhooks::{EventId, EventIdRule, SourceName, Target, Verified};

fuzz_target!(|input: (&str, &str, i64, i64, &[u8])| {
    let (name, pointer, ts, now, body) = input;
    if let Ok(n) = SourceName::parse(name) {
        assert_eq!(SourceName::parse(n.as_str()).unwrap(), n);
        assert!(!n.as_str().contains('/'));
    }
    if let Ok(id) = EventId::parse(name) {
        assert_eq!(id.as_str(), name);
    }
    let _ = timestamp_check(Some(ts), 300, 60, now);
    let v = Verified {
        timestamp: Some(ts),
        id: Some(name.to_owned()),
        digest: [0; 32],
    };
    let rules = [
        EventIdRule::Provider,
        EventIdRule::Digest,
        EventIdRule::BodyField {
            pointer: pointer.to_owned(),
        },
    ];
    for rule in &rules {
        let key = event_key(rule, &v, body);
        assert!(key.chars().count() <= 200, "key bounded");
        assert!(!key.chars().any(char::is_control), "key printable");
    }
    if let Ok(rule) = serde_json::from_slice::<EventIdRule>(body) {
        let _ = rule.check();
    }
    if let Ok(t) = serde_json::from_slice::<Target>(body) {
        let _ = t.check();
    }
});
