//! Byte counting for progress reports while a message streams out.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;

/// Wraps a writer and reports every chunk accepted by it, so a caller can draw a
/// progress bar without the message writer knowing about terminals.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use tokio::io::AsyncWriteExt;
/// use smtpcm_engine::progress::ProgressWriter;
/// let mut total = 0u64;
/// let mut sink = Vec::new();
/// let mut w = ProgressWriter::new(&mut sink, |n| total += n);
/// w.write_all(b"hello").await.unwrap();
/// drop(w);
/// assert_eq!(total, 5);
/// # });
/// ```
pub struct ProgressWriter<W, F> {
    inner: W,
    on_progress: F,
}

impl<W, F: FnMut(u64)> ProgressWriter<W, F> {
    /// Report through `on_progress` the size of each successful write to `inner`.
    pub fn new(inner: W, on_progress: F) -> Self {
        ProgressWriter { inner, on_progress }
    }

    /// The wrapped writer.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: AsyncWrite + Unpin, F: FnMut(u64) + Unpin> AsyncWrite for ProgressWriter<W, F> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &polled {
            (this.on_progress)(*n as u64);
        }
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
