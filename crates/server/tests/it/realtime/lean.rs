//! The lean stream connection over raw TCP: a connection whose first request opens a stream
//! gets a closing, chunked answer whose chunks carry the events and end cleanly; anything the
//! lean path does not take (HTTP/1.0, a body, an earlier request on the connection, a head in
//! pieces, a broken head) is still answered by the general server.

use super::{server, Api};
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `parts` on a fresh connection (pausing between them) and reads until the server
/// closes the connection or `within` passes.
async fn exchange(addr: &str, parts: &[&[u8]], within: Duration) -> Vec<u8> {
    let mut c = TcpStream::connect(addr).await.unwrap();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        c.write_all(part).await.unwrap();
    }
    let mut got = Vec::new();
    let _ = tokio::time::timeout(within, c.read_to_end(&mut got)).await;
    got
}

/// The head of a raw answer, lower-cased, and its body.
fn split(raw: &[u8]) -> (String, Vec<u8>) {
    let at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a whole head");
    let head = String::from_utf8_lossy(&raw[..at]).to_lowercase();
    (head, raw[at + 4..].to_vec())
}

/// The payload of a chunked body, checking every chunk's framing and the final empty chunk.
fn dechunk(mut body: &[u8]) -> String {
    let mut out = Vec::new();
    loop {
        let eol = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a size line");
        let size = usize::from_str_radix(std::str::from_utf8(&body[..eol]).unwrap(), 16).unwrap();
        body = &body[eol + 2..];
        if size == 0 {
            assert_eq!(body, b"\r\n", "the body ends after the last chunk");
            return String::from_utf8(out).unwrap();
        }
        out.extend_from_slice(&body[..size]);
        assert_eq!(&body[size..size + 2], b"\r\n", "a chunk ends with CRLF");
        body = &body[size + 2..];
    }
}

async fn stream_token(a: &Api, ttl_ms: u64) -> String {
    a.mint(json!({"principal": "u1", "topics": ["t"], "ttl_ms": ttl_ms}))
        .await
        .0
}

#[tokio::test]
async fn a_stream_on_a_fresh_connection_is_chunked_closes_and_ends_cleanly() {
    let p = server("");
    let a = p.tenant_api("rt-lean").await;
    a.publish("t", json!({"n": 1})).await;
    a.publish("t", json!({"n": 2})).await;
    let tok = stream_token(&a, 1500).await;
    let addr = p.url.trim_start_matches("http://");
    let req = format!(
        "GET /v1/topics/t/events?token={tok} HTTP/1.1\r\nHost: p\r\nLast-Event-ID: 0\r\n\r\n"
    );
    // The token expires after 1.5 s: the stream sends its close event and ends.
    let raw = exchange(addr, &[req.as_bytes()], Duration::from_secs(10)).await;
    let (head, body) = split(&raw);
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    assert!(head.contains("\r\nconnection: close"), "{head}");
    assert!(head.contains("\r\ntransfer-encoding: chunked"), "{head}");
    assert!(
        head.contains("\r\ncontent-type: text/event-stream"),
        "{head}"
    );
    assert!(head.contains("\r\ndate: "), "{head}");
    let events = dechunk(&body);
    let first = events.find("\"n\":1").expect("event 1");
    let second = events.find("\"n\":2").expect("event 2");
    assert!(first < second, "{events}");
    assert!(events.contains("event: close"), "{events}");
    assert!(events.contains("token-expired"), "{events}");
}

#[tokio::test]
async fn a_refused_stream_on_a_fresh_connection_gets_its_problem_with_a_length() {
    let p = server("");
    let addr = p.url.trim_start_matches("http://");
    let req = b"GET /v1/topics/t/events?token=nope HTTP/1.1\r\nHost: p\r\n\r\n";
    let raw = exchange(addr, &[req], Duration::from_secs(5)).await;
    let (head, body) = split(&raw);
    assert!(head.starts_with("http/1.1 401 unauthorized\r\n"), "{head}");
    assert!(head.contains("\r\nconnection: close"), "{head}");
    assert!(
        head.contains(&format!("\r\ncontent-length: {}", body.len())),
        "{head}"
    );
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["code"], "stream-token-invalid");
}

#[tokio::test]
async fn what_the_lean_path_does_not_take_the_general_server_answers() {
    let p = server("");
    let a = p.tenant_api("rt-lean-other").await;
    a.publish("t", json!({"n": 7})).await;
    let addr = p.url.trim_start_matches("http://");
    // Each case streams with a token that expires after 1 s, so every stream ends.
    let path = async || {
        format!(
            "/v1/topics/t/events?last_event_id=0&token={}",
            stream_token(&a, 1000).await
        )
    };
    let within = Duration::from_secs(4);
    let streams = |raw: &[u8]| {
        let (head, body) = split(raw);
        assert!(
            head.starts_with("http/1.") && head.contains(" 200 ok"),
            "{head}"
        );
        String::from_utf8_lossy(&body).contains("\"n\":7")
    };
    // HTTP/1.0: no chunked encoding; the general server streams and closes.
    let v10 = format!("GET {} HTTP/1.0\r\nHost: p\r\n\r\n", path().await);
    assert!(streams(&exchange(addr, &[v10.as_bytes()], within).await));
    // A body on the request: kept alive by the general server.
    let body = format!(
        "GET {} HTTP/1.1\r\nHost: p\r\nContent-Length: 2\r\n\r\n{{}}",
        path().await
    );
    let raw = exchange(addr, &[body.as_bytes()], within).await;
    assert!(streams(&raw));
    assert!(!split(&raw).0.contains("connection: close"), "{raw:?}");
    // An earlier request on the same connection: both answered, in order.
    let two = format!(
        "GET /healthz HTTP/1.1\r\nHost: p\r\n\r\nGET {} HTTP/1.1\r\nHost: p\r\n\r\n",
        path().await
    );
    let raw = exchange(addr, &[two.as_bytes()], within).await;
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(
        text.contains("text/event-stream") && text.contains("\"n\":7"),
        "{text}"
    );
    // A head sent in pieces: split inside the path (the general server takes it), and
    // inside the headers (the lean path reads on).
    let whole = format!("GET {} HTTP/1.1\r\nHost: p\r\n\r\n", path().await);
    let (a1, rest) = whole.as_bytes().split_at(10);
    let (a2, a3) = rest.split_at(rest.len() - 6);
    assert!(streams(&exchange(addr, &[a1, a2, a3], within).await));
    let whole = format!("GET {} HTTP/1.1\r\nHost: p\r\n\r\n", path().await);
    let (b1, b2) = whole.as_bytes().split_at(whole.len() - 6);
    let raw = exchange(addr, &[b1, b2], within).await;
    assert!(streams(&raw));
    assert!(
        split(&raw).0.contains("connection: close"),
        "taken by the lean path"
    );
    // A broken head that starts like a stream.
    let broken = format!("GET {} HTTP/1.1\r\nBad Header\r\n\r\n", path().await);
    let (head, _) = split(&exchange(addr, &[broken.as_bytes()], within).await);
    assert!(head.starts_with("http/1.1 400"), "{head}");
}
