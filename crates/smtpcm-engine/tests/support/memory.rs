//! Shared by the bounded-memory tests: the process's peak RSS, and a writer that
//! discards bytes while counting them and keeping the tail.

use std::io::Write as _;
use std::path::Path;

use smtpcm_engine::mime::PreparedMessage;
use tokio::io::AsyncWrite;

/// A sparse file of `size` bytes (no disk used; reads return NULs) ending in `tail`, so a
/// test can prove the end of the file was read.
pub fn sparse_file(path: &Path, size: u64, tail: &[u8]) {
    let file = std::fs::File::create(path).expect("create");
    file.set_len(size - tail.len() as u64).expect("set_len");
    drop(file);
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(tail))
        .expect("marker");
}

/// Writes `prepared` into a [`CountingSink`] on a current-thread runtime (at most 300 s)
/// and returns the bytes written and the sink.
pub fn write_counted(prepared: &PreparedMessage) -> (u64, CountingSink) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut sink = CountingSink::default();
    let written = runtime
        .block_on(async {
            tokio::time::timeout(
                std::time::Duration::from_secs(300),
                prepared.write_to(&mut sink),
            )
            .await
        })
        .expect("finished within the time limit")
        .expect("write_to");
    (written, sink)
}

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
