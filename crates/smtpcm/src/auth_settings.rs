//! From an SSIS connection string to the engine's authentication settings.
//!
//! SSIS knows two kinds of authentication: anonymous and Windows. The extension keys
//! (`UserName`, `AuthMechanism`, `PasswordEnv`/`PasswordFile`, `TokenEnv`/`TokenFile`,
//! `TargetName`, `AllowInsecureAuth`) add Basic and OAuth2. This is the only place
//! that reads them; the engine only sees the resulting [`AuthConfig`].

use secrecy::SecretString;
use smtpcm_engine::auth::credentials::{NtlmCredentials, SecretSource};
use smtpcm_engine::auth::{AuthConfig, AuthError, AuthMethod};

use crate::connection_string::ConnectionString;

/// The configuration a connection string asks for, with secrets read from where it
/// says (`PasswordEnv`/`PasswordFile`, `TokenEnv`/`TokenFile`) and NTLM credentials
/// from the environment ([`NtlmCredentials::from_environment`]).
///
/// * `UseWindowsAuthentication=True` → [`AuthMethod::Windows`];
/// * `UserName` with `AuthMechanism=XOAUTH2`/`OAUTHBEARER` or a `Token*` key → [`AuthMethod::OAuth2`];
/// * `UserName` otherwise → [`AuthMethod::Basic`];
/// * nothing → [`AuthMethod::Anonymous`], as SSIS.
///
/// ```
/// use smtpcm::auth_settings::auth_config;
/// use smtpcm::connection_string::ConnectionString;
/// use smtpcm::engine::auth::AuthMethod;
/// let cs: ConnectionString = "SmtpServer=mx;UseWindowsAuthentication=False;EnableSsl=False".parse().unwrap();
/// assert!(matches!(auth_config(&cs).unwrap().method, AuthMethod::Anonymous));
/// ```
pub fn auth_config(cs: &ConnectionString) -> Result<AuthConfig, AuthError> {
    auth_config_with(cs, None)
}

/// As [`auth_config`], with a password or token set by code
/// (an SSIS sensitive property), used when the string names no other source.
pub fn auth_config_with(
    cs: &ConnectionString,
    sensitive: Option<&SecretString>,
) -> Result<AuthConfig, AuthError> {
    auth_config_for(cs, sensitive, None)
}

