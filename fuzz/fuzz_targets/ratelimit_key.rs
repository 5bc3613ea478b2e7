//! Fuzzes rate-limit key building from request values: never panics, and two different
//! contexts never build the same key (no value can forge another request's key).
#![no_main]
use libfuzzer_sys::fuzz_target;
use palisade_ratelimit::{build_key, KeyContext, KeyPart};

type Values = (Option<String>, Option<String>);

fn key(parts: &[KeyPart], (principal, route): &Values) -> String {
    let ctx = KeyContext {
        principal: principal.as_deref(),
        route: route.as_deref(),
        ..KeyContext::default()
    };
    build_key(parts, &ctx)
}

/// An empty value counts as missing (documented).
fn normal(v: &Values) -> Values {
    let f = |o: &Option<String>| o.clone().filter(|s| !s.is_empty());
    (f(&v.0), f(&v.1))
}

fuzz_target!(|input: (Values, Values)| {
    let parts = ["principal", "route"].map(|s| KeyPart::parse(s).unwrap());
    let (a, b) = input;
    if key(&parts, &a) == key(&parts, &b) {
        assert_eq!(normal(&a), normal(&b), "two contexts built one key");
    }
});
