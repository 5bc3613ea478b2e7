//! The SSRF table: every denied range, host encoding, IPv6 form, redirect and DNS answer → 0 bypasses.

use crate::support::{fetcher, ok, redirect, settings, Handler, Server, StubResolver};
use palisade_core::TenantId;
use palisade_fetch::{FetchRequest, Fetcher};
use std::sync::Arc;

/// What a case must end in.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Blocked by this rule.
    Rule(&'static str),
    /// Refused with this error code (scheme, URL).
    Code(&'static str),
    /// Reached the allowed public server.
    Public,
}
use Expect::*;

const CASES: &[(&str, Expect)] = &[
    // IPv4 ranges
    ("http://127.0.0.2:{P}/", Rule("loopback")),
    ("http://127.255.255.254:{P}/", Rule("loopback")),
    ("http://10.0.0.1:{P}/", Rule("private")),
    ("http://172.16.5.4:{P}/", Rule("private")),
    ("http://192.168.1.1:{P}/", Rule("private")),
    (
        "http://169.254.169.254/latest/meta-data/",
        Rule("link-local"),
    ),
    ("http://100.64.0.1/", Rule("cgnat")),
    ("http://0.0.0.0:{P}/", Rule("unspecified")),
    ("http://0.1.2.3/", Rule("unspecified")),
    ("http://255.255.255.255/", Rule("broadcast")),
    ("http://224.0.0.1/", Rule("multicast")),
    ("http://239.255.255.250/", Rule("multicast")),
    ("http://240.0.0.1/", Rule("reserved")),
    ("http://192.0.2.1/", Rule("documentation")),
    ("http://198.51.100.7/", Rule("documentation")),
    ("http://203.0.113.9/", Rule("documentation")),
    ("http://198.18.0.1/", Rule("benchmarking")),
    ("http://192.0.0.8/", Rule("ietf-protocol")),
    ("http://192.88.99.1/", Rule("reserved")),
    // IPv4 host encodings (all 127.0.0.2 or 169.254.169.254)
    ("http://2130706434:{P}/", Rule("loopback")),
    ("http://0x7f000002:{P}/", Rule("loopback")),
    ("http://0x7f.2:{P}/", Rule("loopback")),
    ("http://0177.0.0.2:{P}/", Rule("loopback")),
    ("http://017700000002:{P}/", Rule("loopback")),
    ("http://127.2:{P}/", Rule("loopback")),
    ("http://127.0.2:{P}/", Rule("loopback")),
    ("http://127.0.0.2.:{P}/", Rule("loopback")),
    ("http://0x7F.0x0.0x0.0x2:{P}/", Rule("loopback")),
    ("http://%31%32%37.0.0.2:{P}/", Rule("loopback")),
    (
        "http://\u{ff11}\u{ff12}\u{ff17}.0.0.2:{P}/",
        Rule("loopback"),
    ),
    ("http://127.0.0.2:{P}\\@127.0.0.1:{P}/", Rule("loopback")),
    ("http://0:{P}/", Rule("unspecified")),
    ("http://169.254.43518/", Rule("link-local")),
    ("http://0xa9fea9fe/", Rule("link-local")),
    ("http://2852039166/", Rule("link-local")),
    // IPv6 forms
    ("http://[::1]:{P}/", Rule("loopback")),
    ("http://[0:0:0:0:0:0:0:1]:{P}/", Rule("loopback")),
    ("http://[::]:{P}/", Rule("unspecified")),
    ("http://[::ffff:127.0.0.2]:{P}/", Rule("ipv4-mapped")),
    ("http://[::ffff:7f00:2]:{P}/", Rule("ipv4-mapped")),
    ("http://[::ffff:127.0.0.1]:{P}/", Rule("ipv4-mapped")),
    ("http://[::ffff:a9fe:a9fe]/", Rule("ipv4-mapped")),
    ("http://[::ffff:0:7f00:2]/", Rule("ipv4-mapped")),
    ("http://[::127.0.0.2]:{P}/", Rule("ipv4-compatible")),
    ("http://[64:ff9b::7f00:2]/", Rule("nat64")),
    ("http://[64:ff9b::a9fe:a9fe]/", Rule("nat64")),
    ("http://[64:ff9b:1::a00:1]/", Rule("nat64")),
    ("http://[2002:7f00:2::]/", Rule("6to4")),
    ("http://[2002:a9fe:a9fe::1]/", Rule("6to4")),
    (
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffd]/",
        Rule("teredo"),
    ),
    ("http://[fc00::1]/", Rule("unique-local")),
    ("http://[fd12:3456::1]/", Rule("unique-local")),
    ("http://[fe80::1]/", Rule("link-local")),
    ("http://[fe80::1%25lo]:{P}/", Rule("ipv6-zone-id")),
    ("http://[fe80::1%lo]/", Rule("ipv6-zone-id")),
    ("http://[fec0::1]/", Rule("site-local")),
    ("http://[ff02::1]/", Rule("multicast")),
    ("http://[2001:db8::1]/", Rule("documentation")),
    ("http://[2001:2::1]/", Rule("benchmarking")),
    ("http://[100::1]/", Rule("reserved")),
    // names, through the DNS stub
    ("http://internal.test:{P}/", Rule("loopback")),
    ("http://INTERNAL.test.:{P}/", Rule("loopback")),
    ("http://metadata.test/", Rule("link-local")),
    ("http://private.test/", Rule("private")),
    ("http://mixed.test:{P}/", Rule("loopback")),
    ("http://mixed-first.test:{P}/", Rule("loopback")),
    ("http://mixed-v6.test:{P}/", Rule("loopback")),
    ("http://mapped.test:{P}/", Rule("ipv4-mapped")),
    ("http://nat64.test/", Rule("nat64")),
    ("http://v6.test:{P}/", Rule("loopback")),
    ("http://own.test/", Rule("host-address")),
    ("http://8.8.4.4/", Rule("host-address")),
    // redirects from the public server
    (
        "http://127.0.0.1:{P}/go?http://127.0.0.2:{P}/",
        Rule("loopback"),
    ),
    (
        "http://127.0.0.1:{P}/go?http://169.254.169.254/",
        Rule("link-local"),
    ),
    (
        "http://127.0.0.1:{P}/go?http://internal.test:{P}/",
        Rule("loopback"),
    ),
    (
        "http://127.0.0.1:{P}/go?http://[::1]:{P}/",
        Rule("loopback"),
    ),
    (
        "http://127.0.0.1:{P}/go?http://0x7f000002:{P}/",
        Rule("loopback"),
    ),
    (
        "http://127.0.0.1:{P}/go?http://127.0.0.1:{P}/go?http://10.0.0.1/",
        Rule("private"),
    ),
    ("http://127.0.0.1:{P}/go?//127.0.0.2:{P}/", Rule("loopback")),
    (
        "http://127.0.0.1:{P}/go?gopher://127.0.0.2:{P}/",
        Code("fetch-bad-scheme"),
    ),
    (
        "http://127.0.0.1:{P}/go?file:///etc/passwd",
        Code("fetch-bad-scheme"),
    ),
    (
        "http://127.0.0.1:{P}/go?http://127.0.0.1:22/",
        Rule("port-not-allowed"),
    ),
    (
        "http://127.0.0.1:{P}/go?http://u:p@127.0.0.1:{P}/",
        Code("fetch-bad-url"),
    ),
    // ports, schemes, userinfo, malformed
    ("http://127.0.0.1:22/", Rule("port-not-allowed")),
    ("https://127.0.0.1:6379/", Rule("port-not-allowed")),
    ("file:///etc/passwd", Code("fetch-bad-scheme")),
    ("gopher://127.0.0.1:{P}/", Code("fetch-bad-scheme")),
    ("dict://127.0.0.1:11211/", Code("fetch-bad-scheme")),
    ("ftp://example.com/", Code("fetch-bad-scheme")),
    ("http://user:pass@127.0.0.1:{P}/", Code("fetch-bad-url")),
    ("http://user@127.0.0.1:{P}/", Code("fetch-bad-url")),
    ("http://127.0.0.1:{P}@127.0.0.2:{P}/", Code("fetch-bad-url")),
    ("http://[::1/", Code("fetch-bad-url")),
    ("not a url", Code("fetch-bad-url")),
    // the allowed public site, as controls (the check does not refuse everything)
    ("http://127.0.0.1:{P}/", Public),
    ("http://2130706433:{P}/", Public),
    ("http://public.test:{P}/", Public),
    ("http://127.0.0.1:{P}#@127.0.0.2:{P}/", Public),
    ("http://127.0.0.1:{P}/go?http://public.test:{P}/", Public),
];

