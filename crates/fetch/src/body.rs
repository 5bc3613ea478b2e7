//! Reading a response body under the size cap: early reject on `Content-Length`, abort past the cap while streaming.

use crate::error::FetchError;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;

/// Reads `resp`'s body, decompressed, refusing it once it passes `cap` bytes.
///
/// A declared `Content-Length` above the cap refuses it before any body byte is read. Bytes are
/// counted after decompression, so a small compressed bomb stops at the cap too.
pub(crate) async fn body_read(resp: reqwest::Response, cap: u64) -> Result<Bytes, FetchError> {
    if resp.content_length().is_some_and(|n| n > cap) {
        return Err(FetchError::TooLarge {
            limit: cap,
            declared: true,
        });
    }
    let mut buf = BytesMut::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| crate::client::error_map(&e))?;
        if (buf.len() + chunk.len()) as u64 > cap {
            return Err(FetchError::TooLarge {
                limit: cap,
                declared: false,
            });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}
