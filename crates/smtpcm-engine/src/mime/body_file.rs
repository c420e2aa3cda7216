//! A message body read from a file, streamed like an attachment when it is large.
//!
//! A small body (at most [`INLINE_BODY_MAX`] bytes) is read whole and encoded as a text body
//! given in memory would be (7bit, quoted-printable or base64, whichever suits). A larger
//! regular file is never held in memory: [`prepare`] scans it once in fixed-size chunks to
//! check it is UTF-8 and to count its length with line endings normalised to CRLF (so the
//! message size is known before sending, as SMTP `SIZE` and `BDAT` need), and the writer
//! reads it again, normalising and base64-encoding chunk by chunk. A body that is not a
//! regular file (a pipe, `/dev/stdin`, a device) has no size to plan with, so it is read
//! whole, up to [`MAX_UNSIZED_BODY`] bytes: `/dev/zero` is an error, not an endless read.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::MimeError;
use super::encoding::{BASE64_LINE_BYTES, encode_base64_lines};
use super::parts::fill;

/// The largest body file read whole and encoded as in-memory text; larger regular files
/// are streamed as base64.
pub const INLINE_BODY_MAX: u64 = 1024 * 1024;

/// The largest body read from something that is not a regular file (a pipe or a device),
/// which has to be read whole: 8 MiB.
pub const MAX_UNSIZED_BODY: u64 = 8 * 1024 * 1024;

/// Raw bytes read per step, when scanning and when streaming.
const CHUNK: usize = BASE64_LINE_BYTES * 1024;

/// The body of a message, read from a file (UTF-8 text, any line endings).
///
/// ```
/// use smtpcm_engine::address::Mailbox;
/// use smtpcm_engine::mime::{BodyFile, Message};
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("body.txt");
/// std::fs::write(&path, "Loaded.\n").unwrap();
/// let message = Message {
///     from: Some(Mailbox::new("etl@example.com")),
///     to: vec![Mailbox::new("ops@example.com")],
///     body_file: Some(BodyFile::text(&path)),
///     ..Default::default()
/// };
/// assert!(message.prepare().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyFile {
    /// The file.
    pub path: PathBuf,
    /// Send it as `text/html` rather than `text/plain`.
    pub html: bool,
}

impl BodyFile {
    /// A plain-text body from `path`.
    pub fn text(path: impl Into<PathBuf>) -> Self {
        BodyFile {
            path: path.into(),
            html: false,
        }
    }

    /// An HTML body from `path`.
    pub fn html(path: impl Into<PathBuf>) -> Self {
        BodyFile {
            path: path.into(),
            html: true,
        }
    }
}

/// What [`prepare`] found.
pub(crate) enum PreparedBody {
    /// Small enough to encode in memory.
    Inline(String),
    /// Streamed as base64 at write time.
    Streamed {
        /// The file's length as seen by the scan.
        raw_len: u64,
        /// Its length with every line ending as CRLF: the length that gets base64-encoded.
        normalized_len: u64,
    },
}

fn error(path: &Path, reason: impl Into<String>) -> MimeError {
    MimeError::BodyFile {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Check the body file and decide how it is sent.
pub(crate) fn prepare(body: &BodyFile) -> Result<PreparedBody, MimeError> {
    let path = body.path.as_path();
    let io = |e: std::io::Error| error(path, e.to_string());
    let mut file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if meta.is_dir() {
        return Err(error(path, "is a directory"));
    }
    if !meta.is_file() || meta.len() <= INLINE_BODY_MAX {
        let cap = if meta.is_file() {
            INLINE_BODY_MAX
        } else {
            MAX_UNSIZED_BODY
        };
        let mut bytes = Vec::new();
        (&mut file)
            .take(cap + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > cap {
            // Only a non-regular file can get here (a regular one was measured).
            return Err(error(
                path,
                format!(
                    "more than {MAX_UNSIZED_BODY} bytes from a pipe or device; a body larger \
                     than that must be a regular file, which is streamed"
                ),
            ));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            error(
                path,
                format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
            )
        })?;
        return Ok(PreparedBody::Inline(text));
    }
    let (raw_len, normalized_len) = scan(&mut file, path)?;
    Ok(PreparedBody::Streamed {
        raw_len,
        normalized_len,
    })
}

/// One pass over the file: UTF-8 check and CRLF-normalised length.
fn scan(file: &mut std::fs::File, path: &Path) -> Result<(u64, u64), MimeError> {
    let mut buf = vec![0u8; CHUNK];
    let mut carry: Vec<u8> = Vec::new();
    let mut normalizer = Normalizer::default();
    let (mut raw, mut normalized) = (0u64, 0u64);
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| error(path, e.to_string()))?;
        if n == 0 {
            break;
        }
        normalized += normalizer.count(&buf[..n]);
        // UTF-8 across chunk boundaries: an incomplete sequence at the end waits for the next.
        let mut joined = std::mem::take(&mut carry);
        joined.extend_from_slice(&buf[..n]);
        if let Err(e) = std::str::from_utf8(&joined) {
            if e.error_len().is_some() {
                return Err(error(
                    path,
                    format!(
                        "not UTF-8 text (byte {})",
                        raw + e.valid_up_to() as u64 - (joined.len() - n) as u64
                    ),
                ));
            }
            carry = joined[e.valid_up_to()..].to_vec();
        }
        raw += n as u64;
    }
    if !carry.is_empty() {
        return Err(error(path, "not UTF-8 text (it ends inside a character)"));
    }
    Ok((raw, normalized))
}

