//! Size and time caps against local servers: endless streams, lying Content-Length, a gzip bomb, stalls.

use crate::support::{fetcher, ok, settings, Handler, Reply, Server, StubResolver};
use flate2::write::GzEncoder;
use flate2::Compression;
use palisade_fetch::{FetchError, FetchRequest, Fetcher};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

const CAP: u64 = 64 * 1024;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn gzipped(body: &[u8]) -> Reply {
    let z = gzip(body);
    let mut r = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-encoding: gzip\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        z.len()
    )
    .into_bytes();
    r.extend_from_slice(&z);
    Reply::Raw(r)
}

fn handler() -> Handler {
    Arc::new(|path: &str| {
        match path {
        "/endless" => Reply::Endless(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n".into(),
        ),
        "/declared-huge" => Reply::Stall(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 10000000000\r\n\r\n".to_vec(),
        ),
        "/understated" => {
            let mut r = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 100\r\nconnection: close\r\n\r\n".to_vec();
            r.extend_from_slice(&vec![b'x'; 1024 * 1024]);
            Reply::Raw(r)
        }
        "/overstated" => Reply::Raw(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1000\r\nconnection: close\r\n\r\nshort".to_vec(),
        ),
        "/bomb" => gzipped(&vec![0u8; 50 * 1024 * 1024]),
        "/small-gzip" => gzipped(b"hello, decompressed"),
        "/stall-head" => Reply::Stall(Vec::new()),
        "/stall-body" => Reply::Stall(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\r\nten bytes.".to_vec(),
        ),
        "/json" => ok("application/json", b"{}"),
        _ => ok("text/html", b"<p>hi</p>"),
    }
    })
}

async fn setup(tweak: impl FnOnce(&mut palisade_fetch::FetchSettings)) -> (Server, Fetcher) {
    let server = Server::start("127.0.0.1", handler()).await;
    let stub = Arc::new(StubResolver::new(&["slow.test"]));
    let mut s = settings(&[server.port()]);
    tweak(&mut s);
    let f = fetcher(s, stub, &[]);
    (server, f)
}

async fn get(
    f: &Fetcher,
    server: &Server,
    path: &str,
) -> Result<palisade_fetch::FetchResponse, FetchError> {
    let mut r = FetchRequest::get(format!("http://127.0.0.1:{}{path}", server.port()));
    r.max_body = Some(CAP);
    f.fetch(r).await
}

#[tokio::test]
async fn an_endless_stream_stops_at_the_cap() {
    let (server, f) = setup(|_| {}).await;
    let e = get(&f, &server, "/endless").await.unwrap_err();
    assert_eq!(
        e,
        FetchError::TooLarge {
            limit: CAP,
            declared: false
        }
    );
    assert_eq!(e.code(), "fetch-too-large");
}

#[tokio::test]
async fn a_declared_length_above_the_cap_is_refused_before_the_body() {
    let (server, f) = setup(|_| {}).await;
    // The server sends no body byte at all: only the header can have refused it.
    let e = get(&f, &server, "/declared-huge").await.unwrap_err();
    assert_eq!(
        e,
        FetchError::TooLarge {
            limit: CAP,
            declared: true
        }
    );
}

#[tokio::test]
async fn the_default_cap_is_5_mb() {
    let (server, f) = setup(|_| {}).await;
    let r = FetchRequest::get(format!("http://127.0.0.1:{}/endless", server.port()));
    let e = f.fetch(r).await.unwrap_err();
    assert_eq!(
        e,
        FetchError::TooLarge {
            limit: 5_000_000,
            declared: false
        }
    );
}

#[tokio::test]
async fn a_lying_content_length_never_yields_more_than_it_declared_or_a_partial_body() {
    let (server, f) = setup(|_| {}).await;
    let under = get(&f, &server, "/understated").await.unwrap();
    assert_eq!(under.body.len(), 100);
    let over = get(&f, &server, "/overstated").await.unwrap_err();
    assert_eq!(over.code(), "fetch-unreachable");
}

#[tokio::test]
async fn a_gzip_bomb_is_counted_decompressed_and_stops_at_the_cap() {
    let (server, f) = setup(|_| {}).await;
    let e = get(&f, &server, "/bomb").await.unwrap_err();
    assert_eq!(
        e,
        FetchError::TooLarge {
            limit: CAP,
            declared: false
        }
    );
    let small = get(&f, &server, "/small-gzip").await.unwrap();
    assert_eq!(&small.body[..], b"hello, decompressed");
}

#[tokio::test]
async fn a_server_that_never_answers_hits_the_first_byte_timeout() {
    let (server, f) = setup(|s| s.first_byte_timeout = Duration::from_millis(300)).await;
    let e = get(&f, &server, "/stall-head").await.unwrap_err();
    assert_eq!(
        e,
        FetchError::Timeout {
            phase: "first-byte"
        }
    );
    assert_eq!(e.code(), "fetch-timeout");
}

#[tokio::test]
async fn a_body_that_stalls_hits_the_total_timeout() {
    let (server, f) = setup(|s| {
        // The head comes at once; only the body stalls, so the total cap is the one that ends it.
        s.first_byte_timeout = Duration::from_secs(2);
        s.connect_timeout = Duration::from_secs(2);
        s.total_timeout = Duration::from_millis(2500);
    })
    .await;
    let e = get(&f, &server, "/stall-body").await.unwrap_err();
    assert_eq!(e, FetchError::Timeout { phase: "total" });
}

#[tokio::test]
async fn a_resolver_that_hangs_hits_the_connect_timeout() {
    let (server, f) = setup(|s| s.connect_timeout = Duration::from_millis(300)).await;
    let url = format!("http://slow.test:{}/", server.port());
    let e = f.fetch(FetchRequest::get(url)).await.unwrap_err();
    assert_eq!(e, FetchError::Timeout { phase: "connect" });
}

#[tokio::test]
async fn content_types_outside_the_calls_allowlist_are_refused() {
    let (server, f) = setup(|_| {}).await;
    let url = |p: &str| format!("http://127.0.0.1:{}{p}", server.port());
    let e = f
        .fetch(FetchRequest::get(url("/json")).accepting(&["text/html"]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "fetch-bad-content-type");
    let r = f
        .fetch(FetchRequest::get(url("/page")).accepting(&["text/html"]))
        .await
        .unwrap();
    assert_eq!(r.media_type().as_deref(), Some("text/html"));
}