/// As [`auth_config_with`], with the extra CA file that token endpoints (the OAuth keys,
/// see [`crate::oauth`]) are checked against, as SMTP servers are. With OAuth keys the
/// method is [`AuthMethod::OAuth2Fetched`] with a new token cache; nothing is fetched yet.
pub fn auth_config_for(
    cs: &ConnectionString,
    sensitive: Option<&SecretString>,
    extra_ca_file: Option<&std::path::Path>,
) -> Result<AuthConfig, AuthError> {
    let invalid = |key: &str, reason: String| AuthError::InvalidConfig {
        key: key.to_string(),
        reason,
    };
    let mechanism = cs
        .auth_mechanism
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_ascii_uppercase);
    let token_keys = cs.token_env.is_some() || cs.token_file.is_some();
    let password_keys = cs.password_env.is_some() || cs.password_file.is_some();
    let user = cs
        .user_name
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());

    let oauth_keys = cs.oauth.is_set();
    let method = if oauth_keys {
        let Some(user) = user else {
            return Err(invalid(
                "UserName",
                "the OAuth keys need UserName= (the mailbox the token is for)".into(),
            ));
        };
        if cs.use_windows_authentication {
            return Err(invalid(
                "UseWindowsAuthentication",
                "OAuth keys cannot be combined with UseWindowsAuthentication=True".into(),
            ));
        }
        if let Some(key) = [
            (cs.token_env.is_some(), "TokenEnv"),
            (cs.token_file.is_some(), "TokenFile"),
            (password_keys, "PasswordEnv/PasswordFile"),
        ]
        .iter()
        .find_map(|(set, key)| set.then_some(*key))
        {
            return Err(invalid(
                key,
                "cannot be combined with the OAuth keys, which fetch the token themselves".into(),
            ));
        }
        if let Some(m) = mechanism.as_deref()
            && !matches!(m, "XOAUTH2" | "OAUTHBEARER")
        {
            return Err(invalid(
                "AuthMechanism",
                format!("{m} cannot be used with OAuth tokens (use XOAUTH2 or OAUTHBEARER)"),
            ));
        }
        // Contradictory or incomplete keys (and a plain-http endpoint) are found here, before
        // anything connects: a usage error, not a failed token request.
        let tokens = crate::oauth::token_cache(cs, extra_ca_file)
            .map_err(|e| invalid("OAuth", e.message))?
            .ok_or_else(|| invalid("OAuth", "internal error: OAuth keys without a plan".into()))?;
        AuthMethod::OAuth2Fetched {
            user: user.to_string(),
            tokens,
            mechanism,
        }
    } else if cs.use_windows_authentication {
        if let Some(user) = user {
            return Err(invalid(
                "UserName",
                format!(
                    "UserName={user} cannot be combined with UseWindowsAuthentication=True \
                         (Windows authentication uses the Kerberos ticket or NTLM credentials)"
                ),
            ));
        }
        let ntlm =
            NtlmCredentials::from_environment().map_err(|err| AuthError::MissingCredentials {
                what: format!("NTLM credentials: {err}"),
            })?;
        AuthMethod::Windows { ntlm, mechanism }
    } else if let Some(user) = user {
        let oauth =
            token_keys || matches!(mechanism.as_deref(), Some("XOAUTH2") | Some("OAUTHBEARER"));
        let (what, env_key, file_key, env, file) = if oauth {
            (
                "token",
                "TokenEnv",
                "TokenFile",
                &cs.token_env,
                &cs.token_file,
            )
        } else {
            (
                "password",
                "PasswordEnv",
                "PasswordFile",
                &cs.password_env,
                &cs.password_file,
            )
        };
        let source = match (env, file, sensitive) {
            (Some(_), Some(_), _) => {
                return Err(invalid(
                    env_key,
                    format!("set either {env_key} or {file_key}, not both"),
                ));
            }
            (Some(var), None, _) => SecretSource::Env {
                var: var.clone(),
                key: env_key.into(),
            },
            (None, Some(path), _) => SecretSource::File {
                path: path.into(),
                key: file_key.into(),
            },
            (None, None, Some(secret)) => SecretSource::Value(secret.clone()),
            (None, None, None) => {
                return Err(AuthError::MissingCredentials {
                    what: format!(
                        "UserName={user} needs a {what}: set {env_key}= (an environment \
                         variable name) or {file_key}= (a file path) in the connection string"
                    ),
                });
            }
        };
        let secret = source
            .load(what)
            .map_err(|err| AuthError::MissingCredentials {
                what: err.to_string(),
            })?;
        if oauth {
            AuthMethod::OAuth2 {
                user: user.to_string(),
                token: secret,
                mechanism,
            }
        } else {
            AuthMethod::Basic {
                user: user.to_string(),
                password: secret,
                mechanism,
            }
        }
    } else {
        if let Some(key) = [
            (mechanism.is_some(), "AuthMechanism"),
            (password_keys, "PasswordEnv/PasswordFile"),
            (token_keys, "TokenEnv/TokenFile"),
        ]
        .iter()
        .find_map(|(set, key)| set.then_some(*key))
        {
            return Err(invalid(
                key,
                "needs UserName= (or UseWindowsAuthentication=True for GSSAPI/NTLM)".into(),
            ));
        }
        AuthMethod::Anonymous
    };
    Ok(AuthConfig {
        method,
        target_name: cs.target_name.clone(),
        allow_insecure: cs.allow_insecure_auth,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // --- AuthConfig from a connection string ---

    fn cs(text: &str) -> ConnectionString {
        text.parse().unwrap()
    }

    #[test]
    fn config_anonymous_windows_basic_oauth() {
        let anonymous = auth_config(&cs("SmtpServer=mx")).unwrap();
        assert!(matches!(anonymous.method, AuthMethod::Anonymous));

        let windows = auth_config(&cs(
            "SmtpServer=mx;UseWindowsAuthentication=True;TargetName=smtp/mx;AuthMechanism=ntlm",
        ))
        .unwrap();
        assert!(matches!(
            windows.method,
            AuthMethod::Windows { mechanism: Some(ref m), .. } if m == "NTLM"
        ));
        assert_eq!(windows.target_name.as_deref(), Some("smtp/mx"));

        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, b"pw-from-file\n").unwrap();
        let basic = auth_config(&cs(&format!(
            "SmtpServer=localhost;UserName=alice;PasswordFile={};AllowInsecureAuth=True",
            file.path().display()
        )))
        .unwrap();
        assert!(basic.allow_insecure);
        match basic.method {
            AuthMethod::Basic {
                user,
                password,
                mechanism,
            } => {
                assert_eq!(user, "alice");
                assert_eq!(
                    secrecy::ExposeSecret::expose_secret(&password),
                    "pw-from-file"
                );
                assert_eq!(mechanism, None);
            }
            other => panic!("expected Basic, got {other:?}"),
        }

        let oauth = auth_config(&cs(&format!(
            "SmtpServer=mx;UserName=bob@example.com;TokenFile={}",
            file.path().display()
        )))
        .unwrap();
        assert!(matches!(oauth.method, AuthMethod::OAuth2 { .. }));

        let sensitive = SecretString::from("from-code");
        let by_mechanism = auth_config_with(
            &cs("SmtpServer=mx;UserName=bob;AuthMechanism=XOAUTH2"),
            Some(&sensitive),
        )
        .unwrap();
        assert!(matches!(
            by_mechanism.method,
            AuthMethod::OAuth2 { mechanism: Some(ref m), .. } if m == "XOAUTH2"
        ));
    }

    #[test]
    fn config_errors_name_the_key() {
        let err = auth_config(&cs("SmtpServer=mx;UserName=alice")).unwrap_err();
        assert!(matches!(err, AuthError::MissingCredentials { .. }), "{err}");
        assert!(err.to_string().contains("PasswordEnv="), "{err}");

        let err = auth_config(&cs(
            "SmtpServer=mx;UserName=alice;PasswordEnv=SMTPCM_TEST_SURELY_UNSET_VARIABLE",
        ))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing credentials: environment variable SMTPCM_TEST_SURELY_UNSET_VARIABLE \
             (named by PasswordEnv) is not set"
        );

        let err = auth_config(&cs("SmtpServer=mx;PasswordEnv=X")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("connection string key PasswordEnv/PasswordFile"),
            "{err}"
        );

        let err = auth_config(&cs(
            "SmtpServer=mx;UseWindowsAuthentication=True;UserName=alice",
        ))
        .unwrap_err();
        assert!(
            matches!(err, AuthError::InvalidConfig { ref key, .. } if key == "UserName"),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "connection string key UserName: UserName=alice cannot be combined with \
             UseWindowsAuthentication=True (Windows authentication uses the Kerberos ticket \
             or NTLM credentials)"
        );
    }
}

