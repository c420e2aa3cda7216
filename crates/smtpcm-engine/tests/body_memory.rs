//! A body file is streamed like an attachment (issue 9.12): preparing and writing a 100 MiB
//! body must not grow the process's peak resident memory by more than a few chunk buffers
//! (reading it whole took over four times its size). This is a bound, not a timing.
//! It lives alone in this test binary so that no other test moves the peak.

use smtpcm_engine::address::Mailbox;
use smtpcm_engine::mime::{BodyFile, Message};

#[path = "support/memory.rs"]
mod memory;
use memory::{peak_rss_kib, sparse_file, write_counted};

#[test]
fn a_100_mib_body_file_streams_in_bounded_memory() {
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("skipped: /proc/self/status not available on this platform");
        return;
    }
    const SIZE: u64 = 100 * 1024 * 1024;
    const ALLOWED_GROWTH_KIB: u64 = 16 * 1024;

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("body.txt");
    // Sparse: reads return NULs (valid UTF-8). An LF and a marker at the end prove the
    // tail is read and its line ending normalised.
    sparse_file(&path, SIZE, b"\n!");

    let before = peak_rss_kib();
    let message = Message {
        from: Some(Mailbox::new("etl@example.com")),
        to: vec![Mailbox::new("ops@example.com")],
        subject: "big body".into(),
        body_file: Some(BodyFile::text(&path)),
        ..Default::default()
    };
    let prepared = message.prepare().expect("prepare");
    let (written, sink) = write_counted(&prepared);
    let after = peak_rss_kib();

    assert_eq!(written, prepared.size());
    assert_eq!(sink.bytes, prepared.size());
    // The LF became CRLF: SIZE + 1 bytes, whose last base64 group encodes "\n!".
    let tail = String::from_utf8_lossy(&sink.tail);
    assert!(tail.ends_with("CiE=\r\n"), "tail: {tail:?}");
    assert!(
        after.saturating_sub(before) < ALLOWED_GROWTH_KIB,
        "peak RSS grew by {} KiB (from {before} to {after}) while streaming a {SIZE}-byte body",
        after.saturating_sub(before)
    );
}
