//! What the server offered in its EHLO reply.

use smtp_proto::{
    EXT_8BIT_MIME, EXT_CHUNKING, EXT_DSN, EXT_ENHANCED_STATUS_CODES, EXT_PIPELINING, EXT_SIZE,
    EXT_SMTP_UTF8, EXT_START_TLS, EhloResponse,
};

use super::reply::Reply;

/// The ESMTP extensions a server offered (all false after a `HELO` fallback).
///
/// ```
/// use smtpcm_engine::smtp::{Capabilities, Reply};
/// let ehlo = Reply::new(250, None, vec![
///     "mx.test greets you".into(), "PIPELINING".into(), "SIZE 10240000".into(),
///     "AUTH PLAIN LOGIN XOAUTH2".into(), "STARTTLS".into(),
/// ]);
/// let caps = Capabilities::from_ehlo(&ehlo);
/// assert!(caps.pipelining && caps.starttls && !caps.chunking);
/// assert_eq!(caps.size, Some(10_240_000));
/// assert_eq!(caps.auth_mechanisms, ["PLAIN", "LOGIN", "XOAUTH2"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// RFC 2920 command pipelining.
    pub pipelining: bool,
    /// RFC 3030 `BDAT`.
    pub chunking: bool,
    /// RFC 1870 `SIZE`: `None` if not offered, `Some(0)` if offered without a fixed limit.
    pub size: Option<u64>,
    /// RFC 6152 `8BITMIME`.
    pub eight_bit_mime: bool,
    /// RFC 6531 `SMTPUTF8`.
    pub smtputf8: bool,
    /// RFC 3207 `STARTTLS`.
    pub starttls: bool,
    /// RFC 3461 delivery status notifications.
    pub dsn: bool,
    /// RFC 2034 enhanced status codes.
    pub enhanced_status_codes: bool,
    /// SASL mechanisms from the `AUTH` line(s), upper-case, in the server's order.
    pub auth_mechanisms: Vec<String>,
    /// The EHLO reply lines as received (the first is the server's greeting name).
    pub lines: Vec<String>,
}

/// An ESMTP extension the client can be told not to use, for a server whose
/// implementation of it is broken (as MailKit allows).
///
/// ```
/// use smtpcm_engine::smtp::Extension;
/// let e: Extension = "chunking".parse().unwrap();
/// assert_eq!(e, Extension::Chunking);
/// assert_eq!(Extension::EightBitMime.to_string(), "8BITMIME");
/// assert!("BINARYMIME".parse::<Extension>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Extension {
    /// RFC 2920 `PIPELINING`.
    Pipelining,
    /// RFC 3030 `CHUNKING` (`BDAT`).
    Chunking,
    /// RFC 1870 `SIZE`.
    Size,
    /// RFC 6152 `8BITMIME`.
    EightBitMime,
    /// RFC 6531 `SMTPUTF8`.
    SmtpUtf8,
    /// RFC 3207 `STARTTLS`.
    StartTls,
    /// RFC 3461 `DSN`.
    Dsn,
    /// RFC 2034 `ENHANCEDSTATUSCODES`.
    EnhancedStatusCodes,
    /// RFC 4954 `AUTH`.
    Auth,
}

impl Extension {
    /// Every extension, in the order they are listed in messages.
    pub const ALL: [Extension; 9] = [
        Extension::Pipelining,
        Extension::Chunking,
        Extension::Size,
        Extension::EightBitMime,
        Extension::SmtpUtf8,
        Extension::StartTls,
        Extension::Dsn,
        Extension::EnhancedStatusCodes,
        Extension::Auth,
    ];

    /// The EHLO keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            Extension::Pipelining => "PIPELINING",
            Extension::Chunking => "CHUNKING",
            Extension::Size => "SIZE",
            Extension::EightBitMime => "8BITMIME",
            Extension::SmtpUtf8 => "SMTPUTF8",
            Extension::StartTls => "STARTTLS",
            Extension::Dsn => "DSN",
            Extension::EnhancedStatusCodes => "ENHANCEDSTATUSCODES",
            Extension::Auth => "AUTH",
        }
    }
}

impl std::fmt::Display for Extension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.keyword())
    }
}

/// A name that is not an [`Extension`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not an extension that can be disabled (PIPELINING, CHUNKING, SIZE, 8BITMIME, \
     SMTPUTF8, STARTTLS, DSN, ENHANCEDSTATUSCODES or AUTH)"
)]
pub struct UnknownExtension(pub String);

impl std::str::FromStr for Extension {
    type Err = UnknownExtension;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Extension::ALL
            .into_iter()
            .find(|e| e.keyword().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownExtension(s.to_string()))
    }
}

