//! Properties of the DATA encoder, checked against an independent decoder
//! (smtp-proto's server-side `DataReceiver`, which removes dot-stuffing and finds
//! the end of data as a real server would).

use proptest::prelude::*;
use smtp_proto::request::receiver::DataReceiver;
use smtpcm_engine::smtp::DataEncoder;

/// Encodes `input` cut into the given pieces, as a writer receives it.
fn stuff(input: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut enc = DataEncoder::dot_stuffing();
    let mut out = Vec::new();
    let mut start = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    for c in cuts {
        enc.encode(&input[start..c], &mut out);
        start = c;
    }
    enc.encode(&input[start..], &mut out);
    enc.finish(&mut out);
    out
}

/// What a server stores: CR, LF and CRLF all mean one line break, and the last line ends in CRLF.
fn normalised(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'\r' if input.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 2;
                continue;
            }
            b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Runs the wire bytes through a server-side DATA receiver; `None` if it never saw the end.
///
/// smtp-proto's receiver starts as if in the middle of a line, so it is primed with
/// the CRLF that ends the `DATA` command line, which is then removed again.
fn unstuff(wire: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut receiver = DataReceiver::new();
    let mut out = Vec::new();
    let mut primed = b"\r\n".to_vec();
    primed.extend_from_slice(wire);
    let mut iter = primed.iter();
    if !receiver.ingest(&mut iter, &mut out) {
        return None;
    }
    let left_over = iter.len();
    out.drain(..2);
    Some((out, left_over))
}

/// Message text biased towards the bytes that matter: dots, CR and LF.
fn message() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            4 => Just(b'.'),
            3 => Just(b'\r'),
            3 => Just(b'\n'),
            4 => any::<u8>(),
        ],
        0..200,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Unstuffing what was stuffed gives back the (normalised) input, and the end
    /// marker is found exactly at the end, never earlier.
    #[test]
    fn unstuffing_gives_back_the_input(input in message(), cuts in proptest::collection::vec(any::<usize>(), 0..6)) {
        let wire = stuff(&input, &cuts);
        let Some((decoded, left_over)) = unstuff(&wire) else {
            return Err(TestCaseError::fail("receiver never saw the end of data"));
        };
        prop_assert_eq!(left_over, 0, "end of data seen before the end");
        prop_assert_eq!(decoded, normalised(&input));
    }

    /// No line of the output starts with a single dot, except the terminator itself.
    #[test]
    fn no_unstuffed_dot_line_survives(input in message()) {
        let wire = stuff(&input, &[]);
        let body = &wire[..wire.len() - 3];
        for line in body.split(|&b| b == b'\n') {
            prop_assert!(!line.starts_with(b".") || line.starts_with(b".."),
                "line {:?} starts with an unstuffed dot", String::from_utf8_lossy(line));
        }
    }

    /// The output always ends with the end-of-data marker, and has no bare CR or LF.
    #[test]
    fn output_ends_with_crlf_dot_crlf(input in message()) {
        let wire = stuff(&input, &[]);
        prop_assert!(wire.ends_with(b"\r\n.\r\n") || wire == b".\r\n");
        for (i, &b) in wire.iter().enumerate() {
            if b == b'\n' {
                prop_assert!(i > 0 && wire[i - 1] == b'\r', "bare LF at {}", i);
            }
            if b == b'\r' {
                prop_assert_eq!(wire.get(i + 1), Some(&b'\n'), "bare CR at {}", i);
            }
        }
    }

    /// However the input is cut into writes, the output is the same.
    #[test]
    fn cutting_the_input_does_not_change_the_output(input in message(), cuts in proptest::collection::vec(any::<usize>(), 1..8)) {
        prop_assert_eq!(stuff(&input, &cuts), stuff(&input, &[]));
    }
}

#[test]
fn empty_message_is_the_bare_terminator() {
    assert_eq!(stuff(b"", &[]), b".\r\n");
    assert_eq!(unstuff(b".\r\n").map(|(d, _)| d), Some(Vec::new()));
}
