//! The lean stream connection: a connection whose first request opens an SSE stream is served
//! without the HTTP/1 server's two 8 KiB connection buffers, so an idle stream holds a few kB.
//!
//! The connection's first bytes are peeked. A `GET` of a stream route
//! ([`palisade_realtime::asks_for_stream`]) has its head read and parsed here
//! ([`palisade_realtime::stream_head`]); every other connection, and a stream request the lean
//! path does not take (a body, an upgrade, HTTP/1.0, a head over 16 KiB, a head that does not
//! parse), goes to hyper with the bytes already read. The lean path runs the request through the
//! same router and writes the answer (the stream, or its error) with `Connection: close`, a
//! stream in chunked encoding. The client closing its side ends the stream at once; so does a
//! failed write.

use crate::linger::Lingering;
use crate::rewind::Rewind;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use hyper::body::Body as _;
use palisade_realtime::{asks_for_stream, stream_head, StreamHead, STREAM_PEEK_BYTES};
use std::io::ErrorKind;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceExt;

/// What a client may send while its stream runs before the connection is closed.
const MAX_DISCARD: usize = 64 * 1024;

/// The first request of a connection.
pub enum First {
    /// A stream request, for [`serve`].
    Stream(TcpStream, Box<Request<Body>>),
    /// Anything else: the connection with the bytes read so far, for hyper.
    Other(Rewind<TcpStream>),
}

/// Peeks at `io`'s first bytes and, for a stream request, reads its head.
pub async fn first(io: TcpStream) -> First {
    let mut start = vec![0u8; STREAM_PEEK_BYTES];
    let n = io.peek(&mut start).await.unwrap_or(0);
    if !asks_for_stream(&start[..n]) {
        return First::Other(Rewind::new(io, Vec::new()));
    }
    drop(start);
    head(io).await
}

/// Reads and parses the head of a request [`asks_for_stream`] took.
async fn head(mut io: TcpStream) -> First {
    let mut buf = Vec::with_capacity(1024);
    loop {
        match io.read_buf(&mut buf).await {
            Ok(n) if n > 0 => {}
            _ => return First::Other(Rewind::new(io, buf)),
        }
        match stream_head(&buf, crate::http::middleware::MAX_HEADERS + 1) {
            StreamHead::Partial => continue,
            StreamHead::Stream(req, _) => {
                return First::Stream(io, Box::new(req.map(|()| Body::empty())))
            }
            StreamHead::Other => return First::Other(Rewind::new(io, buf)),
        }
    }
}

/// Answers `req` on `io` through `app`, then closes the connection.
pub async fn serve(mut io: TcpStream, mut req: Request<Body>, addr: SocketAddr, app: Router) {
    req.extensions_mut().insert(ConnectInfo(addr));
    // Boxed: the router's future is large and lives only until the answer, so it must not
    // size the connection's task.
    let Ok(res) = Box::pin(app.oneshot(req)).await;
    let (parts, body) = res.into_parts();
    let length = declared_length(&parts.headers).or(body.size_hint().exact());
    let bodyless = parts.status.is_informational()
        || parts.status == StatusCode::NO_CONTENT
        || parts.status == StatusCode::NOT_MODIFIED;
    let chunked = length.is_none() && !bodyless;
    let head = head_bytes(&parts, length, chunked);
    drop(parts);
    if io.write_all(&head).await.is_err() {
        return;
    }
    drop(head);
    if body_out(&mut io, body, chunked).await {
        let _ = Lingering::new(io).shutdown().await;
    }
}

/// The `Content-Length` a handler set.
fn declared_length(headers: &header::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// The status line and headers, with `Date`, `Connection: close` and the body's framing.
fn head_bytes(parts: &axum::http::response::Parts, length: Option<u64>, chunked: bool) -> Vec<u8> {
    let mut h = Vec::with_capacity(512);
    let reason = parts.status.canonical_reason().unwrap_or("");
    h.extend_from_slice(format!("HTTP/1.1 {} {reason}\r\n", parts.status.as_u16()).as_bytes());
    for (name, value) in &parts.headers {
        let framing = [
            header::CONNECTION,
            header::TRANSFER_ENCODING,
            header::CONTENT_LENGTH,
        ];
        if !framing.contains(name) {
            line(&mut h, name.as_str(), value.as_bytes());
        }
    }
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    line(&mut h, "date", date.as_bytes());
    line(&mut h, "connection", b"close");
    match (length, chunked) {
        (_, true) => line(&mut h, "transfer-encoding", b"chunked"),
        (Some(n), false) => line(&mut h, "content-length", n.to_string().as_bytes()),
        (None, false) => {}
    }
    h.extend_from_slice(b"\r\n");
    h
}

fn line(h: &mut Vec<u8>, name: &str, value: &[u8]) {
    h.extend_from_slice(name.as_bytes());
    h.extend_from_slice(b": ");
    h.extend_from_slice(value);
    h.extend_from_slice(b"\r\n");
}

/// Writes `body` to its end (true), or until the client leaves or a write or the body fails
/// (false: the connection is dropped, so a chunked answer visibly ends early).
async fn body_out(io: &mut TcpStream, mut body: Body, chunked: bool) -> bool {
    let mut discarded = 0;
    loop {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            ready = io.readable() => {
                if ready.is_err() || client_left(io, &mut discarded) {
                    return false;
                }
                continue;
            }
        };
        let data = match frame {
            None => return !chunked || io.write_all(b"0\r\n\r\n").await.is_ok(),
            Some(Err(_)) => return false,
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) if !data.is_empty() => data,
                _ => continue,
            },
        };
        let written = if chunked {
            io.write_all(&chunk(&data)).await
        } else {
            io.write_all(&data).await
        };
        if written.is_err() {
            return false;
        }
    }
}

/// `data` as one chunk of a chunked body.
fn chunk(data: &[u8]) -> Vec<u8> {
    let mut c = Vec::with_capacity(data.len() + 12);
    c.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    c.extend_from_slice(data);
    c.extend_from_slice(b"\r\n");
    c
}

/// After `io` turned readable: true when the client closed (or reset) its side, or sent more
/// than [`MAX_DISCARD`] while its stream ran; what it sends is discarded.
fn client_left(io: &TcpStream, discarded: &mut usize) -> bool {
    let mut scratch = [0u8; 512];
    match io.try_read(&mut scratch) {
        Ok(0) => true,
        Ok(n) => {
            *discarded += n;
            *discarded > MAX_DISCARD
        }
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_framed_in_hex() {
        assert_eq!(chunk(b"data: x\n\n"), b"9\r\ndata: x\n\n\r\n");
        assert_eq!(&chunk(&[b'a'; 26])[..4], b"1a\r\n");
    }

    #[test]
    fn the_head_closes_and_frames_the_body_itself() {
        let res = axum::http::Response::builder()
            .status(404)
            .header("content-type", "application/problem+json")
            .header("connection", "keep-alive")
            .header("content-length", "999")
            .body(())
            .unwrap();
        let (parts, ()) = res.into_parts();
        let text = String::from_utf8(head_bytes(&parts, Some(12), false)).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"), "{text}");
        assert!(text.contains("content-type: application/problem+json\r\n"));
        assert!(text.contains("connection: close\r\n"));
        assert!(text.contains("content-length: 12\r\n"));
        assert!(!text.contains("keep-alive") && !text.contains("999"));
        assert!(text.ends_with("\r\n\r\n"));
        let chunked = String::from_utf8(head_bytes(&parts, None, true)).unwrap();
        assert!(chunked.contains("transfer-encoding: chunked\r\n"));
        assert!(!chunked.contains("content-length"));
    }
}
