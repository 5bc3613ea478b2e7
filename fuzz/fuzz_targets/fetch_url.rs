//! Fuzzes the outbound URL canonicaliser: never panics; an accepted URL is http(s), has no
//! userinfo, no trailing-dot host, is canonical (canonicalising it again changes nothing) and
//! its IP-literal host is the address it parses to.
#![no_main]
use libfuzzer_sys::fuzz_target;
use palisade_fetch::target::{url_canonical, url_target, TargetHost};

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(url) = url_canonical(raw, 4096) else {
        return;
    };
    assert!(matches!(url.scheme(), "http" | "https"), "{url}");
    assert!(url.username().is_empty() && url.password().is_none(), "{url}");
    assert!(url.fragment().is_none(), "{url}");
    let again = url_canonical(url.as_str(), 8192).expect("a canonical URL is accepted again");
    assert_eq!(again, url);
    let ports = [url.port_or_known_default().unwrap_or(0)];
    match url_target(&url, &ports) {
        Ok(TargetHost::Name(n)) => {
            assert!(!n.is_empty() && !n.ends_with('.'), "{n:?}");
            assert!(n.parse::<std::net::IpAddr>().is_err(), "{n:?} is an address");
        }
        Ok(TargetHost::Ip(_)) => {}
        Err(e) => panic!("a canonical URL's target must pass its own port: {e}"),
    }
});