#[cfg(test)]
mod oauth_tests {
    use super::*;

    fn cfg(s: &str) -> Result<AuthConfig, AuthError> {
        auth_config(&s.parse().unwrap())
    }

    #[test]
    fn oauth_keys_give_fetched_tokens_and_refuse_mixtures() {
        let ok = cfg(
            "SmtpServer=h;UserName=u@x;OAuthTokenUrl=https://t;OAuthClientId=c;\
             OAuthClientSecretEnv=E;AuthMechanism=XOAUTH2",
        )
        .unwrap();
        assert!(matches!(
            ok.method,
            AuthMethod::OAuth2Fetched { ref user, mechanism: Some(ref m), .. }
                if user == "u@x" && m == "XOAUTH2"
        ));
        let base = "SmtpServer=h;OAuthTokenUrl=https://t;OAuthClientId=c;OAuthClientSecretEnv=E";
        for (extra, key) in [
            ("", "UserName"),
            (";UserName=u;TokenEnv=T", "TokenEnv"),
            (";UserName=u;PasswordEnv=P", "PasswordEnv/PasswordFile"),
            (";UserName=u;AuthMechanism=PLAIN", "AuthMechanism"),
            (
                ";UserName=u;UseWindowsAuthentication=True",
                "UseWindowsAuthentication",
            ),
        ] {
            let err = cfg(&format!("{base}{extra}")).unwrap_err();
            assert!(
                matches!(err, AuthError::InvalidConfig { key: ref k, .. } if k == key),
                "{extra}: {err}"
            );
        }
    }
}