impl Capabilities {
    /// Acts as if the server had not offered `extension` (the EHLO lines stay as received).
    ///
    /// ```
    /// use smtpcm_engine::smtp::{Capabilities, Extension, Reply};
    /// let ehlo = Reply::new(250, None, vec!["mx".into(), "PIPELINING".into(), "CHUNKING".into()]);
    /// let mut caps = Capabilities::from_ehlo(&ehlo);
    /// caps.disable(Extension::Chunking);
    /// assert!(caps.pipelining && !caps.chunking);
    /// ```
    pub fn disable(&mut self, extension: Extension) {
        match extension {
            Extension::Pipelining => self.pipelining = false,
            Extension::Chunking => self.chunking = false,
            Extension::Size => self.size = None,
            Extension::EightBitMime => self.eight_bit_mime = false,
            Extension::SmtpUtf8 => self.smtputf8 = false,
            Extension::StartTls => self.starttls = false,
            Extension::Dsn => self.dsn = false,
            Extension::EnhancedStatusCodes => self.enhanced_status_codes = false,
            Extension::Auth => self.auth_mechanisms.clear(),
        }
    }

    /// Reads the capabilities from a `250` EHLO reply.
    pub fn from_ehlo(reply: &Reply) -> Self {
        // smtp-proto parses the wire form, so rebuild it from the decoded lines.
        let mut wire = String::new();
        let last = reply.lines.len().saturating_sub(1);
        for (i, line) in reply.lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            wire.push_str(&format!("250{sep}{line}\r\n"));
        }
        let parsed = EhloResponse::parse(&mut wire.as_bytes().iter()).ok();
        let has = |bit: u32| parsed.as_ref().is_some_and(|p| p.has_capability(bit));
        let size = has(EXT_SIZE).then(|| {
            // smtp-proto maps both "SIZE" and "SIZE 0" to 0; either means no fixed limit.
            parsed.as_ref().map_or(0, |p| p.size as u64)
        });
        Capabilities {
            pipelining: has(EXT_PIPELINING),
            chunking: has(EXT_CHUNKING),
            size,
            eight_bit_mime: has(EXT_8BIT_MIME),
            smtputf8: has(EXT_SMTP_UTF8),
            starttls: has(EXT_START_TLS),
            dsn: has(EXT_DSN),
            enhanced_status_codes: has(EXT_ENHANCED_STATUS_CODES),
            auth_mechanisms: auth_mechanisms(&reply.lines),
            lines: reply.lines.clone(),
        }
    }

    /// Whether `mechanism` (any case) was offered in the `AUTH` line.
    pub fn offers_auth(&self, mechanism: &str) -> bool {
        self.auth_mechanisms
            .iter()
            .any(|m| m.eq_ignore_ascii_case(mechanism))
    }
}

/// Mechanism names from `AUTH a b c` and the pre-standard `AUTH=a b c` lines.
///
/// smtp-proto only reports mechanisms it knows as bits, so the names are read here
/// to keep any mechanism a server offers.
fn auth_mechanisms(lines: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in lines.iter().skip(1) {
        let Some(keyword) = line.get(..5) else {
            continue;
        };
        if !keyword.eq_ignore_ascii_case("AUTH ") && !keyword.eq_ignore_ascii_case("AUTH=") {
            continue;
        }
        for name in line[5..].split_ascii_whitespace() {
            let name = name.to_ascii_uppercase();
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(lines: &[&str]) -> Capabilities {
        Capabilities::from_ehlo(&Reply::new(
            250,
            None,
            lines.iter().map(|s| s.to_string()).collect(),
        ))
    }

    #[test]
    fn postfix_style_ehlo() {
        let c = caps(&[
            "mail.example.com",
            "PIPELINING",
            "SIZE 10240000",
            "VRFY",
            "ETRN",
            "STARTTLS",
            "AUTH PLAIN LOGIN GSSAPI NTLM",
            "AUTH=PLAIN LOGIN",
            "ENHANCEDSTATUSCODES",
            "8BITMIME",
            "DSN",
            "SMTPUTF8",
            "CHUNKING",
        ]);
        assert!(c.pipelining && c.starttls && c.enhanced_status_codes);
        assert!(c.eight_bit_mime && c.dsn && c.smtputf8 && c.chunking);
        assert_eq!(c.size, Some(10_240_000));
        assert_eq!(c.auth_mechanisms, ["PLAIN", "LOGIN", "GSSAPI", "NTLM"]);
        assert!(c.offers_auth("ntlm"));
        assert_eq!(c.lines.len(), 13);
    }

    #[test]
    fn bare_size_means_no_fixed_limit_and_lowercase_is_accepted() {
        let c = caps(&["mx", "size", "auth x-custom plain"]);
        assert_eq!(c.size, Some(0));
        assert_eq!(c.auth_mechanisms, ["X-CUSTOM", "PLAIN"]);
    }

    #[test]
    fn greeting_only_offers_nothing() {
        let c = caps(&["mx.test"]);
        assert_eq!(c.size, None);
        assert!(!c.pipelining && !c.starttls && c.auth_mechanisms.is_empty());
    }
}
