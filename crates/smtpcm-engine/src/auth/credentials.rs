//! Where secrets come from: never the package itself.
//!
//! * NTLM (Windows authentication): `SMTPCM_NTLM_USER` + `SMTPCM_NTLM_PASSWORD`, or the
//!   `NTLM_USER_FILE` that gss-ntlmssp (and Samba tooling) reads: one
//!   `DOMAIN:user:password` per line. When the file has several entries, the one whose
//!   user matches `NTLMUSER` (or else `USER`) is taken, otherwise the first.
//! * Basic and OAuth2 secrets: the environment variable named by `PasswordEnv=`/`TokenEnv=`,
//!   the file named by `PasswordFile=`/`TokenFile=`, or a value set by code (an SSIS
//!   sensitive property), see [`SecretSource`].
//!
//! Kerberos needs nothing here: the system GSSAPI library reads the credential cache
//! (`kinit`, `KRB5CCNAME`) or MIT's client keytab (`KRB5_CLIENT_KTNAME`).

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

/// Environment variable holding the NTLM user (`DOMAIN\user`, `user@DOMAIN` or `user`).
pub const ENV_NTLM_USER: &str = "SMTPCM_NTLM_USER";
/// Environment variable holding the NTLM password.
pub const ENV_NTLM_PASSWORD: &str = "SMTPCM_NTLM_PASSWORD";
/// gss-ntlmssp's credential file: `DOMAIN:user:password` lines.
pub const ENV_NTLM_USER_FILE: &str = "NTLM_USER_FILE";
/// gss-ntlmssp's choice of entry in [`ENV_NTLM_USER_FILE`].
pub const ENV_NTLM_SELECT_USER: &str = "NTLMUSER";

/// A credential could not be read from where the configuration says it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The environment variable named by a key is not set (or not valid UTF-8).
    ///
    /// The name is shown only when it looks like one ([`shown_variable_name`]): users
    /// sometimes write the secret itself as `PasswordEnv=`, and an error must not print it.
    #[error(
        "environment variable {} (named by {key}) is not set",
        shown_variable_name(var)
    )]
    EnvNotSet { var: String, key: String },
    /// A secret file could not be read.
    #[error("cannot read {what} file {path} (named by {key}): {source}")]
    FileUnreadable {
        what: String,
        path: PathBuf,
        key: String,
        source: std::io::Error,
    },
    /// A secret file or variable is empty.
    #[error("{what} from {origin} is empty")]
    Empty { what: String, origin: String },
    /// A line of the NTLM user file is not `DOMAIN:user:password`.
    #[error("{path}:{line}: expected DOMAIN:user:password")]
    BadUserFileLine { path: PathBuf, line: usize },
    /// `SMTPCM_NTLM_USER` is set without `SMTPCM_NTLM_PASSWORD` (or the reverse).
    #[error("{set} is set but {missing} is not")]
    HalfSet { set: String, missing: String },
}

/// `var` when it looks like a conventional environment variable name (upper-case
/// letters, digits and `_`, at most 64 characters), else a placeholder, since a value
/// that does not look like a name may well be the secret itself.
///
/// ```
/// use smtpcm_engine::auth::credentials::shown_variable_name;
/// assert_eq!(shown_variable_name("SMTP_PASSWORD"), "SMTP_PASSWORD");
/// assert!(!shown_variable_name("hunter2!").contains("hunter2"));
/// ```
pub fn shown_variable_name(var: &str) -> String {
    let looks_like_a_name = !var.is_empty()
        && var.len() <= 64
        && !var.starts_with(|c: char| c.is_ascii_digit())
        && var
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if looks_like_a_name {
        var.to_string()
    } else {
        "[name hidden: it does not look like a variable name; is it the secret itself?]".into()
    }
}

/// The largest secret file read: a password, token or NTLM user file is far smaller, and a
/// cap keeps `PasswordFile=/dev/zero` from reading until memory runs out.
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// Reads a whole secret file, refusing anything but a regular file no larger than
/// [`MAX_SECRET_FILE_BYTES`].
///
/// A FIFO would block until some writer appears and a device may never end, so both are
/// refused before the file is even opened (opening a FIFO blocks); the opened file is
/// checked again, so a path swapped in between cannot slip a device in.
fn read_secret_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let invalid = |msg: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, msg);
    let not_regular =
        || invalid("not a regular file (a FIFO, device or directory is refused)".into());
    if !std::fs::metadata(path)?.is_file() {
        return Err(not_regular());
    }
    let file = std::fs::File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(not_regular());
    }
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(invalid(format!(
            "larger than {MAX_SECRET_FILE_BYTES} bytes, too large for a secret"
        )));
    }
    String::from_utf8(bytes).map_err(|_| invalid("not valid UTF-8".into()))
}

