//! E-mail addresses and the SSIS To/Cc/Bcc lists, with System.Net.Mail `MailAddress` semantics.
//!
//! A list item is `addr@example.com`, `Name <addr@example.com>`, `"Doe, John" <addr@example.com>`
//! or `<addr@example.com>`. Items are separated by `;` (SSIS) or `,` (RFC 5322) outside quotes
//! and angle brackets; empty items are skipped. The addr-spec is validated with the
//! `email_address` crate, which accepts UTF-8 local parts and internationalised domains; such
//! addresses need the SMTPUTF8 extension ([`Mailbox::needs_smtputf8`]).
//!
//! A CR or LF anywhere is an error: these strings end up in headers and SMTP commands.

use std::fmt;

use email_address::{EmailAddress, Options};

/// One address with an optional display name.
///
/// ```
/// use smtpcm_engine::address::Mailbox;
/// let m = Mailbox::parse(r#""Doe, John" <john@example.com>"#).unwrap();
/// assert_eq!(m.name.as_deref(), Some("Doe, John"));
/// assert_eq!(m.address, "john@example.com");
/// assert_eq!(m.to_string(), r#""Doe, John" <john@example.com>"#);
/// assert_eq!(Mailbox::parse("a@b.c").unwrap().to_string(), "a@b.c");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mailbox {
    /// Display name, unquoted and unencoded (MIME encodes it when writing headers).
    pub name: Option<String>,
    /// The addr-spec, `local@domain`.
    pub address: String,
}

/// Why an address was rejected, with the entry and where it was.
///
/// ```
/// use smtpcm_engine::address::parse_list;
/// let err = parse_list("alice@example.com; bob@").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     r#"recipient 2 "bob@" is not a valid e-mail address: missing domain"#
/// );
/// assert_eq!(err.position, 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{entry:?} is not a valid e-mail address: {reason}", index_prefix(*index))]
pub struct AddressError {
    /// 1-based index of the entry in its list (empty entries not counted); `None` for a
    /// single address.
    pub index: Option<usize>,
    /// 1-based character position of the entry in the parsed text.
    pub position: usize,
    /// The entry as written (trimmed).
    pub entry: String,
    /// What is wrong with it.
    pub reason: AddressErrorReason,
}

fn index_prefix(index: Option<usize>) -> String {
    index.map(|i| format!("recipient {i} ")).unwrap_or_default()
}

/// What is wrong in an [`AddressError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressErrorReason {
    /// A CR or LF, which could inject headers or SMTP commands.
    #[error("contains a line break (CR or LF)")]
    LineBreak,
    /// No `@`.
    #[error("missing \"@\" (display names containing \",\" or \";\" must be quoted)")]
    MissingAt,
    /// Nothing before the `@`.
    #[error("missing local part before \"@\"")]
    MissingLocalPart,
    /// Nothing after the `@`.
    #[error("missing domain")]
    MissingDomain,
    /// `<` without `>`.
    #[error("\"<\" without a closing \">\"")]
    MissingEndBracket,
    /// Text after `<addr>`.
    #[error("unexpected text after \">\"")]
    TextAfterBracket,
    /// Unbalanced or misplaced `"`.
    #[error("unbalanced quotes")]
    UnbalancedQuotes,
    /// The entry is empty (`<>` or a blank single address).
    #[error("empty address")]
    Empty,
    /// Any other addr-spec rule, as reported by the validator.
    #[error("{0}")]
    Invalid(String),
}

impl Mailbox {
    /// A mailbox without display name; the address is not validated.
    pub fn new(address: impl Into<String>) -> Self {
        Mailbox {
            name: None,
            address: address.into(),
        }
    }

    /// Parses one address in any of the accepted forms.
    pub fn parse(s: &str) -> Result<Mailbox, AddressError> {
        let lead = s.len() - s.trim_start().len();
        let position = s[..lead].chars().count() + 1;
        let checked = if s.contains(['\r', '\n']) {
            Err(AddressErrorReason::LineBreak)
        } else {
            parse_mailbox(s.trim())
        };
        checked.map_err(|reason| AddressError {
            index: None,
            position,
            entry: s.trim().to_string(),
            reason,
        })
    }

    /// Whether both display name and address are ASCII. The address alone decides whether
    /// SMTPUTF8 is needed ([`needs_smtputf8`](Self::needs_smtputf8)); a non-ASCII name is
    /// RFC 2047 encoded in headers.
    pub fn is_ascii(&self) -> bool {
        self.address.is_ascii() && self.name.as_deref().is_none_or(str::is_ascii)
    }

    /// Whether the address has a UTF-8 local part or domain, so that the SMTP client must
    /// request SMTPUTF8 (RFC 6531) to send to or from it.
    ///
    /// ```
    /// use smtpcm_engine::address::Mailbox;
    /// assert!(Mailbox::parse("josé@example.com").unwrap().needs_smtputf8());
    /// assert!(!Mailbox::parse("José <jose@example.com>").unwrap().needs_smtputf8());
    /// ```
    pub fn needs_smtputf8(&self) -> bool {
        !self.address.is_ascii()
    }

