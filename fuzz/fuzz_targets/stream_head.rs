//! Fuzzes the lean stream connection's head parser (the first bytes of a raw connection):
//! never panics, asks for more only below the head limit, and takes only a `GET` of a stream
//! route whose head fits in the bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use palisade_realtime::{asks_for_stream, stream_head, StreamHead, MAX_STREAM_HEAD_BYTES};

fuzz_target!(|data: &[u8]| {
    let _ = asks_for_stream(data);
    match stream_head(data, 101) {
        StreamHead::Partial => assert!(data.len() < MAX_STREAM_HEAD_BYTES),
        StreamHead::Stream(req, len) => {
            assert!(len <= data.len());
            assert_eq!(req.method(), http::Method::GET);
            let line = format!("GET {} ", req.uri());
            assert!(asks_for_stream(line.as_bytes()));
        }
        StreamHead::Other => {}
    }
});
