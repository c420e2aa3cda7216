//! The table of connection-string keys, for tools that edit a string field by field (the
//! designer draws its connection manager editor from it).
//!
//! The parser keeps its own match on spellings and aliases; this table lists each key once, in
//! its canonical spelling, with the kind of control that edits it. A key added to the parser
//! is added here too (the test below checks that every entry parses), and then appears in
//! every editor without changes there.

/// What a key's value is, which decides the control that edits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "type", content = "choices", rename_all = "snake_case")]
pub enum KeyKind {
    /// `True` or `False`.
    Bool,
    /// A whole number.
    Number,
    /// Free text.
    Text,
    /// One of a fixed list.
    Choice(&'static [&'static str]),
    /// The *name* of an environment variable or a file path that holds a secret; the secret
    /// itself never goes into a connection string.
    SecretSource,
}

/// One connection-string key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct KeyInfo {
    /// Canonical spelling (`SmtpServer`).
    pub name: &'static str,
    /// How the value is edited.
    pub kind: KeyKind,
    /// True for the keys SSIS itself writes (`SmtpServer`, `UseWindowsAuthentication`,
    /// `EnableSsl`, `Timeout`); false for smtpcm's extensions.
    pub ssis: bool,
    /// One line for a tooltip or label.
    pub help: &'static str,
}

const fn key(name: &'static str, kind: KeyKind, ssis: bool, help: &'static str) -> KeyInfo {
    KeyInfo {
        name,
        kind,
        ssis,
        help,
    }
}

/// Every key the parser knows, in the order editors show them.
///
/// ```
/// use smtpcm::connection_string::{KEYS, KeyKind};
/// assert_eq!(KEYS[0].name, "SmtpServer");
/// assert!(KEYS.iter().any(|k| k.name == "PasswordEnv" && k.kind == KeyKind::SecretSource));
/// ```
pub static KEYS: &[KeyInfo] = &[
    key(
        "SmtpServer",
        KeyKind::Text,
        true,
        "SMTP server name or address, optionally host:port",
    ),
    key(
        "UseWindowsAuthentication",
        KeyKind::Bool,
        true,
        "Kerberos, then NTLM, as the process identity",
    ),
    key("EnableSsl", KeyKind::Bool, true, "require STARTTLS"),
    key(
        "Timeout",
        KeyKind::Number,
        true,
        "milliseconds for each stage (default 100000)",
    ),
    key(
        "Port",
        KeyKind::Number,
        false,
        "TCP port (default 25, or 465 with TlsMode=Implicit)",
    ),
    key(
        "TlsMode",
        KeyKind::Choice(&["None", "StartTls", "StartTlsWhenAvailable", "Implicit"]),
        false,
        "TLS mode; overrides EnableSsl",
    ),
    key(
        "AuthMechanism",
        KeyKind::Choice(&super::MECHANISMS),
        false,
        "force one SASL mechanism",
    ),
    key(
        "UserName",
        KeyKind::Text,
        false,
        "user name for basic or OAuth2 authentication",
    ),
    key(
        "PasswordEnv",
        KeyKind::SecretSource,
        false,
        "environment variable holding the password",
    ),
    key(
        "PasswordFile",
        KeyKind::SecretSource,
        false,
        "file holding the password",
    ),
    key(
        "TokenEnv",
        KeyKind::SecretSource,
        false,
        "environment variable holding an OAuth2 token",
    ),
    key(
        "TokenFile",
        KeyKind::SecretSource,
        false,
        "file holding an OAuth2 token",
    ),
    key(
        "TargetName",
        KeyKind::Text,
        false,
        "service principal for Windows authentication",
    ),
    key(
        "AllowInsecureAuth",
        KeyKind::Bool,
        false,
        "allow credentials without TLS",
    ),
    key(
        "Timeouts",
        KeyKind::Choice(&["Rfc5321"]),
        false,
        "RFC 5321 per-stage limits instead of Timeout",
    ),
    key(
        "DisableExtensions",
        KeyKind::Text,
        false,
        "extensions not to use, e.g. PIPELINING,CHUNKING",
    ),
    key(
        "DsnNotify",
        KeyKind::Text,
        false,
        "DSN NOTIFY: NEVER or SUCCESS,FAILURE,DELAY",
    ),
    key(
        "DsnRet",
        KeyKind::Choice(&["FULL", "HDRS"]),
        false,
        "DSN RET",
    ),
    key(
        "OAuthProvider",
        KeyKind::Choice(&["Microsoft", "Google"]),
        false,
        "fills the OAuth2 issuer and SMTP scopes of Microsoft or Google",
    ),
    key(
        "OAuthTenant",
        KeyKind::Text,
        false,
        "Microsoft tenant (default organizations)",
    ),
    key(
        "OAuthIssuer",
        KeyKind::Text,
        false,
        "OpenID Connect issuer: discovery finds the token and device endpoints",
    ),
    key(
        "OAuthTokenUrl",
        KeyKind::Text,
        false,
        "OAuth2 token endpoint (https, except on loopback)",
    ),
    key("OAuthClientId", KeyKind::Text, false, "OAuth2 client id"),
    key(
        "OAuthClientSecretEnv",
        KeyKind::SecretSource,
        false,
        "environment variable holding the OAuth2 client secret",
    ),
    key(
        "OAuthClientSecretFile",
        KeyKind::SecretSource,
        false,
        "file holding the OAuth2 client secret",
    ),
    key(
        "OAuthScope",
        KeyKind::Text,
        false,
        "space-separated OAuth2 scopes",
    ),
    key(
        "OAuthRefreshTokenFile",
        KeyKind::SecretSource,
        false,
        "file holding the refresh token (rewritten atomically, mode 0600, when rotated)",
    ),
    key(
        "TokenCommand",
        KeyKind::SecretSource,
        false,
        "command that prints an access token (run with a timeout; shown as ***)",
    ),
];

