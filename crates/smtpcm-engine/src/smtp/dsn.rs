//! Delivery status notifications (RFC 3461): what to ask the server to report, and the
//! xtext encoding of `ENVID` and `ORCPT`.

use std::fmt;
use std::str::FromStr;

/// `NOTIFY=` on each `RCPT TO`: when the recipient's server should report. All false is
/// `NEVER`.
///
/// ```
/// use smtpcm_engine::smtp::DsnNotify;
/// let n: DsnNotify = "failure, delay".parse().unwrap();
/// assert_eq!(n.to_string(), "FAILURE,DELAY");
/// assert_eq!("never".parse::<DsnNotify>().unwrap(), DsnNotify::NEVER);
/// assert!("NEVER,SUCCESS".parse::<DsnNotify>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DsnNotify {
    /// Report successful delivery.
    pub success: bool,
    /// Report failed delivery.
    pub failure: bool,
    /// Report delayed delivery.
    pub delay: bool,
}

impl DsnNotify {
    /// `NOTIFY=NEVER`: no report at all, not even of a failure.
    pub const NEVER: DsnNotify = DsnNotify {
        success: false,
        failure: false,
        delay: false,
    };
}

impl fmt::Display for DsnNotify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<&str> = [
            (self.success, "SUCCESS"),
            (self.failure, "FAILURE"),
            (self.delay, "DELAY"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, w)| *w)
        .collect();
        match words.is_empty() {
            true => f.write_str("NEVER"),
            false => f.write_str(&words.join(",")),
        }
    }
}

/// A DSN setting that cannot be used; the message names the value and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DsnError(String);

impl FromStr for DsnNotify {
    type Err = DsnError;

    /// `NEVER`, or a comma-separated list of `SUCCESS`, `FAILURE`, `DELAY` (any case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            DsnError(format!(
                "{s:?} is not a DSN NOTIFY value (NEVER, or a comma-separated list of SUCCESS, FAILURE, DELAY)"
            ))
        };
        if s.trim().eq_ignore_ascii_case("NEVER") {
            return Ok(DsnNotify::NEVER);
        }
        let mut n = DsnNotify::NEVER;
        for word in s.split(',').map(str::trim) {
            let flag = match word.to_ascii_uppercase().as_str() {
                "SUCCESS" => &mut n.success,
                "FAILURE" => &mut n.failure,
                "DELAY" => &mut n.delay,
                _ => return Err(bad()),
            };
            *flag = true;
        }
        Ok(n)
    }
}

/// `RET=` on `MAIL FROM`: how much of the message a failure report returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DsnRet {
    /// The whole message.
    Full,
    /// Only the headers.
    Hdrs,
}

impl fmt::Display for DsnRet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DsnRet::Full => "FULL",
            DsnRet::Hdrs => "HDRS",
        })
    }
}

impl FromStr for DsnRet {
    type Err = DsnError;

    /// `FULL` or `HDRS` (any case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "FULL" => Ok(DsnRet::Full),
            "HDRS" => Ok(DsnRet::Hdrs),
            _ => Err(DsnError(format!(
                "{s:?} is not a DSN RET value (FULL or HDRS)"
            ))),
        }
    }
}

/// What to ask of the server's delivery status notifications (RFC 3461).
///
/// Sent only when the server offers `DSN`: `RET` and `ENVID` on `MAIL FROM`, `NOTIFY` and
/// `ORCPT` (the recipient as given, so a report names it) on each `RCPT TO`. Empty (the
/// default) sends nothing.
///
/// ```
/// use smtpcm_engine::smtp::{Dsn, DsnRet};
/// let dsn = Dsn { ret: Some(DsnRet::Hdrs), envid: Some("job 42".into()), ..Dsn::default() };
/// assert!(dsn.check().is_ok());
/// let fallback = Dsn { notify: Some("FAILURE".parse().unwrap()), ..Dsn::default() };
/// let merged = dsn.or(&fallback);
/// assert_eq!(merged.notify, fallback.notify);
/// assert_eq!(merged.ret, Some(DsnRet::Hdrs));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dsn {
    /// `NOTIFY=` for every recipient.
    pub notify: Option<DsnNotify>,
    /// `RET=`.
    pub ret: Option<DsnRet>,
    /// `ENVID=`: an identifier the report quotes back (printable ASCII, at most 100
    /// characters; sent xtext-encoded).
    pub envid: Option<String>,
}

/// RFC 3461 §4.4: an ENVID is at most 100 characters.
const MAX_ENVID: usize = 100;

impl Dsn {
    /// Nothing asked: no DSN parameter is sent.
    pub fn is_empty(&self) -> bool {
        self.notify.is_none() && self.ret.is_none() && self.envid.is_none()
    }

    /// Each setting of `self`, else the one of `fallback` (a task's settings over its
    /// connection's).
    pub fn or(&self, fallback: &Dsn) -> Dsn {
        Dsn {
            notify: self.notify.or(fallback.notify),
            ret: self.ret.or(fallback.ret),
            envid: self.envid.clone().or_else(|| fallback.envid.clone()),
        }
    }

    /// Refuses an `ENVID` that is empty, too long, or not printable ASCII.
    pub fn check(&self) -> Result<(), DsnError> {
        if let Some(envid) = &self.envid
            && (envid.is_empty()
                || envid.len() > MAX_ENVID
                || !envid.bytes().all(|b| (0x20..0x7f).contains(&b)))
        {
            return Err(DsnError(format!(
                "DSN ENVID {envid:?} must be 1 to {MAX_ENVID} printable ASCII characters"
            )));
        }
        Ok(())
    }
}

/// RFC 3461 §4 xtext: printable ASCII except `+` and `=` as is, every other byte `+HH`.
///
/// ```
/// use smtpcm_engine::smtp::xtext;
/// assert_eq!(xtext("job 42+x=y"), "job+2042+2Bx+3Dy");
/// ```
pub fn xtext(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_round_trips_and_refuses_nonsense() {
        for s in ["SUCCESS", "SUCCESS,FAILURE,DELAY", "NEVER", "FAILURE"] {
            assert_eq!(s.parse::<DsnNotify>().unwrap().to_string(), s);
        }
        for s in ["", "ALWAYS", "SUCCESS,", "NEVER,FAILURE"] {
            assert!(s.parse::<DsnNotify>().is_err(), "{s:?}");
        }
        assert!("full".parse::<DsnRet>().is_ok() && "BODY".parse::<DsnRet>().is_err());
    }

    #[test]
    fn envid_must_be_short_printable_ascii() {
        let with = |e: &str| Dsn {
            envid: Some(e.into()),
            ..Dsn::default()
        };
        assert!(with("a b").check().is_ok());
        assert!(with("").check().is_err());
        assert!(with("é").check().is_err());
        assert!(with("a\r\nRCPT TO:<x>").check().is_err());
        assert!(with(&"x".repeat(101)).check().is_err());
    }

    #[test]
    fn xtext_encodes_plus_equals_space_and_controls() {
        assert_eq!(xtext("a+b=c d\u{1}"), "a+2Bb+3Dc+20d+01");
        assert_eq!(xtext("bob@example.com"), "bob@example.com");
    }
}
