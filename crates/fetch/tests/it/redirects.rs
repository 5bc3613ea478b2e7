//! Redirects: the hop limit, method and header rules across hops.

use crate::support::{fetcher, ok, redirect, settings, Server, StubResolver};
use palisade_fetch::FetchRequest;
use std::sync::Arc;

async fn chain_server() -> Server {
    Server::start(
        "127.0.0.1",
        Arc::new(|path: &str| {
            match path
                .strip_prefix("/chain/")
                .and_then(|n| n.parse::<u32>().ok())
            {
                Some(0) | None if path == "/loop" => redirect(302, "/loop"),
                Some(0) => ok("text/plain", b"end"),
                Some(n) => redirect(307, &format!("/chain/{}", n - 1)),
                None => ok("text/plain", path.as_bytes()),
            }
        }),
    )
    .await
}

#[tokio::test]
async fn redirects_are_followed_up_to_the_limit() {
    let server = chain_server().await;
    let p = server.port();
    let f = fetcher(settings(&[p]), Arc::new(StubResolver::new(&[])), &[]);
    let r = f
        .fetch(FetchRequest::get(format!("http://127.0.0.1:{p}/chain/5")))
        .await
        .unwrap();
    assert_eq!(&r.body[..], b"end");
    assert_eq!(r.url.path(), "/chain/0");
    let e = f
        .fetch(FetchRequest::get(format!("http://127.0.0.1:{p}/chain/6")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "fetch-too-many-redirects");
    let e = f
        .fetch(FetchRequest::get(format!("http://127.0.0.1:{p}/loop")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "fetch-too-many-redirects");
}

#[tokio::test]
async fn a_zero_redirect_limit_follows_none() {
    let server = chain_server().await;
    let p = server.port();
    let mut s = settings(&[p]);
    s.max_redirects = 0;
    let f = fetcher(s, Arc::new(StubResolver::new(&[])), &[]);
    let e = f
        .fetch(FetchRequest::get(format!("http://127.0.0.1:{p}/chain/1")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "fetch-too-many-redirects");
}
