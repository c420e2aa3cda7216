//! Where each editable value lives in the original file, and how an edit is spliced back.
//!
//! Saving works on the original bytes rather than on a re-serialised tree: every value the
//! object model can change remembers the byte range it was read from, and a save replaces only
//! the ranges whose value really changed. Everything else (BOM, CRLF, attribute order, the
//! designer's `&#xA;` escapes, CDATA layout blocks) is copied through untouched, which is what
//! makes an unchanged package save byte-identical without a serialiser that would have to
//! reproduce every quirk of every SSIS version.

use std::ops::Range;

// The model holds these (every loaded object remembers its slots); they live in `package` so
// that the model never depends on the loader. Splicing them back is the loader's business.
pub(crate) use crate::package::origin::{Origin, Slot, Tracked};

/// A pending replacement of `range` in the original bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Splice {
    pub range: Range<usize>,
    pub text: String,
}

/// Why a change cannot be written back into the original bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unwritable;

impl Tracked {
    /// The splice that writes `value`, or `None` when the value did not change.
    pub fn splice_for(&self, value: &str) -> Result<Option<Splice>, Unwritable> {
        if value == self.original {
            return Ok(None);
        }
        let splice = match &self.slot {
            Slot::Attr(range) => Splice {
                range: range.clone(),
                text: escape_attr(value),
            },
            Slot::Text(range) => Splice {
                range: range.clone(),
                text: escape_text(value),
            },
            Slot::SelfClosing { close, qname } => Splice {
                range: close.clone(),
                text: format!(">{}</{qname}>", escape_text(value)),
            },
            Slot::MissingAttr {
                insert_at,
                separator,
                qname,
            } => Splice {
                range: *insert_at..*insert_at,
                text: format!("{separator}{qname}=\"{}\"", escape_attr(value)),
            },
            Slot::Absent => return Err(Unwritable),
        };
        Ok(Some(splice))
    }
}

/// Escapes an attribute value the way the SSIS designer does: line breaks and tabs become
/// character references so that XML attribute normalisation cannot eat them.
pub(crate) fn escape_attr(value: &str) -> String {
    escape(value, true)
}

/// Escapes element text; a CR is written as a reference because parsers turn a raw CR into LF.
pub(crate) fn escape_text(value: &str) -> String {
    escape(value, false)
}

fn escape(value: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            '"' if attribute => out.push_str("&quot;"),
            '\n' if attribute => out.push_str("&#xA;"),
            '\t' if attribute => out.push_str("&#x9;"),
            _ => out.push(c),
        }
    }
    out
}

/// Applies non-overlapping splices to `original`; splices are sorted here.
pub(crate) fn apply(original: &[u8], mut splices: Vec<Splice>) -> Vec<u8> {
    splices.sort_by_key(|s| (s.range.start, s.range.end));
    let extra: usize = splices.iter().map(|s| s.text.len()).sum();
    let mut out = Vec::with_capacity(original.len() + extra);
    let mut at = 0;
    for s in splices {
        // Overlap would only come from two model fields claiming one slot; keep the first.
        if s.range.start < at {
            continue;
        }
        out.extend_from_slice(&original[at..s.range.start]);
        out.extend_from_slice(s.text.as_bytes());
        at = s.range.end;
    }
    out.extend_from_slice(&original[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_escape_matches_designer_style() {
        assert_eq!(escape_attr("a\nb\"<&"), "a&#xA;b&quot;&lt;&amp;");
    }

    #[test]
    fn splices_apply_in_order() {
        let src = b"0123456789";
        let out = apply(
            src,
            vec![
                Splice {
                    range: 5..6,
                    text: "five".into(),
                },
                Splice {
                    range: 1..1,
                    text: "+".into(),
                },
            ],
        );
        assert_eq!(out, b"0+1234five6789");
    }

    #[test]
    fn unchanged_value_needs_no_splice() {
        let t = Tracked {
            slot: Slot::Attr(0..1),
            original: "x".into(),
        };
        assert_eq!(t.splice_for("x"), Ok(None));
        assert!(t.splice_for("y").unwrap().is_some());
    }
}