/// A user name and password for NTLM, with the domain they belong to.
///
/// `Debug` never shows the password:
/// ```
/// use smtpcm_engine::auth::credentials::NtlmCredentials;
/// let c = NtlmCredentials::new("CORP", "alice", "pw123".to_string().into());
/// assert!(!format!("{c:?}").contains("pw123"));
/// assert_eq!(c.qualified_user(), "CORP\\alice");
/// ```
#[derive(Clone)]
pub struct NtlmCredentials {
    /// The NetBIOS or DNS domain; may be empty.
    pub domain: String,
    /// The account name.
    pub user: String,
    /// The account password.
    pub password: SecretString,
}

impl fmt::Debug for NtlmCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NtlmCredentials")
            .field("domain", &self.domain)
            .field("user", &self.user)
            .field("password", &"[redacted]")
            .finish()
    }
}

impl NtlmCredentials {
    /// Credentials from their parts.
    pub fn new(domain: impl Into<String>, user: impl Into<String>, password: SecretString) -> Self {
        NtlmCredentials {
            domain: domain.into(),
            user: user.into(),
            password,
        }
    }

    /// `DOMAIN\user`, or just `user` without a domain: how the identity is reported.
    pub fn qualified_user(&self) -> String {
        if self.domain.is_empty() {
            self.user.clone()
        } else {
            format!("{}\\{}", self.domain, self.user)
        }
    }

    /// Credentials from the process environment: `SMTPCM_NTLM_USER`/`SMTPCM_NTLM_PASSWORD`
    /// first, then `NTLM_USER_FILE`. `Ok(None)` when neither is configured.
    pub fn from_environment() -> Result<Option<NtlmCredentials>, CredentialError> {
        Self::from_env_with(|name| std::env::var(name).ok())
    }

    /// As [`NtlmCredentials::from_environment`], reading variables through `env`.
    pub fn from_env_with(
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<NtlmCredentials>, CredentialError> {
        match (env(ENV_NTLM_USER), env(ENV_NTLM_PASSWORD)) {
            (Some(user), Some(password)) => {
                let (domain, user) = split_account(&user);
                return Ok(Some(NtlmCredentials::new(
                    domain,
                    user,
                    SecretString::from(password),
                )));
            }
            (Some(_), None) => {
                return Err(CredentialError::HalfSet {
                    set: ENV_NTLM_USER.into(),
                    missing: ENV_NTLM_PASSWORD.into(),
                });
            }
            (None, Some(_)) => {
                return Err(CredentialError::HalfSet {
                    set: ENV_NTLM_PASSWORD.into(),
                    missing: ENV_NTLM_USER.into(),
                });
            }
            (None, None) => {}
        }
        let Some(path) = env(ENV_NTLM_USER_FILE) else {
            return Ok(None);
        };
        let wanted = env(ENV_NTLM_SELECT_USER).or_else(|| env("USER"));
        Self::from_user_file(Path::new(&path), wanted.as_deref())
    }

    /// Read a gss-ntlmssp user file and pick the entry for `wanted` (`user` or
    /// `DOMAIN\user`, compared case-insensitively), or the first entry when none matches.
    pub fn from_user_file(
        path: &Path,
        wanted: Option<&str>,
    ) -> Result<Option<NtlmCredentials>, CredentialError> {
        let text = read_secret_file(path).map_err(|source| CredentialError::FileUnreadable {
            what: "NTLM user".into(),
            path: path.to_path_buf(),
            key: ENV_NTLM_USER_FILE.into(),
            source,
        })?;
        let entries = parse_user_file(&text, path)?;
        let chosen = wanted
            .and_then(|wanted| {
                let (want_domain, want_user) = split_account(wanted);
                entries.iter().position(|entry| {
                    entry.user.eq_ignore_ascii_case(&want_user)
                        && (want_domain.is_empty()
                            || entry.domain.eq_ignore_ascii_case(&want_domain))
                })
            })
            .unwrap_or(0);
        Ok(entries.into_iter().nth(chosen))
    }
}

/// Parse `DOMAIN:user:password` lines; blank lines and `#` comments are skipped, and the
/// password is everything after the second colon (it may contain colons).
fn parse_user_file(text: &str, path: &Path) -> Result<Vec<NtlmCredentials>, CredentialError> {
    let mut entries = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let mut parts = line.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(domain), Some(user), Some(password)) if !user.is_empty() => {
                entries.push(NtlmCredentials::new(
                    domain,
                    user,
                    SecretString::from(password.to_string()),
                ));
            }
            _ => {
                return Err(CredentialError::BadUserFileLine {
                    path: path.to_path_buf(),
                    line: index + 1,
                });
            }
        }
    }
    Ok(entries)
}

