//! The one tokenizer for connection strings: `key=value` segments separated by `;`, with
//! `"..."`/`'...'` quoting (a doubled quote stands for itself). Parsing, redaction and in-place
//! edits all go through it, so a `;` inside quotes is never taken for a separator.

use std::ops::Range;

use super::{ConnectionStringError, ConnectionStringErrorKind};

/// One `key=value` segment as found in the input.
pub(super) struct Segment {
    /// The key, trimmed, as written.
    pub key: String,
    /// 1-based character position of the key.
    pub key_position: usize,
    /// The value, unquoted (or trimmed when not quoted).
    pub value: String,
    /// Byte range of the value as written: the quotes included, surrounding spaces excluded.
    pub value_range: Range<usize>,
}

/// Splits `s` into segments, honouring quotes. Positions are 1-based character positions;
/// ranges are byte offsets into `s`.
pub(super) fn segments(s: &str) -> Result<Vec<Segment>, ConnectionStringError> {
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let byte = |i: usize| chars.get(i).map_or(s.len(), |(b, _)| *b);
    let ch = |i: usize| chars[i].1;
    let mut out = Vec::new();
    let mut i = 0;
    let error = |key: Option<String>, position: usize, kind| ConnectionStringError {
        key,
        position,
        kind,
    };
    while i < chars.len() {
        // Key: up to '=' or ';'.
        let seg_start = i;
        while i < chars.len() && ch(i) != '=' && ch(i) != ';' {
            i += 1;
        }
        let raw_key = &s[byte(seg_start)..byte(i)];
        let key = raw_key.trim().to_string();
        let lead = raw_key.len() - raw_key.trim_start().len();
        let key_position = seg_start + raw_key[..lead].chars().count() + 1;
        if i >= chars.len() || ch(i) == ';' {
            if !key.is_empty() {
                return Err(error(
                    None,
                    key_position,
                    ConnectionStringErrorKind::MissingEquals(key),
                ));
            }
            i += 1; // empty segment
            continue;
        }
        if key.is_empty() {
            return Err(error(
                None,
                key_position,
                ConnectionStringErrorKind::EmptyKey,
            ));
        }
        i += 1; // '='
        while i < chars.len() && ch(i) != ';' && ch(i).is_whitespace() {
            i += 1;
        }
        let value_start = i;
        let (value, value_end) = if i < chars.len() && (ch(i) == '"' || ch(i) == '\'') {
            let quote = ch(i);
            i += 1;
            let mut value = String::new();
            loop {
                match chars.get(i).map(|(_, c)| *c) {
                    None => {
                        return Err(error(
                            Some(key),
                            key_position,
                            ConnectionStringErrorKind::UnterminatedQuote,
                        ));
                    }
                    Some(c) if c == quote => {
                        if chars.get(i + 1).map(|(_, c)| *c) == Some(quote) {
                            value.push(quote);
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(c) => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
            let value_end = i;
            while i < chars.len() && ch(i) != ';' {
                i += 1;
            }
            let rest = &s[byte(value_end)..byte(i)];
            if !rest.trim().is_empty() {
                return Err(error(
                    Some(key),
                    key_position,
                    ConnectionStringErrorKind::TextAfterQuote(rest.trim().to_string()),
                ));
            }
            (value, byte(value_end))
        } else {
            while i < chars.len() && ch(i) != ';' {
                i += 1;
            }
            let raw = &s[byte(value_start)..byte(i)];
            let value = raw.trim().to_string();
            (value, byte(value_start) + raw.trim_end().len())
        };
        i += 1; // ';' or end
        out.push(Segment {
            key,
            key_position,
            value,
            value_range: byte(value_start)..value_end,
        });
    }
    Ok(out)
}
