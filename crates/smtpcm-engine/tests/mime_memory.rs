//! Attachments are streamed: writing a 200 MiB attachment must not grow the process's peak
//! resident memory by more than a few chunk buffers. This is a bound, not a timing.
//! It lives alone in this test binary so that no other test moves the peak.

use smtpcm_engine::address::Mailbox;
use smtpcm_engine::mime::{Attachment, Message};

#[path = "support/memory.rs"]
mod memory;
use memory::{peak_rss_kib, sparse_file, write_counted};

#[test]
fn a_200_mib_attachment_streams_in_bounded_memory() {
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("skipped: /proc/self/status not available on this platform");
        return;
    }
    const SIZE: u64 = 200 * 1024 * 1024;
    const ALLOWED_GROWTH_KIB: u64 = 16 * 1024;

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.bin");
    // Sparse; the marker at the end proves the tail is read.
    sparse_file(&path, SIZE, b"!");

    let message = Message {
        from: Some(Mailbox::new("etl@example.com")),
        to: vec![Mailbox::new("ops@example.com")],
        subject: "big".into(),
        attachments: vec![Attachment::new(&path)],
        ..Default::default()
    };
    let prepared = message.prepare().expect("prepare");
    assert_eq!(prepared.attachment_bytes(), SIZE);

    let before = peak_rss_kib();
    let (written, sink) = write_counted(&prepared);
    let after = peak_rss_kib();

    assert_eq!(written, prepared.size());
    assert_eq!(sink.bytes, prepared.size());
    // SIZE % 3 == 2, so the last base64 group encodes the bytes [0, b'!'].
    let tail = String::from_utf8_lossy(&sink.tail);
    // The base64 ends with its own CRLF, then the delimiter's CRLF (RFC 2046 §5.1.1).
    assert!(
        tail.contains("ACE=\r\n\r\n--"),
        "tail of the message: {tail:?}"
    );
    assert!(
        after.saturating_sub(before) < ALLOWED_GROWTH_KIB,
        "peak RSS grew by {} KiB (from {before} to {after}) while streaming {SIZE} bytes",
        after.saturating_sub(before)
    );
}