fn stub() -> StubResolver {
    let r = StubResolver::new(&[]);
    r.name("public.test", &[&["127.0.0.1"]]);
    r.name("internal.test", &[&["127.0.0.2"]]);
    r.name("metadata.test", &[&["169.254.169.254"]]);
    r.name("private.test", &[&["10.1.2.3"]]);
    r.name("mixed.test", &[&["127.0.0.1", "127.0.0.2"]]);
    r.name("mixed-first.test", &[&["127.0.0.2", "127.0.0.1"]]);
    r.name("mixed-v6.test", &[&["127.0.0.1", "::1"]]);
    r.name("mapped.test", &[&["::ffff:127.0.0.2"]]);
    r.name("nat64.test", &[&["64:ff9b::a9fe:a9fe"]]);
    r.name("v6.test", &[&["::1"]]);
    r.name("own.test", &[&["8.8.4.4"]]);
    r
}

/// The public site: `/go?<url>` redirects to `<url>`, anything else answers "public".
fn public_handler() -> Handler {
    Arc::new(|path: &str| match path.split_once("/go?") {
        Some((_, to)) => redirect(302, to),
        None => ok("text/html", b"public"),
    })
}

fn internal_handler() -> Handler {
    Arc::new(|_: &str| ok("text/html", b"internal"))
}

