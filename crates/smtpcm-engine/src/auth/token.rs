//! OAuth2 access tokens obtained at run time: a [`TokenProvider`] fetches one (from a token
//! endpoint, a refresh token, a command ...), and a [`TokenCache`] keeps it in memory until
//! shortly before it expires, shared by every connection that holds the same cache.
//!
//! The engine knows nothing of where the caller's settings come from: the SSIS layer builds
//! providers from its connection string. The driver ([`super::authenticate`]) asks the cache
//! for a token; when the server rejects a token that came from the cache, it asks for a fresh
//! one ([`TokenCache::renew`]) and authenticates once more.

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};

/// An access token and how long the issuer says it lives.
#[derive(Clone)]
pub struct AccessToken {
    /// The bearer token. Never logged.
    pub secret: SecretString,
    /// `expires_in` from the token response; `None` when unknown (a token command).
    pub expires_in: Option<Duration>,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Whose fault a failed token request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenFailure {
    /// The endpoint answered and refused our credentials (`invalid_client`, `invalid_grant`,
    /// `unauthorized_client`, ...): fix the client id, secret or refresh token.
    Credentials,
    /// The endpoint could not be reached or answered something unusable (network error,
    /// timeout, a 5xx, a body that is not the JSON a token endpoint returns).
    Endpoint,
    /// The external token command failed (exit status, timeout, empty output).
    Command,
    /// The settings are incomplete or contradictory (found before any request).
    Config,
}

/// Why no access token could be obtained. Never contains a secret.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TokenError {
    /// Whose fault it is.
    pub failure: TokenFailure,
    /// The OAuth `error` code from the endpoint, when it sent one (`invalid_client` ...).
    pub oauth_error: Option<String>,
    /// One line saying what failed, where, and (for OAuth errors) the code.
    pub message: String,
}

impl TokenError {
    /// A new error.
    pub fn new(failure: TokenFailure, oauth_error: Option<String>, message: String) -> Self {
        TokenError {
            failure,
            oauth_error,
            message,
        }
    }
}

/// A boxed future, so that [`TokenProvider`] stays object-safe.
pub type TokenFuture<'a> =
    Pin<Box<dyn Future<Output = Result<AccessToken, TokenError>> + Send + 'a>>;

/// Something that fetches a fresh access token each time it is asked.
///
/// ```
/// use std::time::Duration;
/// use smtpcm_engine::auth::token::{AccessToken, TokenCache, TokenFuture, TokenProvider};
///
/// #[derive(Debug)]
/// struct Fixed;
/// impl TokenProvider for Fixed {
///     fn fetch(&self) -> TokenFuture<'_> {
///         Box::pin(async {
///             Ok(AccessToken { secret: "t0k".to_string().into(), expires_in: Some(Duration::from_secs(3600)) })
///         })
///     }
///     fn describe(&self) -> String { "a fixed token".into() }
/// }
/// let cache = TokenCache::new(std::sync::Arc::new(Fixed));
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # rt.block_on(async {
/// let (token, cached) = cache.token().await.unwrap();
/// assert!(!cached);
/// let (_, cached) = cache.token().await.unwrap();
/// assert!(cached, "the second caller gets the cached token");
/// # });
/// ```
pub trait TokenProvider: Send + Sync + fmt::Debug {
    /// Fetch a new access token (no caching here: [`TokenCache`] does that).
    fn fetch(&self) -> TokenFuture<'_>;
    /// Where tokens come from, for logs and `check` (never a secret).
    fn describe(&self) -> String;
}

/// How long before the issuer's expiry a cached token is no longer handed out: a quarter of
/// its lifetime, at most this long, so a token never expires between `AUTH` and its check.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

struct Cached {
    secret: SecretString,
    /// `None`: no known expiry (kept until a server rejects it).
    valid_until: Option<Instant>,
}

/// A [`TokenProvider`] with an in-memory cache, shared (`Arc`) by every connection of a
/// connection manager or pool: one token request serves them all, and concurrent callers
/// wait for the one request in flight instead of each making their own.
pub struct TokenCache {
    provider: Arc<dyn TokenProvider>,
    state: tokio::sync::Mutex<Option<Cached>>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    /// A cache in front of `provider`.
    pub fn new(provider: Arc<dyn TokenProvider>) -> Arc<Self> {
        Arc::new(TokenCache {
            provider,
            state: tokio::sync::Mutex::new(None),
        })
    }

