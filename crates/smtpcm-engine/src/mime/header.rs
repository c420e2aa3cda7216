//! Header lines: RFC 5322 folding, RFC 2047 for non-ASCII text, RFC 2231 for file names.
//! Every value is checked for CR and LF first, so no input can add a header.

use std::fmt::Write as _;

use email_encoding::headers::writer::EmailWriter;
use email_encoding::headers::{rfc2047, rfc2231};

use super::MimeError;
use super::encoding::MAX_LINE_BYTES;
use crate::address::Mailbox;

/// Display names longer than this are RFC 2047 encoded, because a quoted string cannot be
/// folded and escaping may double its length; this keeps every line under 998 bytes.
const MAX_QUOTED_NAME: usize = 400;

/// Rejects a value that would end its header line early.
pub(crate) fn check_value(header: &str, value: &str) -> Result<(), MimeError> {
    if value.contains(['\r', '\n']) {
        return Err(MimeError::HeaderInjection {
            header: header.to_string(),
        });
    }
    Ok(())
}

/// A header block under construction, CRLF line endings throughout.
#[derive(Default)]
pub(crate) struct Headers {
    out: String,
}

// Writing into a String never fails, so the fmt::Result of email-encoding is dropped below.
impl Headers {
    pub(crate) fn into_string(self) -> String {
        self.out
    }

    /// A header whose value we generated and know to be short, ASCII and single-line.
    pub(crate) fn raw(&mut self, name: &str, value: &str) {
        let _ = write!(self.out, "{name}: {value}\r\n");
    }

    /// Free text (Subject, extra headers): folded at spaces, RFC 2047 when it is not plain
    /// printable ASCII, contains something that looks like an encoded word, or has a word
    /// too long to fit a line.
    pub(crate) fn unstructured(&mut self, name: &str, value: &str) -> Result<(), MimeError> {
        check_value(name, value)?;
        let printable = value
            .bytes()
            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b));
        let longest_word = value.split([' ', '\t']).map(str::len).max().unwrap_or(0);
        let encode = !printable
            || value.contains("=?")
            || name.len() + 2 + longest_word > MAX_LINE_BYTES - 78;
        self.out.push_str(name);
        self.out.push(':');
        let line_len = name.len() + 1;
        {
            let mut w = EmailWriter::new(&mut self.out, line_len, 0, false);
            w.space();
            let _ = if encode {
                rfc2047::encode(value, &mut w)
            } else {
                w.folding().write_str(value)
            };
        }
        self.out.push_str("\r\n");
        Ok(())
    }

    /// An address list (From, To, Cc, Reply-To), folded between and inside mailboxes.
    pub(crate) fn mailboxes(&mut self, name: &str, list: &[Mailbox]) -> Result<(), MimeError> {
        for m in list {
            check_value(name, &m.address)?;
            check_value(name, m.name.as_deref().unwrap_or(""))?;
        }
        self.out.push_str(name);
        self.out.push(':');
        let line_len = name.len() + 1;
        {
            let mut w = EmailWriter::new(&mut self.out, line_len, 0, false);
            for (i, m) in list.iter().enumerate() {
                if i > 0 {
                    let _ = w.write_char(',');
                }
                w.space();
                match m.name.as_deref().filter(|n| !n.is_empty()) {
                    Some(display) => {
                        let printable = display.bytes().all(|b| (b' '..=b'~').contains(&b));
                        if printable && display.len() <= MAX_QUOTED_NAME {
                            // Folding at spaces is allowed inside a quoted string too.
                            let _ = w.folding().write_str(&phrase(display));
                        } else {
                            let _ = rfc2047::encode(display, &mut w);
                        }
                        w.space();
                        let _ = w.folding().write_str(&format!("<{}>", m.address));
                    }
                    None => {
                        let _ = w.folding().write_str(&m.address);
                    }
                }
            }
        }
        self.out.push_str("\r\n");
        Ok(())
    }

    /// `Content-Type: <type>; name="<file>"`, with the name RFC 2047 encoded when not ASCII,
    /// as Outlook and .NET expect.
    pub(crate) fn content_type_with_name(&mut self, content_type: &str, file_name: &str) {
        self.out.push_str("Content-Type: ");
        self.out.push_str(content_type);
        self.out.push(';');
        let line_len = "Content-Type: ".len() + content_type.len() + 1;
        {
            let mut w = EmailWriter::new(&mut self.out, line_len, 0, true);
            w.space();
            let _ = quoted_string_param(&mut w, "name", file_name);
        }
        self.out.push_str("\r\n");
    }

    /// `Content-Disposition: attachment; filename=...` with RFC 2231 for non-ASCII names.
    pub(crate) fn content_disposition_attachment(&mut self, file_name: &str) {
        self.out.push_str("Content-Disposition: attachment;");
        let line_len = self.out.len() - self.out.rfind('\n').map_or(0, |i| i + 1);
        {
            let mut w = EmailWriter::new(&mut self.out, line_len, 0, true);
            w.space();
            let _ = rfc2231::encode("filename", file_name, &mut w);
        }
        self.out.push_str("\r\n");
    }

    /// Ends the header block.
    pub(crate) fn finish(mut self) -> String {
        self.out.push_str("\r\n");
        self.out
    }
}

/// A display name as RFC 5322 atoms when possible, else as a quoted string.
fn phrase(name: &str) -> String {
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~ ".contains(c);
    if name.chars().all(atext) && name.trim() == name {
        return name.to_string();
    }
    let mut quoted = String::with_capacity(name.len() + 2);
    quoted.push('"');
    for c in name.chars() {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// `key="value"` where value is a quoted string, or RFC 2047 encoded words in quotes.
fn quoted_string_param(w: &mut EmailWriter<'_>, key: &str, value: &str) -> std::fmt::Result {
    w.write_str(key)?;
    w.write_str("=\"")?;
    if value.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        for c in value.chars() {
            if c == '"' || c == '\\' {
                w.write_char('\\')?;
            }
            w.write_char(c)?;
        }
    } else {
        rfc2047::encode(value, w)?;
    }
    w.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unstructured(value: &str) -> String {
        let mut h = Headers::default();
        h.unstructured("Subject", value).unwrap();
        h.into_string()
    }

    #[test]
    fn plain_subject_is_kept() {
        assert_eq!(unstructured("Hello world"), "Subject: Hello world\r\n");
    }

    #[test]
    fn non_ascii_subject_is_encoded() {
        let s = unstructured("Grüße");
        assert!(s.starts_with("Subject: =?utf-8?b?"), "{s}");
        assert!(s.is_ascii());
    }

    #[test]
    fn injection_is_refused() {
        let mut h = Headers::default();
        let e = h.unstructured("Subject", "x\r\nBcc: a@b").unwrap_err();
        assert_eq!(
            e.to_string(),
            "header \"Subject\" contains a line break (CR or LF)"
        );
    }

    #[test]
    fn long_lists_fold() {
        let list: Vec<Mailbox> = (0..20)
            .map(|i| Mailbox {
                name: Some(format!("Person, Number {i}")),
                address: format!("person{i}@example.com"),
            })
            .collect();
        let mut h = Headers::default();
        h.mailboxes("To", &list).unwrap();
        let s = h.into_string();
        assert!(s.split("\r\n").all(|l| l.len() <= 78), "{s}");
        assert!(
            s.contains("\"Person, Number 7\" <person7@example.com>"),
            "{s}"
        );
    }
}
