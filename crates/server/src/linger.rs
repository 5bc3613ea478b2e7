//! Lingering close: after the last answer, half-close and discard what the client still sends.
//!
//! A server that closes a socket with unread bytes in it makes the kernel send a reset, which
//! also destroys the answer the client has not read yet. So a client that writes its whole
//! oversized body before reading (most do) got a broken pipe instead of the early 413. Like
//! nginx's `lingering_close`, the connection sends its FIN, then reads and discards for at most
//! [`LINGER`] until the client closes too.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// How long a closing connection keeps discarding what the client still sends.
pub const LINGER: Duration = Duration::from_secs(2);

/// A stream whose shutdown lingers (see the module docs).
pub struct Lingering<S> {
    inner: S,
    until: Option<Pin<Box<Sleep>>>,
}

impl<S> Lingering<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner, until: None }
    }
}

impl<S: AsyncRead + Unpin> Lingering<S> {
    /// Discards input until the client closes, an error, or the deadline.
    fn poll_discard(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(until) = self.until.as_mut() else {
            return Poll::Ready(());
        };
        let mut scratch = [0u8; 8192];
        loop {
            if until.as_mut().poll(cx).is_ready() || Instant::now() >= until.deadline() {
                return Poll::Ready(());
            }
            let mut buf = ReadBuf::new(&mut scratch);
            match ready!(Pin::new(&mut self.inner).poll_read(cx, &mut buf)) {
                Ok(()) if !buf.filled().is_empty() => continue,
                _ => return Poll::Ready(()),
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Lingering<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Lingering<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.until.is_none() {
            ready!(Pin::new(&mut self.inner).poll_shutdown(cx))?;
            self.until = Some(Box::pin(tokio::time::sleep(LINGER)));
        }
        self.poll_discard(cx).map(Ok)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
