//! Shared by the bounded-memory tests: the process's peak RSS, and a writer that
//! discards bytes while counting them and keeping the tail.

use tokio::io::AsyncWrite;

/// Peak resident set size (VmHWM) in KiB.
pub fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM line")
}

/// Discards bytes but counts them and keeps the tail, so the test can check the end.
#[derive(Default)]
pub struct CountingSink {
    pub bytes: u64,
    pub tail: Vec<u8>,
}

impl AsyncWrite for CountingSink {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.bytes += buf.len() as u64;
        self.tail
            .extend_from_slice(&buf[buf.len().saturating_sub(256)..]);
        let excess = self.tail.len().saturating_sub(256);
        self.tail.drain(..excess);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}