    /// The part after the last `@`.
    pub fn domain(&self) -> &str {
        self.address
            .rsplit_once('@')
            .map_or("", |(_, domain)| domain)
    }
}

/// Whether a display name can be written as RFC 5322 atoms without quotes.
fn name_needs_quotes(name: &str) -> bool {
    name.trim() != name
        || name.is_empty()
        || name
            .chars()
            .any(|c| c.is_ascii_control() || "()<>[]:;@\\,.\"".contains(c))
}

impl fmt::Display for Mailbox {
    /// `"Doe, John" <john@x.com>`, `John <john@x.com>` or `john@x.com`; not MIME encoded.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            None => f.write_str(&self.address),
            Some(name) if name_needs_quotes(name) => {
                f.write_str("\"")?;
                for c in name.chars() {
                    if c == '"' || c == '\\' {
                        f.write_str("\\")?;
                    }
                    write!(f, "{c}")?;
                }
                write!(f, "\" <{}>", self.address)
            }
            Some(name) => write!(f, "{name} <{}>", self.address),
        }
    }
}

impl std::str::FromStr for Mailbox {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mailbox::parse(s)
    }
}

/// Index of the `<` that opens the final `<...>` of `s`, ignoring quoted text;
/// an error when a quoted string is not closed.
fn find_open_bracket(s: &str) -> Result<Option<usize>, AddressErrorReason> {
    let mut in_quotes = false;
    let mut escaped = false;
    let mut open = None;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '<' if !in_quotes => open = Some(i),
            _ => {}
        }
    }
    if in_quotes {
        return Err(AddressErrorReason::UnbalancedQuotes);
    }
    Ok(open)
}

fn unquote_name(raw: &str) -> Result<Option<String>, AddressErrorReason> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let Some(inner) = raw.strip_prefix('"') else {
        if raw.contains('"') {
            return Err(AddressErrorReason::UnbalancedQuotes);
        }
        return Ok(Some(raw.to_string()));
    };
    let mut name = String::new();
    let mut chars = inner.chars();
    loop {
        match chars.next() {
            None => return Err(AddressErrorReason::UnbalancedQuotes),
            Some('\\') => match chars.next() {
                Some(c) => name.push(c),
                None => return Err(AddressErrorReason::UnbalancedQuotes),
            },
            Some('"') => break,
            Some(c) => name.push(c),
        }
    }
    if !chars.as_str().trim().is_empty() {
        return Err(AddressErrorReason::UnbalancedQuotes);
    }
    Ok(Some(name).filter(|n| !n.is_empty()))
}

fn parse_mailbox(s: &str) -> Result<Mailbox, AddressErrorReason> {
    if s.contains(['\r', '\n']) {
        return Err(AddressErrorReason::LineBreak);
    }
    let (name, address) = match find_open_bracket(s)? {
        Some(open) => {
            let rest = &s[open + 1..];
            let Some(close) = rest.find('>') else {
                return Err(AddressErrorReason::MissingEndBracket);
            };
            if !rest[close + 1..].trim().is_empty() {
                return Err(AddressErrorReason::TextAfterBracket);
            }
            (unquote_name(&s[..open])?, rest[..close].trim())
        }
        None => (None, s),
    };
    validate_addr_spec(address)?;
    Ok(Mailbox {
        name,
        address: address.to_string(),
    })
}

fn validate_addr_spec(address: &str) -> Result<(), AddressErrorReason> {
    use email_address::Error as E;
    if address.is_empty() {
        return Err(AddressErrorReason::Empty);
    }
    let options = Options::default()
        .with_no_minimum_sub_domains()
        .without_display_text();
    EmailAddress::parse_with_options(address, options)
        .map(|_| ())
        .map_err(|e| match e {
            E::MissingSeparator => AddressErrorReason::MissingAt,
            E::LocalPartEmpty => AddressErrorReason::MissingLocalPart,
            E::DomainEmpty => AddressErrorReason::MissingDomain,
            E::UnbalancedQuotes => AddressErrorReason::UnbalancedQuotes,
            E::MissingEndBracket => AddressErrorReason::MissingEndBracket,
            other => AddressErrorReason::Invalid(other.to_string().trim_end_matches('.').into()),
        })
}