/// `DOMAIN\user` or `user@domain` into (domain, user); a bare name has an empty domain.
fn split_account(account: &str) -> (String, String) {
    if let Some((domain, user)) = account.split_once('\\') {
        (domain.to_string(), user.to_string())
    } else if let Some((user, domain)) = account.rsplit_once('@') {
        (domain.to_string(), user.to_string())
    } else {
        (String::new(), account.to_string())
    }
}

/// Where a Basic password or OAuth2 token is kept.
///
/// ```
/// use smtpcm_engine::auth::credentials::SecretSource;
/// use secrecy::ExposeSecret;
/// let s = SecretSource::Value("t0ken".to_string().into());
/// assert_eq!(s.load("token").unwrap().expose_secret(), "t0ken");
/// assert!(!format!("{s:?}").contains("t0ken"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum SecretSource {
    /// The environment variable with this name; `key` is the connection-string key that named it.
    Env { var: String, key: String },
    /// The first line of this file; `key` is the connection-string key that named it.
    File { path: PathBuf, key: String },
    /// A value set by code (an SSIS sensitive property).
    Value(SecretString),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env { var, key } => write!(f, "Env({key}={var})"),
            SecretSource::File { path, key } => write!(f, "File({key}={})", path.display()),
            SecretSource::Value(_) => f.write_str("Value([redacted])"),
        }
    }
}

impl SecretSource {
    /// Read the secret; `what` ("password", "token") names it in errors.
    pub fn load(&self, what: &str) -> Result<SecretString, CredentialError> {
        self.load_with(what, |name| std::env::var(name).ok())
    }

