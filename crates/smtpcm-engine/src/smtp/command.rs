//! Typed SMTP commands.
//!
//! `Display` shows a command as the transcript and error messages show it, so it
//! never contains a secret: `AUTH PLAIN <redacted>`. What goes on the wire comes
//! from [`Command::encode`], which for everything but AUTH is the same text plus CRLF.

use std::fmt;
use std::io::Write as _;

use super::dsn::{DsnNotify, DsnRet, xtext};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// A command the client can send.
pub trait Command: fmt::Display {
    /// Appends the exact wire bytes, CRLF included.
    fn encode(&self, out: &mut Vec<u8>) {
        // Writing into a Vec cannot fail.
        let _ = write!(out, "{self}\r\n");
    }
}

/// `EHLO <name>`.
#[derive(Debug, Clone)]
pub struct Ehlo<'a>(pub &'a str);
/// `HELO <name>`.
#[derive(Debug, Clone)]
pub struct Helo<'a>(pub &'a str);
/// `STARTTLS`.
#[derive(Debug, Clone)]
pub struct StartTls;
/// `DATA`.
#[derive(Debug, Clone)]
pub struct Data;
/// `RSET`.
#[derive(Debug, Clone)]
pub struct Rset;
/// `NOOP`.
#[derive(Debug, Clone)]
pub struct Noop;
/// `QUIT`.
#[derive(Debug, Clone)]
pub struct Quit;

/// `MAIL FROM:<addr>` with its ESMTP parameters.
///
/// ```
/// use smtpcm_engine::smtp::command::Mail;
/// use smtpcm_engine::smtp::DsnRet;
/// let m = Mail { from: "a@x", size: Some(1200), body_8bit: true, smtputf8: false, ret: None, envid: None };
/// assert_eq!(m.to_string(), "MAIL FROM:<a@x> SIZE=1200 BODY=8BITMIME");
/// let m = Mail { ret: Some(DsnRet::Hdrs), envid: Some("job 7"), ..m };
/// assert_eq!(m.to_string(), "MAIL FROM:<a@x> SIZE=1200 BODY=8BITMIME RET=HDRS ENVID=job+207");
/// ```
#[derive(Debug, Clone)]
pub struct Mail<'a> {
    /// The reverse path without angle brackets (empty for the null sender).
    pub from: &'a str,
    /// `SIZE=` (RFC 1870).
    pub size: Option<u64>,
    /// `BODY=8BITMIME` (RFC 6152).
    pub body_8bit: bool,
    /// `SMTPUTF8` (RFC 6531).
    pub smtputf8: bool,
    /// DSN `RET=` (RFC 3461).
    pub ret: Option<DsnRet>,
    /// DSN `ENVID=`, as given (sent xtext-encoded).
    pub envid: Option<&'a str>,
}

/// `RCPT TO:<addr>` with its DSN parameters (RFC 3461).
///
/// ```
/// use smtpcm_engine::smtp::command::Rcpt;
/// assert_eq!(Rcpt::to("b@x").to_string(), "RCPT TO:<b@x>");
/// let r = Rcpt { notify: Some("FAILURE,DELAY".parse().unwrap()), orcpt: true, ..Rcpt::to("b+1@x") };
/// assert_eq!(r.to_string(), "RCPT TO:<b+1@x> NOTIFY=FAILURE,DELAY ORCPT=rfc822;b+2B1@x");
/// ```
#[derive(Debug, Clone)]
pub struct Rcpt<'a> {
    /// The forward path without angle brackets.
    pub to: &'a str,
    /// DSN `NOTIFY=`.
    pub notify: Option<DsnNotify>,
    /// Send DSN `ORCPT=rfc822;<to>` (only for an ASCII address).
    pub orcpt: bool,
}

impl<'a> Rcpt<'a> {
    /// `RCPT TO:<to>` without parameters.
    pub fn to(to: &'a str) -> Self {
        Rcpt {
            to,
            notify: None,
            orcpt: false,
        }
    }
}

/// `BDAT <size> [LAST]` (RFC 3030); the chunk bytes follow the command line.
#[derive(Debug, Clone)]
pub struct Bdat {
    /// The number of bytes in the chunk.
    pub size: usize,
    /// Whether this is the final chunk.
    pub last: bool,
}

/// `AUTH <mechanism> [initial-response]`: the response is base64-encoded on the wire
/// and shown as `<redacted>`.
pub struct Auth<'a> {
    /// The SASL mechanism name.
    pub mechanism: &'a str,
    /// The raw initial response; `Some(empty)` is sent as `=` (RFC 4954).
    pub initial: Option<&'a [u8]>,
}

/// One SASL response line (base64 on the wire, `<redacted>` when shown).
pub struct AuthResponse<'a>(pub &'a [u8]);

