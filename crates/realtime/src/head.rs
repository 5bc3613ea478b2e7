//! The head of an SSE stream request, read off a raw HTTP/1.1 connection for the lean stream
//! connection (which holds a few kB per idle stream instead of an HTTP/1 server's buffers).
//!
//! Only a plain `GET` of a stream route with no body and no upgrade is a stream head; anything
//! else, or anything this parser does not take, is [`StreamHead::Other`], for the general HTTP
//! server to answer. Parsing is `httparse`'s.

use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING, UPGRADE};
use http::{Method, Request, Version};

/// How many bytes of a connection's start [`asks_for_stream`] needs at most.
pub const STREAM_PEEK_BYTES: usize = 512;

/// The longest stream head taken; a longer one is [`StreamHead::Other`].
pub const MAX_STREAM_HEAD_BYTES: usize = 16 * 1024;

/// What the bytes a connection sent first are.
#[derive(Debug)]
pub enum StreamHead {
    /// Not a whole head yet: read more (below [`MAX_STREAM_HEAD_BYTES`]).
    Partial,
    /// A stream request: the request and the length of its head in the bytes.
    Stream(Box<Request<()>>, usize),
    /// Anything else: for the general server.
    Other,
}

/// True when `start`, the first bytes of a connection (at most [`STREAM_PEEK_BYTES`] are
/// needed), begins a `GET` of `/v1/topics/{topic}/events` or `/v1/jobs/{id}/events/stream`.
pub fn asks_for_stream(start: &[u8]) -> bool {
    let Some(rest) = start.strip_prefix(b"GET ") else {
        return false;
    };
    let end = rest.iter().position(|&b| b == b'?' || b == b' ');
    end.is_some_and(|end| is_stream_path(&rest[..end]))
}

/// True for `/v1/topics/{one segment}/events` and `/v1/jobs/{one segment}/events/stream`.
fn is_stream_path(path: &[u8]) -> bool {
    let segment = |s: &[u8]| !s.is_empty() && !s.contains(&b'/');
    let within = |prefix: &[u8], suffix: &[u8]| {
        path.strip_prefix(prefix)
            .and_then(|p| p.strip_suffix(suffix))
            .is_some_and(segment)
    };
    within(b"/v1/topics/", b"/events") || within(b"/v1/jobs/", b"/events/stream")
}

/// Parses `buf`, the bytes a connection sent first, allowing at most `max_headers` headers.
pub fn stream_head(buf: &[u8], max_headers: usize) -> StreamHead {
    let mut headers = vec![httparse::EMPTY_HEADER; max_headers];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() < MAX_STREAM_HEAD_BYTES => {
            return StreamHead::Partial
        }
        _ => return StreamHead::Other,
    };
    match request(&req) {
        Some(r) => StreamHead::Stream(Box::new(r), len),
        None => StreamHead::Other,
    }
}

/// The request of a parsed head when it is a stream request the lean connection takes.
fn request(req: &httparse::Request<'_, '_>) -> Option<Request<()>> {
    let path = req.path?;
    if req.method? != "GET" || req.version? != 1 || !asks_for_stream(&stream_line(path)) {
        return None;
    }
    let mut out = Request::builder()
        .method(Method::GET)
        .uri(path)
        .version(Version::HTTP_11)
        .body(())
        .ok()?;
    for h in req.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        let value = HeaderValue::from_bytes(h.value).ok()?;
        let bodyless = name != CONTENT_LENGTH || value.as_bytes() == b"0";
        if !bodyless || name == TRANSFER_ENCODING || name == UPGRADE || name == EXPECT {
            return None;
        }
        out.headers_mut().append(name, value);
    }
    Some(out)
}

/// `GET {path} ` as [`asks_for_stream`] reads it.
fn stream_line(path: &str) -> Vec<u8> {
    [b"GET ", path.as_bytes(), b" "].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_routes_are_recognised_from_the_first_bytes() {
        assert!(asks_for_stream(
            b"GET /v1/topics/t/events?token=x HTTP/1.1\r\n"
        ));
        assert!(asks_for_stream(b"GET /v1/topics/a.b-c/events HTTP/1.1"));
        assert!(asks_for_stream(b"GET /v1/jobs/job_1/events/stream?token=x"));
        for no in [
            &b"POST /v1/topics/t/events HTTP/1.1"[..],
            b"GET /v1/topics//events HTTP/1.1",
            b"GET /v1/topics/a/b/events HTTP/1.1",
            b"GET /v1/topics/t/events/x HTTP/1.1",
            b"GET /v1/jobs/j/events HTTP/1.1",
            b"GET /v1/topics/t/events",
            b"GET /healthz HTTP/1.1",
            b"get /v1/topics/t/events HTTP/1.1",
            b"",
        ] {
            assert!(!asks_for_stream(no), "{}", String::from_utf8_lossy(no));
        }
    }

    #[test]
    fn a_plain_get_of_a_stream_is_taken_with_its_headers() {
        let raw = b"GET /v1/topics/t/events?token=abc HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 4\r\n\r\nextra";
        let StreamHead::Stream(req, len) = stream_head(raw, 10) else {
            panic!("not taken");
        };
        assert_eq!(len, raw.len() - b"extra".len());
        assert_eq!(req.uri(), "/v1/topics/t/events?token=abc");
        assert_eq!(req.headers()["last-event-id"], "4");
        assert_eq!(req.headers()["host"], "x");
    }

    #[test]
    fn anything_else_is_left_to_the_general_server() {
        let other = |raw: &[u8]| matches!(stream_head(raw, 10), StreamHead::Other);
        assert!(other(b"GET /v1/topics/t/events HTTP/1.0\r\n\r\n"));
        assert!(other(
            b"GET /v1/topics/t/events HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"
        ));
        assert!(other(
            b"GET /v1/topics/t/events HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
        ));
        assert!(other(
            b"GET /v1/topics/t/events HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        ));
        assert!(other(
            b"GET /v1/topics/t/events HTTP/1.1\r\nExpect: 100-continue\r\n\r\n"
        ));
        assert!(other(b"POST /v1/topics/t/events HTTP/1.1\r\n\r\n"));
        assert!(other(b"GET /healthz HTTP/1.1\r\n\r\n"));
        assert!(!other(
            b"GET /v1/topics/t/events HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n"
        ));
        let many = format!(
            "GET /v1/topics/t/events HTTP/1.1\r\n{}\r\n",
            "A: 1\r\n".repeat(11)
        );
        assert!(other(many.as_bytes()));
        assert!(other(
            b"GET /v1/topics/t/events HTTP/1.1\r\nBad Name: 1\r\n\r\n"
        ));
        let ok0 = b"GET /v1/topics/t/events HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
        assert!(matches!(stream_head(ok0, 10), StreamHead::Stream(..)));
    }

    #[test]
    fn an_unfinished_head_asks_for_more_up_to_the_limit() {
        let start = b"GET /v1/topics/t/events HTTP/1.1\r\nHost: x\r\n";
        assert!(matches!(stream_head(start, 10), StreamHead::Partial));
        let mut long = start.to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_STREAM_HEAD_BYTES));
        assert!(matches!(stream_head(&long, 10), StreamHead::Other));
    }
}