    /// Where tokens come from (never a secret).
    pub fn describe(&self) -> String {
        self.provider.describe()
    }

    /// A token: the cached one while it is valid (`true`), else a fresh one (`false`).
    pub async fn token(&self) -> Result<(SecretString, bool), TokenError> {
        let mut state = self.state.lock().await;
        if let Some(cached) = state.as_ref()
            && cached
                .valid_until
                .is_none_or(|until| Instant::now() < until)
        {
            tracing::debug!(source = %self.provider.describe(), "using the cached OAuth2 access token");
            return Ok((cached.secret.clone(), true));
        }
        let secret = self.fetch_into(&mut state).await?;
        Ok((secret, false))
    }

    /// A fresh token after a server rejected `rejected`. If another connection already
    /// replaced it, that newer token is returned without a second request.
    pub async fn renew(&self, rejected: &SecretString) -> Result<SecretString, TokenError> {
        let mut state = self.state.lock().await;
        if let Some(cached) = state.as_ref()
            && cached.secret.expose_secret() != rejected.expose_secret()
            && cached
                .valid_until
                .is_none_or(|until| Instant::now() < until)
        {
            return Ok(cached.secret.clone());
        }
        self.fetch_into(&mut state).await
    }

    async fn fetch_into(&self, state: &mut Option<Cached>) -> Result<SecretString, TokenError> {
        *state = None;
        tracing::debug!(source = %self.provider.describe(), "fetching an OAuth2 access token");
        let token = self.provider.fetch().await?;
        let valid_until = token.expires_in.map(|lifetime| {
            let margin = (lifetime / 4).min(EXPIRY_MARGIN);
            Instant::now() + lifetime.saturating_sub(margin)
        });
        tracing::debug!(
            expires_in = ?token.expires_in,
            "got an OAuth2 access token from {}",
            self.provider.describe()
        );
        *state = Some(Cached {
            secret: token.secret.clone(),
            valid_until,
        });
        Ok(token.secret)
    }
}

/// The TLS client configuration SMTP uses for `extra_ca_file` (the same certificate
/// verification and extra roots), for HTTP clients that talk to token endpoints.
pub fn tls_client_config(
    extra_ca_file: Option<&Path>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    crate::smtp::tls_client_config(extra_ca_file)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[derive(Debug)]
    struct Counting {
        calls: AtomicUsize,
        lifetime: Option<Duration>,
    }

    impl TokenProvider for Counting {
        fn fetch(&self) -> TokenFuture<'_> {
            Box::pin(async move {
                let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
                Ok(AccessToken {
                    secret: format!("token-{n}").into(),
                    expires_in: self.lifetime,
                })
            })
        }
        fn describe(&self) -> String {
            "counting".into()
        }
    }

    fn setup(lifetime: Option<Duration>) -> (Arc<Counting>, Arc<TokenCache>) {
        let provider = Arc::new(Counting {
            calls: AtomicUsize::new(0),
            lifetime,
        });
        (provider.clone(), TokenCache::new(provider))
    }

    #[tokio::test]
    async fn cached_until_shortly_before_expiry() {
        let (provider, cache) = setup(Some(Duration::from_secs(3600)));
        let (a, fresh_a) = cache.token().await.unwrap();
        let (b, fresh_b) = cache.token().await.unwrap();
        assert_eq!(a.expose_secret(), b.expose_secret());
        assert!(!fresh_a && fresh_b);
        assert_eq!(provider.calls.load(Ordering::SeqCst), 1);

        // A lifetime shorter than the margin's quarter rule leaves nothing to cache.
        let (provider, cache) = setup(Some(Duration::ZERO));
        cache.token().await.unwrap();
        cache.token().await.unwrap();
        assert_eq!(provider.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn renew_fetches_once_for_a_rejected_token() {
        let (provider, cache) = setup(None);
        let (first, _) = cache.token().await.unwrap();
        let second = cache.renew(&first).await.unwrap();
        assert_eq!(second.expose_secret(), "token-2");
        // A second connection that also held token-1 gets token-2 without a new request.
        let again = cache.renew(&first).await.unwrap();
        assert_eq!(again.expose_secret(), "token-2");
        assert_eq!(provider.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_request() {
        let (provider, cache) = setup(Some(Duration::from_secs(600)));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.token().await.unwrap().0 })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().expose_secret(), "token-1");
        }
        assert_eq!(provider.calls.load(Ordering::SeqCst), 1);
    }
}
