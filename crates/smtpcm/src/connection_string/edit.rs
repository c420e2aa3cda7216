//! Reading, changing and redacting single keys of a connection string as written, through the
//! tokenizer: key order, the spelling of every other key and value, quoting and separators
//! are kept, so an edit changes only the bytes of the value it sets.

use super::tokenize::{Segment, segments};
use super::{ConnectionStringError, Key, quote_value};

/// What [`redact`] puts in place of a secret value.
pub const REDACTED: &str = "***";

/// True for keys that hold a secret (`Password`, `Pwd`, `ClientSecret`, `Token`,
/// `AccessToken`, `RefreshToken`, ...), compared case-insensitively. `PasswordEnv`,
/// `PasswordFile`, `TokenEnv` and `TokenFile` name where a secret is, and are not secrets.
///
/// ```
/// use smtpcm::connection_string::is_secret_key;
/// assert!(is_secret_key("PWD") && is_secret_key("RefreshToken"));
/// assert!(!is_secret_key("PasswordEnv"));
/// ```
pub fn is_secret_key(key: &str) -> bool {
    Key::is_secret(&key.trim().to_ascii_lowercase())
}

fn is_redacted_key(key: &str) -> bool {
    Key::is_redacted(&key.trim().to_ascii_lowercase())
}

/// `s` with the value of every secret key (and of `TokenCommand`, whose command line may
/// carry one) ([`is_secret_key`]) replaced by `***`; everything
/// else is kept as written. A string that does not tokenize (an unclosed quote, say) is cut
/// after the first secret key's `=`, so a malformed string never shows a secret either.
///
/// ```
/// use smtpcm::connection_string::redact;
/// assert_eq!(
///     redact("Server=h;Password=\"p;w\"\"d\";User ID=sa;"),
///     "Server=h;Password=***;User ID=sa;"
/// );
/// assert_eq!(redact("Server=h;pwd='unclosed;x=1"), "Server=h;pwd=***");
/// ```
pub fn redact(s: &str) -> String {
    match segments(s) {
        Ok(segs) => {
            let mut out = s.to_owned();
            for seg in segs.iter().rev() {
                if is_redacted_key(&seg.key) && !seg.value_range.is_empty() {
                    out.replace_range(seg.value_range.clone(), REDACTED);
                }
            }
            out
        }
        Err(_) => {
            let mut at = 0;
            for piece in s.split(';') {
                if let Some((key, _)) = piece.split_once('=')
                    && is_redacted_key(key)
                {
                    return format!("{}{REDACTED}", &s[..at + key.len() + 1]);
                }
                at += piece.len() + 1;
            }
            s.to_owned()
        }
    }
}

/// Two spellings name the same key: the same known key (aliases included) or the same
/// unknown key ignoring case.
pub(super) fn same_key(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim().to_ascii_lowercase(), b.trim().to_ascii_lowercase());
    match (Key::lookup(&a), Key::lookup(&b)) {
        (Some(x), Some(y)) => x == y,
        (None, None) => a == b,
        _ => false,
    }
}

/// A string with no `=` at all is a bare server name (as in Microsoft's samples).
fn is_bare_server(s: &str) -> bool {
    !s.contains('=')
}

fn find<'a>(segs: &'a [Segment], key: &str) -> Option<&'a Segment> {
    segs.iter().find(|seg| same_key(&seg.key, key))
}

/// The value of `key` (case-insensitive, aliases included) as written, unquoted.
///
/// ```
/// use smtpcm::connection_string::get_key;
/// assert_eq!(get_key("Host=h;X='a;b'", "SmtpServer").unwrap().as_deref(), Some("h"));
/// assert_eq!(get_key("Host=h;X='a;b'", "x").unwrap().as_deref(), Some("a;b"));
/// assert_eq!(get_key("smtphost", "SmtpServer").unwrap().as_deref(), Some("smtphost"));
/// ```
pub fn get_key(s: &str, key: &str) -> Result<Option<String>, ConnectionStringError> {
    if is_bare_server(s) {
        let server = same_key(key, "SmtpServer") && !s.trim().is_empty();
        return Ok(server.then(|| s.trim().to_owned()));
    }
    Ok(find(&segments(s)?, key).map(|seg| seg.value.clone()))
}

/// `s` with `key` set to `value`: the value's bytes are replaced where the key is (under
/// whatever spelling or alias it was written), or `key=value;` is appended. Everything else
/// stays byte for byte; the value is quoted only when it needs to be (`;`, quotes, outer
/// spaces). A bare server name is first written out as `SmtpServer=...;`.
///
/// ```
/// use smtpcm::connection_string::set_key;
/// let s = "smtpserver = a ;Note=\"x;y\";EnableSsl=False";
/// assert_eq!(
///     set_key(s, "SmtpServer", "b:587").unwrap(),
///     "smtpserver = b:587 ;Note=\"x;y\";EnableSsl=False"
/// );
/// assert_eq!(set_key(s, "Timeout", "30000").unwrap(), format!("{s};Timeout=30000;"));
/// assert_eq!(set_key(s, "note", "p;q").unwrap(), "smtpserver = a ;Note=\"p;q\";EnableSsl=False");
/// ```
pub fn set_key(s: &str, key: &str, value: &str) -> Result<String, ConnectionStringError> {
    let owned;
    let s = if is_bare_server(s) && !s.trim().is_empty() {
        owned = format!("SmtpServer={};", quote_value(s.trim()));
        owned.as_str()
    } else {
        s
    };
    let segs = segments(s)?;
    let quoted = quote_value(value);
    if let Some(seg) = find(&segs, key) {
        let mut out = s.to_owned();
        out.replace_range(seg.value_range.clone(), &quoted);
        return Ok(out);
    }
    let mut out = s.to_owned();
    if !out.trim_end().is_empty() && !out.trim_end().ends_with(';') {
        out.push(';');
    }
    out.push_str(key);
    out.push('=');
    out.push_str(&quoted);
    out.push(';');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_every_secret_spelling_and_keeps_the_rest() {
        let s = "SmtpServer=h; PWD = hunter2 ;ClientSecret='a;b';Token=\"t\";accesstoken=x;\
                 RefreshToken=r;PasswordEnv=SMTP_PW;Password=";
        let r = redact(s);
        for secret in ["hunter2", "a;b", "'a", "\"t\"", "=x;", "=r;"] {
            assert!(!r.contains(secret), "{secret} in {r}");
        }
        assert_eq!(
            r,
            "SmtpServer=h; PWD = *** ;ClientSecret=***;Token=***;accesstoken=***;\
             RefreshToken=***;PasswordEnv=SMTP_PW;Password="
        );
        assert_eq!(redact("smtphost"), "smtphost");
    }

    #[test]
    fn set_keeps_spelling_order_and_quoted_semicolons() {
        let s = "Server=a;Note=\"x;y\";EnableSsl=False;";
        let edited = set_key(s, "EnableSsl", "True").unwrap();
        assert_eq!(edited, "Server=a;Note=\"x;y\";EnableSsl=True;");
        assert_eq!(
            get_key(&edited, "note").unwrap().as_deref(),
            Some("x;y"),
            "the quoted value survives"
        );
        assert_eq!(
            set_key("smtphost", "EnableSsl", "True").unwrap(),
            "SmtpServer=smtphost;EnableSsl=True;"
        );
        assert!(set_key("Server='open", "EnableSsl", "True").is_err());
    }
}