/// The table's entry for a key as written (any case, aliases included: `Host` is
/// `SmtpServer`), or `None` for a key the parser does not know.
///
/// ```
/// use smtpcm::connection_string::key_info;
/// assert_eq!(key_info("host").map(|k| k.name), Some("SmtpServer"));
/// assert_eq!(key_info("Nope"), None);
/// ```
pub fn key_info(written: &str) -> Option<&'static KeyInfo> {
    KEYS.iter().find(|k| super::edit::same_key(k.name, written))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_in_the_table_is_one_the_parser_knows() {
        for k in KEYS {
            assert!(
                super::super::Key::lookup(&k.name.to_ascii_lowercase()).is_some(),
                "{} is in KEYS but not in the parser",
                k.name
            );
        }
        let mut names: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), KEYS.len(), "a key is listed twice");
    }

    /// The other direction: every key the writer can emit is in the table, so a key added to
    /// the parser and writer but not here fails this test instead of missing from editors.
    #[test]
    fn every_key_the_writer_emits_is_in_the_table() {
        // Keys that contradict each other are written in separate strings.
        let strings = [
            "SmtpServer=h;UseWindowsAuthentication=True;EnableSsl=True;Timeout=5;\
             TargetName=t;DisableExtensions=PIPELINING;DsnNotify=NEVER;DsnRet=HDRS",
            "SmtpServer=h;Timeouts=Rfc5321;Port=25;TlsMode=StartTls;UserName=u;\
             AuthMechanism=PLAIN;PasswordEnv=P;AllowInsecureAuth=True",
            "SmtpServer=h;UserName=u;PasswordFile=/p",
            "SmtpServer=h;UserName=u;TokenEnv=T",
            "SmtpServer=h;UserName=u;TokenFile=/t",
            "SmtpServer=h;UserName=u;OAuthProvider=Microsoft;OAuthTenant=x;OAuthClientId=c;\
             OAuthClientSecretEnv=E;OAuthScope=s",
            "SmtpServer=h;UserName=u;OAuthIssuer=https://i;OAuthClientId=c;\
             OAuthClientSecretFile=/e;OAuthRefreshTokenFile=/r",
            "SmtpServer=h;UserName=u;OAuthTokenUrl=https://t;OAuthClientId=c;\
             OAuthClientSecretEnv=E",
            "SmtpServer=h;UserName=u;TokenCommand=echo",
        ];
        let mut seen = std::collections::BTreeSet::new();
        for s in strings {
            let cs = s
                .parse::<super::super::ConnectionString>()
                .unwrap_or_else(|e| panic!("{s}: {e}"));
            let written = cs.to_string();
            for pair in written.split(';').filter(|p| !p.is_empty()) {
                let name = pair.split('=').next().unwrap_or_default();
                assert!(
                    KEYS.iter().any(|k| k.name == name),
                    "the writer emits {name}, which KEYS does not list"
                );
                seen.insert(name.to_string());
            }
        }
        // And the strings above exercise every key of the table.
        for k in KEYS {
            assert!(seen.contains(k.name), "{} is not exercised here", k.name);
        }
    }
}
