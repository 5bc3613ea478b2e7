//! Link previews against fixture pages served locally; oEmbed discovery goes through the same checks.

use crate::support::{fetcher, ok, settings, Server, StubResolver};
use palisade_core::{AuditEvent, AuditEventType, AuditSink, TenantId};
use palisade_fetch::{preview_build, Fetcher, PreviewImage, PreviewRequest};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

const OEMBED: &str = r#"{"type":"rich","version":"1.0","title":"oEmbed title","provider_name":"oEmbed Provider","thumbnail_url":"/thumb.jpg","thumbnail_width":320,"thumbnail_height":"180"}"#;

async fn site() -> (Server, Server, Arc<StubResolver>, u16) {
    let port = Arc::new(AtomicU16::new(0));
    let p = port.clone();
    let public = Server::start(
        "127.0.0.1",
        Arc::new(move |path: &str| {
            let page = |s: &str| {
                ok(
                    "text/html; charset=utf-8",
                    s.replace("{P}", &p.load(Ordering::SeqCst).to_string())
                        .as_bytes(),
                )
            };
            match path {
                "/og" => page(include_str!("../fixtures/og.html")),
                "/twitter" => page(include_str!("../fixtures/twitter.html")),
                "/plain" => page(include_str!("../fixtures/plain.html")),
                "/oembed-only" => page(include_str!("../fixtures/oembed-only.html")),
                "/hostile" => page(include_str!("../fixtures/hostile.html")),
                "/oembed.json" => ok("application/json", OEMBED.as_bytes()),
                _ => ok("application/json", b"{}"),
            }
        }),
    )
    .await;
    port.store(public.port(), Ordering::SeqCst);
    let internal = Server::start_on(
        format!("127.0.0.2:{}", public.port()),
        Arc::new(|_: &str| ok("application/json", OEMBED.as_bytes())),
    )
    .await
    .unwrap();
    let stub = Arc::new(StubResolver::new(&[]));
    stub.name("internal.test", &[&["127.0.0.2"]]);
    let p = public.port();
    (public, internal, stub, p)
}

fn req(p: u16, path: &str) -> PreviewRequest {
    PreviewRequest {
        url: format!("http://127.0.0.1:{p}{path}"),
        tenant: None,
        actor: None,
    }
}

#[tokio::test]
async fn open_graph_wins_over_twitter_and_html() {
    let (_s, _i, stub, p) = site().await;
    let f = fetcher(settings(&[p]), stub, &[]);
    let pv = preview_build(&f, req(p, "/og")).await.unwrap();
    let base = format!("http://127.0.0.1:{p}");
    assert_eq!(pv.title.as_deref(), Some("Open Graph title"));
    assert_eq!(
        pv.description.as_deref(),
        Some("An Open Graph description.")
    );
    assert_eq!(pv.canonical_url, format!("{base}/canonical-og"));
    assert_eq!(pv.site_name.as_deref(), Some("Example Site"));
    assert_eq!(
        pv.image,
        Some(PreviewImage {
            url: format!("{base}/img/og.png"),
            width: Some(1200),
            height: Some(630),
            alt: Some("A picture".into())
        })
    );
    assert_eq!(pv.favicon, format!("{base}/static/icon.png"));
}

#[tokio::test]
async fn twitter_cards_and_html_fallbacks() {
    let (_s, _i, stub, p) = site().await;
    let f = fetcher(settings(&[p]), stub, &[]);
    let tw = preview_build(&f, req(p, "/twitter")).await.unwrap();
    assert_eq!(tw.title.as_deref(), Some("Twitter title"));
    assert_eq!(tw.description.as_deref(), Some("Twitter description"));
    let img = tw.image.unwrap();
    assert_eq!(
        (img.url.as_str(), img.alt.as_deref()),
        ("https://cdn.example/t.jpg", Some("Twitter alt"))
    );
    let plain = preview_build(&f, req(p, "/plain")).await.unwrap();
    assert_eq!(plain.title.as_deref(), Some("Plain page title"));
    assert_eq!(plain.description.as_deref(), Some("Plain description"));
    assert_eq!(plain.canonical_url, format!("http://127.0.0.1:{p}/plain"));
    assert_eq!(plain.favicon, format!("http://127.0.0.1:{p}/favicon.ico"));
    assert_eq!(plain.image, None);
}

