//! `POST /v1/previews` against a real server: a local fixture site (the test config allowlists
//! its loopback address and port), a private address refused with its code and an audit record,
//! bad input named, the route in /openapi.json.

use crate::common::{eventually_async, problem, spawn_in, temp_dir, Api, Proc};
use axum::response::Html;
use axum::routing::get;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const PAGE: &str = r#"<!doctype html><html><head>
<title>Fallback title</title>
<meta property="og:title" content="Fixture &amp; Co">
<meta property="og:description" content="A page served by the test.">
<meta property="og:site_name" content="Fixture Site">
<meta property="og:image" content="/img.png">
<meta property="og:image:width" content="640">
<meta property="og:image:alt" content="A logo">
<link rel="canonical" href="/canonical">
<link rel="icon" href="/icon.png">
</head><body><script>alert(1)</script></body></html>"#;

/// A local site on 127.0.0.1 port 0; answers how many times `/page` was fetched.
async fn fixture_site() -> (u16, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let h2 = hits.clone();
    let app = axum::Router::new()
        .route(
            "/page",
            get(move || {
                h.fetch_add(1, Ordering::SeqCst);
                async { Html(PAGE) }
            }),
        )
        .route(
            "/no-store",
            get(move || {
                h2.fetch_add(1, Ordering::SeqCst);
                async {
                    (
                        [(axum::http::header::CACHE_CONTROL, "no-store")],
                        Html(PAGE),
                    )
                }
            }),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (port, hits)
}

/// A server whose `[fetch]` allowlists 127.0.0.1 and the fixture's port (nothing else private).
fn server(port: u16) -> Proc {
    let dir = temp_dir();
    let toml = format!(
        "[fetch]\nallow_ports = [80, 443, {port}]\n[fetch.allow]\ncidrs = [\"127.0.0.1/32\"]\n"
    );
    std::fs::write(dir.join("palisade.toml"), toml).unwrap();
    spawn_in(dir, &[])
}

async fn preview(api: &Api, url: &str) -> reqwest::Response {
    api.post("/v1/previews", json!({ "url": url })).await
}

#[tokio::test]
async fn previews_a_local_page_and_caches_it_per_tenant() {
    let (port, hits) = fixture_site().await;
    let p = server(port);
    let a = p.tenant_api("a").await;
    let url = format!("http://127.0.0.1:{port}/page");
    let r = preview(&a, &url).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let base = format!("http://127.0.0.1:{port}");
    assert_eq!(body["url"], url);
    assert_eq!(body["title"], "Fixture & Co");
    assert_eq!(body["description"], "A page served by the test.");
    assert_eq!(body["site_name"], "Fixture Site");
    assert_eq!(body["canonical_url"], format!("{base}/canonical"));
    assert_eq!(body["favicon"], format!("{base}/icon.png"));
    assert_eq!(body["image"]["url"], format!("{base}/img.png"));
    assert_eq!(body["image"]["width"], 640);
    assert_eq!(body["image"]["alt"], "A logo");
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    let again: Value = preview(&a, &url).await.json().await.unwrap();
    assert_eq!(again, body);
    assert_eq!(hits.load(Ordering::SeqCst), 1, "served from the cache");
    let b = p.tenant_api("b").await;
    assert_eq!(preview(&b, &url).await.status(), 200);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "another tenant never reads the first tenant's cache entry"
    );
}

#[tokio::test]
async fn a_private_address_is_refused_audited_and_counted() {
    let (port, hits) = fixture_site().await;
    let p = server(port);
    let (tenant, key) = p.tenant_with_key("a").await;
    let a = p.api(&key);
    let cases = [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.0.0.1/", "private"),
        ("http://0x7f.2/", "loopback"),
        ("http://[::ffff:10.0.0.1]/", ""),
    ];
    for (url, rule) in cases {
        let body = problem(preview(&a, url).await, 422, "fetch-blocked-address").await;
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains(rule), "{detail}");
        assert!(
            !detail.contains("127.0.0.2") && !detail.contains("10.0.0.1"),
            "{detail}"
        );
    }
    let other = format!("http://127.0.0.1:{}/page", port.wrapping_add(1).max(1));
    problem(preview(&a, &other).await, 422, "fetch-blocked-address").await;
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing was fetched");

    let found = eventually_async(Duration::from_secs(10), || async {
        let list = a.get_json("/v1/audit?type=fetch.blocked&limit=50").await;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        (items.len() >= 5).then_some(items)
    })
    .await
    .expect("five fetch.blocked events listed");
    let e = found
        .iter()
        .find(|e| e["detail"]["rule"] == "link-local")
        .expect("the metadata address's event");
    assert_eq!(e["tenant_id"], tenant.as_str());
    assert_eq!(e["detail"]["use"], "preview");
    assert!(!e.to_string().contains("169.254"), "{e}");

    let m = p.metrics().await;
    assert!(
        m.lines()
            .any(|l| l.starts_with("palisade_fetch_blocked_total{rule=\"link-local\"}")),
        "{m}"
    );
}