/// Parses an SSIS To/Cc/Bcc line into mailboxes.
///
/// ```
/// use smtpcm_engine::address::parse_list;
/// let list = parse_list(r#"a@x.com; "Doe, John" <j@x.com>, Ann <ann@x.com>;;"#).unwrap();
/// let addrs: Vec<_> = list.iter().map(|m| m.address.as_str()).collect();
/// assert_eq!(addrs, ["a@x.com", "j@x.com", "ann@x.com"]);
/// ```
pub fn parse_list(s: &str) -> Result<Vec<Mailbox>, AddressError> {
    let mut out = Vec::new();
    let mut in_quotes = false;
    let mut escaped = false;
    let mut in_angle = false;
    let mut start = 0; // byte offset of the current item
    let mut items = Vec::new();
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' if !in_angle => in_quotes = !in_quotes,
            '<' if !in_quotes => in_angle = true,
            '>' if !in_quotes => in_angle = false,
            ';' | ',' if !in_quotes && !in_angle => {
                items.push((start, &s[start..i]));
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    items.push((start, &s[start..]));
    let mut index = 0;
    for (offset, item) in items {
        // Checked before trimming: a stray line break next to a separator is still one.
        let has_line_break = item.contains(['\r', '\n']);
        let trimmed = item.trim();
        if trimmed.is_empty() && !has_line_break {
            continue;
        }
        index += 1;
        let parsed = if has_line_break {
            Err(AddressErrorReason::LineBreak)
        } else {
            parse_mailbox(trimmed)
        };
        // The position is counted only for an error: counting it for every entry made long
        // lists quadratic.
        let mailbox = parsed.map_err(|reason| AddressError {
            index: Some(index),
            position: s[..offset + item.len() - item.trim_start().len()]
                .chars()
                .count()
                + 1,
            entry: trimmed.to_string(),
            reason,
        })?;
        out.push(mailbox);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(s: &str) -> AddressErrorReason {
        match Mailbox::parse(s) {
            Ok(m) => panic!("{s:?} parsed as {m:?}"),
            Err(e) => e.reason,
        }
    }

    #[test]
    fn accepted_forms() {
        let m = Mailbox::parse("  John Doe  <john@x.com> ").unwrap();
        assert_eq!(
            (m.name.as_deref(), m.address.as_str()),
            (Some("John Doe"), "john@x.com")
        );
        let m = Mailbox::parse("<john@x.com>").unwrap();
        assert_eq!((m.name, m.address.as_str()), (None, "john@x.com"));
        let m = Mailbox::parse(r#""a \"b\" \\ c" <x@localhost>"#).unwrap();
        assert_eq!(m.name.as_deref(), Some(r#"a "b" \ c"#));
        assert_eq!(m.to_string(), r#""a \"b\" \\ c" <x@localhost>"#);
        let m = Mailbox::parse(r#""semi;colon <odd>" <x@y.z>"#).unwrap();
        assert_eq!(m.name.as_deref(), Some("semi;colon <odd>"));
    }

    #[test]
    fn international_addresses_are_flagged() {
        let m = Mailbox::parse("用户@例子.广告").unwrap();
        assert!(m.needs_smtputf8() && !m.is_ascii());
        let m = Mailbox::parse("Zoë <zoe@example.com>").unwrap();
        assert!(!m.needs_smtputf8() && !m.is_ascii());
        assert!(Mailbox::parse("a@b.c").unwrap().is_ascii());
    }

    #[test]
    fn rejections_say_why() {
        assert_eq!(reason("bob"), AddressErrorReason::MissingAt);
        assert_eq!(reason("@x.com"), AddressErrorReason::MissingLocalPart);
        assert_eq!(reason("bob@"), AddressErrorReason::MissingDomain);
        assert_eq!(
            reason("a@b.c\r\nBcc: evil@x"),
            AddressErrorReason::LineBreak
        );
        assert_eq!(reason("Name <a@b.c"), AddressErrorReason::MissingEndBracket);
        assert_eq!(
            reason("Name <a@b.c> x"),
            AddressErrorReason::TextAfterBracket
        );
        assert_eq!(
            reason(r#""Name <a@b.c>"#),
            AddressErrorReason::UnbalancedQuotes
        );
        assert_eq!(reason("<>"), AddressErrorReason::Empty);
        assert!(matches!(reason("a b@c.d"), AddressErrorReason::Invalid(_)));
    }

    #[test]
    fn list_errors_name_index_and_position() {
        let e = parse_list("a@x.com;; Doe, John <j@x.com>").unwrap_err();
        assert_eq!(
            (e.index, e.position, e.entry.as_str()),
            (Some(2), 11, "Doe")
        );
        assert_eq!(e.reason, AddressErrorReason::MissingAt);
        let e = parse_list("ü@x.com, x\ny@z").unwrap_err();
        assert_eq!((e.index, e.position), (Some(2), 10));
        assert!(e.to_string().contains(r#""x\ny@z""#), "{e}");
        assert!(parse_list(" ; ,, ").unwrap().is_empty());
        let e = parse_list("a@x.com;\n").unwrap_err();
        assert_eq!(
            (e.index, e.reason),
            (Some(2), AddressErrorReason::LineBreak)
        );
        assert!(Mailbox::parse("a@x.com\r\n").is_err());
    }
}