#[tokio::test]
async fn oembed_fills_what_the_page_lacks() {
    let (_s, _i, stub, p) = site().await;
    let f = fetcher(settings(&[p]), stub, &[]);
    let pv = preview_build(&f, req(p, "/oembed-only")).await.unwrap();
    assert_eq!(pv.title.as_deref(), Some("oEmbed title"));
    assert_eq!(pv.site_name.as_deref(), Some("oEmbed Provider"));
    let img = pv.image.unwrap();
    assert_eq!((img.width, img.height), (Some(320), Some(180)));
    assert_eq!(img.url, format!("http://127.0.0.1:{p}/thumb.jpg"));
}

#[tokio::test]
async fn a_hostile_page_is_sanitised_and_its_internal_oembed_link_never_fetched() {
    let (_s, internal, stub, p) = site().await;
    let f = fetcher(settings(&[p]), stub, &[]);
    let pv = preview_build(&f, req(p, "/hostile")).await.unwrap();
    assert_eq!(pv.title.as_deref(), Some("Safealert(1) title"));
    assert_eq!(
        pv.image, None,
        "javascript: and userinfo image URLs are dropped"
    );
    assert_eq!(pv.favicon, format!("http://127.0.0.1:{p}/favicon.ico"));
    assert_eq!(pv.site_name, None);
    assert_eq!(
        internal.hits(),
        0,
        "the discovered oEmbed URL reached an internal address"
    );
}

/// Collects audit events.
#[derive(Debug, Default)]
struct Trail(Mutex<Vec<AuditEvent>>);

impl AuditSink for Trail {
    fn audit_record(&self, event: AuditEvent) {
        self.0.lock().unwrap().push(event);
    }
}

/// A blocked oEmbed link only drops the oEmbed document, and is audited like any block: the
/// tenant, the actor, the rule and the purpose, never the URL or the address.
#[tokio::test]
async fn a_blocked_oembed_link_is_audited() {
    let (_s, _i, stub, p) = site().await;
    let trail = Arc::new(Trail::default());
    let f = Fetcher::builder(settings(&[p]))
        .resolver(stub)
        .host_addresses(Default::default())
        .audit(trail.clone())
        .build()
        .unwrap();
    let tenant = TenantId::generate();
    let mut r = req(p, "/hostile");
    r.tenant = Some(tenant.clone());
    r.actor = Some("key_1".into());
    assert!(preview_build(&f, r).await.is_ok());
    let events = trail.0.lock().unwrap().clone();
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e.kind, AuditEventType::FetchBlocked);
    assert_eq!(e.tenant.as_ref(), Some(&tenant));
    assert_eq!(e.actor.as_deref(), Some("key_1"));
    assert_eq!(e.detail["rule"], "loopback");
    assert_eq!(e.detail["use"], "preview.oembed");
    let text = e.detail.to_string();
    assert!(
        !text.contains("internal.test") && !text.contains("127.0.0.2"),
        "{text}"
    );
}

#[tokio::test]
async fn a_page_that_is_not_html_is_refused() {
    let (_s, _i, stub, p) = site().await;
    let f = fetcher(settings(&[p]), stub, &[]);
    let e = preview_build(&f, req(p, "/data.json")).await.unwrap_err();
    assert_eq!(e.code(), "fetch-bad-content-type");
    let e = preview_build(
        &f,
        PreviewRequest {
            url: "http://169.254.169.254/".into(),
            tenant: None,
            actor: None,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.rule().unwrap().name(), "link-local");
}