    /// As [`SecretSource::load`], reading variables through `env`.
    pub fn load_with(
        &self,
        what: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<SecretString, CredentialError> {
        let (value, origin) = match self {
            SecretSource::Env { var, key } => {
                let value = env(var).ok_or_else(|| CredentialError::EnvNotSet {
                    var: var.clone(),
                    key: key.clone(),
                })?;
                (
                    value,
                    format!("environment variable {}", shown_variable_name(var)),
                )
            }
            SecretSource::File { path, key } => {
                let text =
                    read_secret_file(path).map_err(|source| CredentialError::FileUnreadable {
                        what: what.to_string(),
                        path: path.clone(),
                        key: key.clone(),
                        source,
                    })?;
                // Only the first line: editors and `echo` add a trailing newline.
                let first = text.lines().next().unwrap_or("").to_string();
                (first, format!("file {}", path.display()))
            }
            SecretSource::Value(secret) => (
                secret.expose_secret().to_string(),
                "the sensitive property".to_string(),
            ),
        };
        if value.is_empty() {
            return Err(CredentialError::Empty {
                what: what.to_string(),
                origin,
            });
        }
        Ok(SecretString::from(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn a_secret_written_as_the_variable_name_is_not_printed() {
        for secret in ["Sup3r-secret!", "correct horse battery", "hunter2"] {
            let source = SecretSource::Env {
                var: secret.into(),
                key: "PasswordEnv".into(),
            };
            let err = source.load_with("password", |_| None).unwrap_err();
            assert!(!err.to_string().contains(secret), "{err}");
            assert!(err.to_string().contains("PasswordEnv"), "{err}");
        }
        let source = SecretSource::Env {
            var: "SMTP_PASSWORD".into(),
            key: "PasswordEnv".into(),
        };
        let err = source.load_with("password", |_| None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable SMTP_PASSWORD (named by PasswordEnv) is not set"
        );
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn user_file(text: &str) -> tempfile::NamedTempFile {
        use std::io::Write;
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file
    }

    #[test]
    fn explicit_environment_wins_and_splits_domain() {
        let env = env_of(&[
            (ENV_NTLM_USER, "CORP\\alice"),
            (ENV_NTLM_PASSWORD, "pw"),
            (ENV_NTLM_USER_FILE, "/nonexistent"),
        ]);
        let c = NtlmCredentials::from_env_with(env).unwrap().unwrap();
        assert_eq!((c.domain.as_str(), c.user.as_str()), ("CORP", "alice"));
        assert_eq!(c.password.expose_secret(), "pw");
    }

    #[test]
    fn half_set_environment_is_an_error() {
        let err = NtlmCredentials::from_env_with(env_of(&[(ENV_NTLM_USER, "alice")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SMTPCM_NTLM_USER is set but SMTPCM_NTLM_PASSWORD is not"
        );
    }

    #[test]
    fn nothing_configured_is_none() {
        assert!(
            NtlmCredentials::from_env_with(env_of(&[]))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn user_file_picks_ntlmuser_then_user_then_first() {
        let file = user_file("# test realm\nCORP:bob:bobpw\n\nCORP:alice:a:l:i:c:e\n");
        let path = file.path().to_str().unwrap();

        let by_ntlmuser = env_of(&[
            (ENV_NTLM_USER_FILE, path),
            (ENV_NTLM_SELECT_USER, "ALICE"),
            ("USER", "bob"),
        ]);
        let c = NtlmCredentials::from_env_with(by_ntlmuser)
            .unwrap()
            .unwrap();
        assert_eq!(c.user, "alice");
        assert_eq!(c.password.expose_secret(), "a:l:i:c:e");

        let by_user = env_of(&[(ENV_NTLM_USER_FILE, path), ("USER", "alice")]);
        assert_eq!(
            NtlmCredentials::from_env_with(by_user)
                .unwrap()
                .unwrap()
                .user,
            "alice"
        );

        let first = env_of(&[(ENV_NTLM_USER_FILE, path), ("USER", "root")]);
        assert_eq!(
            NtlmCredentials::from_env_with(first).unwrap().unwrap().user,
            "bob"
        );
    }

    #[test]
    fn bad_user_file_line_names_file_and_line() {
        let file = user_file("CORP:alice:pw\nnot-a-credential\n");
        let err = NtlmCredentials::from_user_file(file.path(), None)
            .unwrap_err()
            .to_string();
        assert!(err.ends_with(":2: expected DOMAIN:user:password"), "{err}");
        assert!(err.contains(&file.path().display().to_string()), "{err}");
        assert!(!err.contains("pw"), "{err}");
    }

    #[test]
    fn secret_sources_load_and_explain_failures() {
        let env = env_of(&[("SMTP_PW", "from-env")]);
        let from_env = SecretSource::Env {
            var: "SMTP_PW".into(),
            key: "PasswordEnv".into(),
        };
        assert_eq!(
            from_env
                .load_with("password", &env)
                .unwrap()
                .expose_secret(),
            "from-env"
        );

        let missing = SecretSource::Env {
            var: "NOPE".into(),
            key: "PasswordEnv".into(),
        };
        assert_eq!(
            missing.load_with("password", &env).unwrap_err().to_string(),
            "environment variable NOPE (named by PasswordEnv) is not set"
        );

        let file = user_file("file-secret\n");
        let from_file = SecretSource::File {
            path: file.path().to_path_buf(),
            key: "TokenFile".into(),
        };
        assert_eq!(
            from_file.load("token").unwrap().expose_secret(),
            "file-secret"
        );

        // Secrets are read whole, so only small regular files are read (issue 9.12).
        let huge = SecretSource::File {
            path: "/dev/zero".into(),
            key: "PasswordFile".into(),
        };
        let e = huge.load("password").unwrap_err().to_string();
        assert!(
            e.contains("/dev/zero") && e.contains("not a regular file"),
            "{e}"
        );
        let big = user_file(&"x".repeat(MAX_SECRET_FILE_BYTES as usize + 1));
        let big = SecretSource::File {
            path: big.path().to_path_buf(),
            key: "PasswordFile".into(),
        };
        let e = big.load("password").unwrap_err().to_string();
        assert!(e.contains("too large for a secret"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            // Without the check, this read would block forever: no writer ever comes.
            let fifo = SecretSource::File {
                path: fifo,
                key: "PasswordFile".into(),
            };
            let e = fifo.load("password").unwrap_err().to_string();
            assert!(e.contains("not a regular file"), "{e}");
        }

        let empty = user_file("\n");
        let empty = SecretSource::File {
            path: empty.path().to_path_buf(),
            key: "TokenFile".into(),
        };
        assert!(
            empty
                .load("token")
                .unwrap_err()
                .to_string()
                .contains("token from file")
        );
    }
}
