//! The SMTP reply decoder never panics on any bytes, and it does not matter how the
//! bytes arrive: fed whole or in arbitrary pieces, it yields the same replies and the
//! same error.
//!
//! Input layout: the first byte seeds the piece sizes, the rest is the server's bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtpcm_engine::smtp::reply::{Reply, ReplyDecoder};

/// What the decoder produced, up to and including its first error (the decoder drops its
/// buffer on an error, so anything after it depends on how much had arrived).
fn decode(pieces: &[&[u8]]) -> (Vec<Reply>, Option<String>) {
    let mut decoder = ReplyDecoder::default();
    let mut replies = Vec::new();
    for piece in pieces {
        decoder.push(piece);
        loop {
            match decoder.next_reply() {
                Ok(Some(reply)) => replies.push(reply),
                Ok(None) => break,
                Err(e) => return (replies, Some(e.to_string())),
            }
        }
    }
    (replies, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, bytes)) = data.split_first() else {
        return;
    };
    let whole = decode(&[bytes]);

    // Piece sizes cycle through 1..=8 starting from the seed, so single-byte feeds and
    // splits inside CRLF, the code and the separator all occur.
    let mut pieces = Vec::new();
    let mut rest = bytes;
    let mut size = usize::from(seed % 8) + 1;
    while !rest.is_empty() {
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        pieces.push(piece);
        rest = tail;
        size = size % 8 + 1;
    }
    let split = decode(&pieces);

    assert_eq!(
        whole,
        split,
        "fed whole vs in pieces of sizes starting at {}",
        seed % 8 + 1
    );
});