#[tokio::test]
async fn bad_input_is_a_400_naming_url() {
    let (port, hits) = fixture_site().await;
    let p = server(port);
    let a = p.tenant_api("a").await;
    for body in [json!({}), json!({"url": 5}), json!({"url": ""})] {
        let b = problem(a.post("/v1/previews", body).await, 400, "invalid-request").await;
        assert_eq!(b["errors"][0]["field"], "url", "{b}");
    }
    let long = format!("http://example.com/{}", "a".repeat(5000));
    let cases = [
        ("not a url", "fetch-bad-url"),
        ("http://user:secret@example.com/", "fetch-bad-url"),
        (long.as_str(), "fetch-bad-url"),
        ("ftp://example.com/x", "fetch-bad-scheme"),
        ("file:///etc/passwd", "fetch-bad-scheme"),
    ];
    for (url, code) in cases {
        let b = problem(preview(&a, url).await, 400, code).await;
        assert_eq!(b["errors"][0]["field"], "url", "{b}");
        assert!(!b.to_string().contains("secret"), "{b}");
    }
    let r = a
        .post("/v1/previews", json!({"url": "http://x.test/", "extra": 1}))
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn openapi_documents_the_previews_route() {
    let (port, _) = fixture_site().await;
    let p = server(port);
    let doc = p.openapi().await;
    let op = &doc["paths"]["/v1/previews"]["post"];
    for code in ["200", "400", "401", "422", "502", "504"] {
        assert!(op["responses"][code].is_object(), "lacks {code}: {op}");
    }
}

#[test]
fn bad_fetch_and_previews_keys_are_each_named() {
    let dir = temp_dir();
    let file = dir.join("bad.toml");
    let toml = "[fetch]\nallow_ports = [443, 0]\nmax_redirects = 99\n[fetch.allow]\n\
                cidrs = [\"10.0.0.0/8\", \"10.0.0.0/99\"]\n[previews]\ncache_entries = 0\n\
                fetch_quota = 2000000\nfetch_window = \"500ms\"\n";
    std::fs::write(&file, toml).unwrap();
    let out = crate::common::check_config_file(&file);
    crate::common::assert_config_errors(
        &out,
        &[
            "fetch.allow_ports[1]",
            "fetch.max_redirects",
            "fetch.allow.cidrs[1]",
            "previews.cache_entries",
            "previews.fetch_quota",
            "previews.fetch_window",
        ],
    );
}

/// Page fetches are limited per tenant (`previews.fetch_quota` per `fetch_window`); cache hits
/// are free; past the quota a 429 `quota-exceeded` with `Retry-After`; another tenant is
/// unaffected; the limit's reserved policy name cannot be taken by a tenant.
#[tokio::test]
async fn page_fetches_are_limited_per_tenant() {
    let (port, hits) = fixture_site().await;
    let dir = temp_dir();
    let toml = format!(
        "[fetch]\nallow_ports = [80, 443, {port}]\n[fetch.allow]\ncidrs = [\"127.0.0.1/32\"]\n\
         [previews]\nfetch_quota = 2\nfetch_window = \"1h\"\n"
    );
    std::fs::write(dir.join("palisade.toml"), toml).unwrap();
    let p = spawn_in(dir, &[]);
    let (a, b) = (p.tenant_api("a").await, p.tenant_api("b").await);
    let url = |n: u32| format!("http://127.0.0.1:{port}/page?n={n}");
    for n in 0..2 {
        assert_eq!(preview(&a, &url(n)).await.status(), 200);
    }
    assert_eq!(
        preview(&a, &url(0)).await.status(),
        200,
        "a cache hit is free"
    );
    let r = preview(&a, &url(2)).await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0);
    problem(r, 429, "quota-exceeded").await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "the refused preview fetched nothing"
    );
    assert_eq!(
        preview(&b, &url(2)).await.status(),
        200,
        "another tenant's quota"
    );
    let pol = json!({"algorithm": "gcra", "quota": 100, "window": "1m"});
    let r = a.put_policy("palisade.previews.fetch", pol).await;
    let body = problem(r, 400, "invalid-request").await;
    assert!(body.to_string().contains("reserved"), "{body}");
}

/// A page that answers `Cache-Control: no-store` is fetched again for every preview.
#[tokio::test]
async fn a_no_store_page_is_not_cached() {
    let (port, hits) = fixture_site().await;
    let p = server(port);
    let a = p.tenant_api("a").await;
    let url = format!("http://127.0.0.1:{port}/no-store");
    for _ in 0..2 {
        assert_eq!(preview(&a, &url).await.status(), 200);
    }
    assert_eq!(hits.load(Ordering::SeqCst), 2, "fetched each time");
}