/// Rewrites line endings as CRLF (`\r\n`, lone `\r`, lone `\n`), byte by byte across
/// chunks, exactly as [`super::encoding::normalize_crlf`] does for a whole string.
#[derive(Default)]
struct Normalizer {
    after_cr: bool,
}

impl Normalizer {
    /// Feeds `input` through CRLF normalisation, handing each output piece to `emit`
    /// (a lone CR or LF becomes CRLF; the LF of a CRLF split across calls is dropped).
    fn each(&mut self, input: &[u8], mut emit: impl FnMut(&[u8])) {
        for b in input {
            if std::mem::take(&mut self.after_cr) && *b == b'\n' {
                continue;
            }
            match b {
                b'\r' => {
                    self.after_cr = true;
                    emit(b"\r\n");
                }
                b'\n' => emit(b"\r\n"),
                _ => emit(std::slice::from_ref(b)),
            }
        }
    }

    fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.each(input, |piece| out.extend_from_slice(piece));
    }

    fn count(&mut self, input: &[u8]) -> u64 {
        let mut n = 0u64;
        self.each(input, |piece| n += piece.len() as u64);
        n
    }
}

/// Streams a body file as base64 of its CRLF-normalised text; fails if the file is not
/// what [`prepare`] saw.
pub(crate) async fn stream<W: AsyncWrite + Unpin + ?Sized>(
    path: &Path,
    raw_len: u64,
    normalized_len: u64,
    w: &mut W,
) -> Result<u64, MimeError> {
    let changed = || {
        error(
            path,
            "changed after the message was prepared; not sending a message of the wrong size",
        )
    };
    let io = |e: std::io::Error| error(path, e.to_string());
    let mut file = tokio::fs::File::open(path).await.map_err(io)?;
    if file.metadata().await.map_err(io)?.len() != raw_len {
        return Err(changed());
    }
    let mut raw = vec![0u8; CHUNK];
    // Normalising at most doubles the bytes; whole base64 lines are encoded as they fill.
    let mut pending: Vec<u8> = Vec::with_capacity(2 * CHUNK + BASE64_LINE_BYTES);
    let mut encoded: Vec<u8> = Vec::with_capacity(3 * CHUNK);
    let mut normalizer = Normalizer::default();
    let (mut read, mut encoded_raw, mut written) = (0u64, 0u64, 0u64);
    loop {
        let n = fill(&mut file, &mut raw).await.map_err(io)?;
        read += n as u64;
        if read > raw_len {
            return Err(changed());
        }
        normalizer.push(&raw[..n], &mut pending);
        let last = n < raw.len();
        let whole = if last {
            pending.len()
        } else {
            pending.len() / BASE64_LINE_BYTES * BASE64_LINE_BYTES
        };
        if whole > 0 {
            encoded.clear();
            encode_base64_lines(&pending[..whole], &mut encoded);
            w.write_all(&encoded).await?;
            written += encoded.len() as u64;
            encoded_raw += whole as u64;
            pending.drain(..whole);
        }
        if last {
            break;
        }
    }
    if read != raw_len || encoded_raw != normalized_len {
        return Err(changed());
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizer_matches_the_whole_string_version_across_any_split() {
        let text = "a\r\nb\nc\rd\r\r\n\n\re\r";
        let whole = super::super::encoding::normalize_crlf(text);
        for split in 0..=text.len() {
            let (x, y) = text.as_bytes().split_at(split);
            let mut n = Normalizer::default();
            let mut out = Vec::new();
            n.push(x, &mut out);
            n.push(y, &mut out);
            assert_eq!(out, whole.as_bytes(), "split at {split}");
            let mut c = Normalizer::default();
            assert_eq!(c.count(x) + c.count(y), whole.len() as u64);
        }
    }
}
