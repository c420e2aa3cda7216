//! The OAuth2 token-acquisition keys of a connection string (extensions beyond SSIS). They
//! name where secrets are (an environment variable, a file, a command), never the secrets.

/// `OAuthProvider=`: a provider whose issuer and SMTP scopes are filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthProviderName {
    /// Microsoft Entra ID (Exchange Online); `OAuthTenant=` names the tenant.
    Microsoft,
    /// Google (Gmail).
    Google,
}

impl OAuthProviderName {
    /// The canonical spelling written back to the connection string.
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthProviderName::Microsoft => "Microsoft",
            OAuthProviderName::Google => "Google",
        }
    }

    /// Parses `Microsoft` or `Google`, in any case.
    pub fn parse(s: &str) -> Option<Self> {
        if s.trim().eq_ignore_ascii_case("microsoft") {
            Some(OAuthProviderName::Microsoft)
        } else if s.trim().eq_ignore_ascii_case("google") {
            Some(OAuthProviderName::Google)
        } else {
            None
        }
    }
}

/// Where OAuth2 access tokens come from, as the connection string says.
///
/// ```
/// use smtpcm::connection_string::ConnectionString;
/// let cs: ConnectionString = "SmtpServer=smtp.office365.com;UserName=app@contoso.com;\
///     OAuthProvider=microsoft;OAuthTenant=contoso.onmicrosoft.com;OAuthClientId=c1;\
///     OAuthClientSecretEnv=SMTP_CLIENT_SECRET".parse().unwrap();
/// assert_eq!(cs.oauth.client_secret_env.as_deref(), Some("SMTP_CLIENT_SECRET"));
/// assert!(cs.oauth.is_set());
/// assert!(cs.to_string().contains("OAuthProvider=Microsoft;"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OAuthKeys {
    /// `OAuthTokenUrl`: the token endpoint.
    pub token_url: Option<String>,
    /// `OAuthClientId`: the application's client id.
    pub client_id: Option<String>,
    /// `OAuthClientSecretEnv`: the environment variable holding the client secret.
    pub client_secret_env: Option<String>,
    /// `OAuthClientSecretFile`: the file holding the client secret.
    pub client_secret_file: Option<String>,
    /// `OAuthScope`: space-separated scopes to ask for.
    pub scope: Option<String>,
    /// `OAuthIssuer`: an OpenID Connect issuer; discovery finds its token and device endpoints.
    pub issuer: Option<String>,
    /// `OAuthRefreshTokenFile`: the refresh token (rewritten when the provider rotates it).
    pub refresh_token_file: Option<String>,
    /// `TokenCommand`: a command that prints an access token (run by `sh -c`, with a timeout).
    /// Shown as `***` by [`super::redact`]: a command line may carry a secret.
    pub token_command: Option<String>,
    /// `OAuthProvider`: `Microsoft` or `Google`.
    pub provider: Option<OAuthProviderName>,
    /// `OAuthTenant`: the Microsoft tenant (default `organizations`).
    pub tenant: Option<String>,
}

impl OAuthKeys {
    /// Any token-acquisition key is set: tokens are fetched at run time.
    pub fn is_set(&self) -> bool {
        self.texts().iter().any(|(_, v)| v.is_some()) || self.provider.is_some()
    }

    /// The text keys in their canonical spelling and order (`OAuthProvider` is written first).
    pub(crate) fn texts(&self) -> [(&'static str, &Option<String>); 9] {
        [
            ("OAuthTenant", &self.tenant),
            ("OAuthIssuer", &self.issuer),
            ("OAuthTokenUrl", &self.token_url),
            ("OAuthClientId", &self.client_id),
            ("OAuthClientSecretEnv", &self.client_secret_env),
            ("OAuthClientSecretFile", &self.client_secret_file),
            ("OAuthScope", &self.scope),
            ("OAuthRefreshTokenFile", &self.refresh_token_file),
            ("TokenCommand", &self.token_command),
        ]
    }
}
