//! `http.body_limit` over raw TCP: a declared oversized body is refused at once, unread, without
//! `100 Continue`; a chunked body is refused as soon as it passes the limit.

use crate::common::spawn;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Well under the request timeout (30 s): the old behaviour held the connection until then.
const PROMPTLY: Duration = Duration::from_secs(5);

/// Sends `head` (and `body`), then reads until the server closes or `PROMPTLY` passes.
async fn exchange(addr: &str, head: String, body: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    if !body.is_empty() {
        // The server may answer and close before taking all of it.
        let _ = s.write_all(body).await;
    }
    let mut got = Vec::new();
    let read = tokio::time::timeout(PROMPTLY, async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&got).into_owned();
    assert!(
        read.is_ok(),
        "no answer and no close within {PROMPTLY:?}: {text:?}"
    );
    text
}

fn head(addr: &str, key: &str, extra: &str) -> String {
    format!(
        "POST /v1/tenants HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\n{extra}\r\n"
    )
}

#[tokio::test]
async fn a_declared_oversized_body_is_refused_at_once_without_100_continue() {
    let p = spawn(&[("PALISADE_HTTP__BODY_LIMIT", "4KiB")]);
    let addr = p.url.trim_start_matches("http://").to_owned();
    let key = p.operator_key();
    for extra in [
        "Content-Length: 10000000\r\nExpect: 100-continue\r\n",
        "Content-Length: 10000000\r\n",
        "Content-Length: 4097\r\n",
    ] {
        let got = exchange(&addr, head(&addr, &key, extra), b"").await;
        assert!(got.starts_with("HTTP/1.1 413"), "{extra:?} → {got:?}");
        assert!(!got.contains("100 Continue"), "{extra:?} → {got:?}");
        assert!(
            got.to_ascii_lowercase().contains("connection: close"),
            "{got:?}"
        );
        assert!(got.contains("payload-too-large"), "{got:?}");
    }
}

#[tokio::test]
async fn a_body_within_the_limit_with_expect_still_gets_100_continue() {
    let p = spawn(&[("PALISADE_HTTP__BODY_LIMIT", "4KiB")]);
    let addr = p.url.trim_start_matches("http://").to_owned();
    let body = br#"{"external_id":"e1","name":"n"}"#;
    let extra = format!(
        "Content-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n",
        body.len()
    );
    let got = exchange(&addr, head(&addr, &p.operator_key(), &extra), body).await;
    assert!(got.contains("201 Created"), "{got:?}");
}

#[tokio::test]
async fn a_chunked_body_is_refused_once_it_passes_the_limit() {
    let p = spawn(&[("PALISADE_HTTP__BODY_LIMIT", "4KiB")]);
    let addr = p.url.trim_start_matches("http://").to_owned();
    let chunk = "x".repeat(1024);
    let mut body = String::new();
    for _ in 0..8 {
        body.push_str(&format!("400\r\n{chunk}\r\n"));
    }
    // No last chunk: the body never ends, so only the limit can answer.
    let extra = "Transfer-Encoding: chunked\r\n";
    let got = exchange(
        &addr,
        head(&addr, &p.operator_key(), extra),
        body.as_bytes(),
    )
    .await;
    assert!(got.starts_with("HTTP/1.1 413"), "{got:?}");
}

/// A client that writes its whole oversized body before reading (most HTTP clients do) still
/// gets the 413: the server keeps reading and discarding after its answer instead of resetting
/// the connection under the client's write (a reset also destroys the unread answer).
#[tokio::test]
async fn a_client_writing_its_whole_oversized_body_first_still_reads_the_413() {
    let p = spawn(&[("PALISADE_HTTP__BODY_LIMIT", "4KiB")]);
    let addr = p.url.trim_start_matches("http://").to_owned();
    let body = vec![b'x'; 8 << 20];
    let extra = format!("Content-Length: {}\r\n", body.len());
    for _ in 0..3 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(head(&addr, &p.operator_key(), &extra).as_bytes())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        s.write_all(&body)
            .await
            .expect("the body is taken, not reset");
        let mut got = Vec::new();
        let read = tokio::time::timeout(PROMPTLY, s.read_to_end(&mut got)).await;
        read.expect("closed in time").expect("no reset");
        let got = String::from_utf8_lossy(&got);
        assert!(got.starts_with("HTTP/1.1 413"), "{got:?}");
    }
}