/// The public server on 127.0.0.1:P, internal ones on 127.0.0.2:P and [::1]:P (when free).
async fn servers() -> (Server, Server, Option<Server>) {
    let public = Server::start("127.0.0.1", public_handler()).await;
    let p = public.port();
    let internal = Server::start_on(format!("127.0.0.2:{p}"), internal_handler())
        .await
        .unwrap();
    let v6 = Server::start_on(format!("[::1]:{p}"), internal_handler())
        .await
        .ok();
    (public, internal, v6)
}

async fn outcome(f: &Fetcher, url: &str) -> Result<String, palisade_fetch::FetchError> {
    f.fetch(FetchRequest::get(url))
        .await
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
}

#[tokio::test]
async fn ssrf_table_has_no_bypass() {
    let (public, internal, v6) = servers().await;
    let p = public.port();
    let f = fetcher(settings(&[p]), Arc::new(stub()), &["8.8.4.4"]);
    assert!(CASES.len() >= 60, "{} cases", CASES.len());
    let mut failures = Vec::new();
    for (template, expect) in CASES {
        let url = template.replace("{P}", &p.to_string());
        let got = outcome(&f, &url).await;
        let ok = match (expect, &got) {
            (Rule(r), Err(e)) => e.rule().map(|x| x.name()) == Some(*r),
            (Code(c), Err(e)) => e.code() == *c,
            (Public, Ok(body)) => body == "public",
            _ => false,
        };
        if !ok {
            failures.push(format!("{url}: expected {expect:?}, got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
    assert_eq!(
        internal.hits(),
        0,
        "a connection reached the internal server"
    );
    if let Some(v6) = v6 {
        assert_eq!(
            v6.hits(),
            0,
            "a connection reached the internal IPv6 server"
        );
    }
    assert!(public.hits() > 0);
}

#[tokio::test]
async fn a_rebinding_resolver_is_asked_once_and_its_checked_address_is_dialled() {
    let (public, internal, _) = servers().await;
    let p = public.port();
    let stub = Arc::new(StubResolver::new(&[]));
    // Public on the first answer, internal on every later one (a DNS rebinding attack).
    stub.name("rebind.test", &[&["127.0.0.1"], &["127.0.0.2"]]);
    let f = fetcher(settings(&[p]), stub.clone(), &[]);
    let body = outcome(&f, &format!("http://rebind.test:{p}/"))
        .await
        .unwrap();
    assert_eq!(body, "public");
    assert_eq!(
        stub.calls(),
        1,
        "one resolution per connection, no second lookup"
    );
    // Any later connection resolves again and is checked again: it never reaches the internal server.
    for _ in 0..3 {
        let again = outcome(&f, &format!("http://rebind.test:{p}/")).await;
        assert!(
            matches!(&again, Ok(b) if b == "public")
                || again.as_ref().unwrap_err().rule().map(|r| r.name()) == Some("loopback"),
            "{again:?}"
        );
    }
    assert_eq!(internal.hits(), 0);
}

#[tokio::test]
async fn an_allowlist_is_per_tenant_and_per_host_and_never_shared() {
    let (public, internal, _) = servers().await;
    let p = public.port();
    let stub = Arc::new(stub());
    stub.name("intranet.test", &[&["127.0.0.2"]]);
    let mut s = settings(&[p]);
    s.allow.hosts = vec!["intranet.test".into()];
    s.tenants.insert(
        "acme".into(),
        palisade_fetch::AllowList {
            hosts: vec![],
            cidrs: vec!["127.0.0.2/32".into()],
        },
    );
    let f = fetcher(s, stub, &[]);
    let acme = TenantId::parse("acme").unwrap();
    let other = TenantId::parse("other").unwrap();
    let get = |url: String, t: Option<&TenantId>| {
        let mut r = FetchRequest::get(url);
        r.tenant = t.cloned();
        let f = f.clone();
        async move { f.fetch(r).await }
    };
    let url = format!("http://internal.test:{p}/");
    assert_eq!(
        &get(url.clone(), Some(&acme)).await.unwrap().body[..],
        b"internal"
    );
    // The same name right after, from another tenant and from no tenant: its pooled connection
    // to the internal address is not reused, the address is checked and refused.
    for t in [Some(&other), None] {
        let e = get(url.clone(), t).await.unwrap_err();
        assert_eq!(e.rule().unwrap().name(), "loopback");
    }
    assert_eq!(internal.hits(), 1);
    // A globally allowed host name reaches its private address for everyone.
    let body = get(format!("http://intranet.test:{p}/"), Some(&other))
        .await
        .unwrap()
        .body;
    assert_eq!(&body[..], b"internal");
    assert_eq!(internal.hits(), 2);
}

#[tokio::test]
async fn blocked_errors_never_name_the_address() {
    let (public, _internal, _) = servers().await;
    let p = public.port();
    let f = fetcher(settings(&[p]), Arc::new(stub()), &[]);
    let e = outcome(&f, &format!("http://internal.test:{p}/"))
        .await
        .unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(!text.contains("127.0.0.2"), "{text}");
    assert_eq!(e.code(), "fetch-blocked-address");
}

#[tokio::test]
async fn proxy_variables_in_the_environment_are_ignored() {
    let (public, internal, _) = servers().await;
    let p = public.port();
    // A "proxy" that would answer for any URL: used, it would skip the address check entirely.
    let proxy = Server::start("127.0.0.1", internal_handler()).await;
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port());
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "all_proxy",
    ] {
        std::env::set_var(var, &proxy_url);
    }
    let f = fetcher(settings(&[p]), Arc::new(stub()), &[]);
    let body = outcome(&f, &format!("http://public.test:{p}/"))
        .await
        .unwrap();
    let blocked = outcome(&f, &format!("http://internal.test:{p}/"))
        .await
        .unwrap_err();
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "all_proxy",
    ] {
        std::env::remove_var(var);
    }
    assert_eq!(body, "public");
    assert_eq!(blocked.rule().unwrap().name(), "loopback");
    assert_eq!(proxy.hits(), 0, "the environment's proxy was used");
    assert_eq!(internal.hits(), 0);
}
