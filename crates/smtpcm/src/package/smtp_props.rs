//! The SMTP connection manager's sub-properties (`SmtpServer`, `EnableSsl`, ...) live inside its
//! connection string. Reading and setting one goes through the connection-string tokenizer
//! ([`crate::connection_string::get_key`] / [`set_key`](crate::connection_string::set_key)), so
//! quoting is honoured (a quoted value may hold `;`) and a `/Set` changes only the bytes of that
//! one value: every other key keeps its spelling, order and quoting.

use crate::connection_string::{self, ConnectionStringError};

/// Sub-properties that map onto connection-string keys, in SSIS's canonical order.
pub(crate) const SMTP_KEYS: [&str; 4] = [
    "SmtpServer",
    "UseWindowsAuthentication",
    "EnableSsl",
    "Timeout",
];

/// The value of `key` (case-insensitive, aliases included), if present.
pub(crate) fn get(cs: &str, key: &str) -> Result<Option<String>, ConnectionStringError> {
    connection_string::get_key(cs, key)
}

/// `cs` with `key` set to `value`: replaced in place when present, otherwise appended.
pub(crate) fn set(cs: &str, key: &str, value: &str) -> Result<String, ConnectionStringError> {
    connection_string::set_key(cs, key, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_in_place_and_keeps_others() {
        let cs = "SmtpServer=a;UseWindowsAuthentication=False;EnableSsl=False;";
        assert_eq!(
            set(cs, "smtpserver", "b:587").unwrap(),
            "SmtpServer=b:587;UseWindowsAuthentication=False;EnableSsl=False;"
        );
        assert_eq!(
            set(cs, "Timeout", "30").unwrap(),
            format!("{cs}Timeout=30;")
        );
        assert_eq!(get(cs, "ENABLESSL").unwrap().as_deref(), Some("False"));
        assert_eq!(
            get("smtphost", "SmtpServer").unwrap().as_deref(),
            Some("smtphost")
        );
    }

    /// Issue 8: splitting on `;` mangled a quoted value holding `;`.
    #[test]
    fn quoted_values_with_semicolons_survive_an_edit() {
        let cs = "SmtpServer=a;UseWindowsAuthentication=False;EnableSsl=False;\
                  PasswordFile=\"/srv/a;b/pw\";Note='x;y'";
        let edited = set(cs, "EnableSsl", "True").unwrap();
        assert_eq!(
            edited,
            "SmtpServer=a;UseWindowsAuthentication=False;EnableSsl=True;\
             PasswordFile=\"/srv/a;b/pw\";Note='x;y'"
        );
        assert_eq!(
            get(&edited, "PasswordFile").unwrap().as_deref(),
            Some("/srv/a;b/pw")
        );
        let edited = set(cs, "SmtpServer", "relay;x").unwrap();
        assert!(edited.starts_with("SmtpServer=\"relay;x\";"), "{edited}");
        assert_eq!(get(&edited, "Note").unwrap().as_deref(), Some("x;y"));
    }
}