/// `*`: abandon a SASL exchange.
#[derive(Debug, Clone)]
pub struct AuthCancel;

impl fmt::Display for Ehlo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EHLO {}", self.0)
    }
}
impl Command for Ehlo<'_> {}

impl fmt::Display for Helo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HELO {}", self.0)
    }
}
impl Command for Helo<'_> {}

macro_rules! simple_command {
    ($ty:ty, $text:literal) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($text)
            }
        }
        impl Command for $ty {}
    };
}
simple_command!(StartTls, "STARTTLS");
simple_command!(Data, "DATA");
simple_command!(Rset, "RSET");
simple_command!(Noop, "NOOP");
simple_command!(Quit, "QUIT");
simple_command!(AuthCancel, "*");

impl fmt::Display for Mail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MAIL FROM:<{}>", self.from)?;
        if let Some(size) = self.size {
            write!(f, " SIZE={size}")?;
        }
        if self.body_8bit {
            f.write_str(" BODY=8BITMIME")?;
        }
        if self.smtputf8 {
            f.write_str(" SMTPUTF8")?;
        }
        if let Some(ret) = self.ret {
            write!(f, " RET={ret}")?;
        }
        if let Some(envid) = self.envid {
            write!(f, " ENVID={}", xtext(envid))?;
        }
        Ok(())
    }
}
impl Command for Mail<'_> {}

impl fmt::Display for Rcpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RCPT TO:<{}>", self.to)?;
        if let Some(notify) = self.notify {
            write!(f, " NOTIFY={notify}")?;
        }
        // RFC 3461 `rfc822` ORCPT holds an ASCII address; a UTF-8 one would need RFC 6533.
        if self.orcpt && self.to.is_ascii() {
            write!(f, " ORCPT=rfc822;{}", xtext(self.to))?;
        }
        Ok(())
    }
}
impl Command for Rcpt<'_> {}

impl fmt::Display for Bdat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BDAT {}", self.size)?;
        if self.last {
            f.write_str(" LAST")?;
        }
        Ok(())
    }
}
impl Command for Bdat {}

impl fmt::Display for Auth<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AUTH {}", self.mechanism)?;
        if self.initial.is_some() {
            f.write_str(" <redacted>")?;
        }
        Ok(())
    }
}
impl fmt::Debug for Auth<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
impl Command for Auth<'_> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"AUTH ");
        out.extend_from_slice(self.mechanism.as_bytes());
        match self.initial {
            Some([]) => out.extend_from_slice(b" ="),
            Some(initial) => {
                out.push(b' ');
                out.extend_from_slice(BASE64.encode(initial).as_bytes());
            }
            None => {}
        }
        out.extend_from_slice(b"\r\n");
    }
}

impl fmt::Display for AuthResponse<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}
impl fmt::Debug for AuthResponse<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthResponse(<redacted>)")
    }
}
impl Command for AuthResponse<'_> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(BASE64.encode(self.0).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(c: &dyn Command) -> String {
        let mut out = Vec::new();
        c.encode(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn commands_encode_with_crlf() {
        assert_eq!(wire(&Ehlo("client.test")), "EHLO client.test\r\n");
        assert_eq!(wire(&Rcpt::to("bob@x")), "RCPT TO:<bob@x>\r\n");
        assert_eq!(
            wire(&Bdat {
                size: 12,
                last: true
            }),
            "BDAT 12 LAST\r\n"
        );
        assert_eq!(
            wire(&Mail {
                from: "",
                size: None,
                body_8bit: false,
                smtputf8: true,
                ret: None,
                envid: None,
            }),
            "MAIL FROM:<> SMTPUTF8\r\n"
        );
    }

    #[test]
    fn auth_payload_is_on_the_wire_but_never_shown() {
        let secret = b"\0user\0hunter2";
        let auth = Auth {
            mechanism: "PLAIN",
            initial: Some(secret),
        };
        assert_eq!(wire(&auth), "AUTH PLAIN AHVzZXIAaHVudGVyMg==\r\n");
        assert_eq!(auth.to_string(), "AUTH PLAIN <redacted>");
        assert!(!format!("{auth:?}").contains("AHVzZXIAaHVudGVyMg"));
        let resp = AuthResponse(b"hunter2");
        assert_eq!(wire(&resp), "aHVudGVyMg==\r\n");
        assert_eq!(resp.to_string(), "<redacted>");
        assert!(!format!("{resp:?}").contains("hunter2"));
        assert_eq!(
            wire(&Auth {
                mechanism: "EXTERNAL",
                initial: Some(b"")
            }),
            "AUTH EXTERNAL =\r\n"
        );
    }
}
