//! The token providers behind [`super::token_cache`]: client credentials, refresh token
//! (with rotation written back), and an external command.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use smtpcm_engine::auth::credentials::SecretSource;
use smtpcm_engine::auth::token::{
    AccessToken, TokenError, TokenFailure, TokenFuture, TokenProvider,
};

use super::http::{Http, scrub};
use super::{Grant, OAuthPlan};

/// How long `TokenCommand` may run before it is killed.
pub const TOKEN_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// The most output `TokenCommand` may print (a token is a few KiB at most).
pub const TOKEN_COMMAND_MAX_OUTPUT: usize = 64 * 1024;

pub(super) fn provider(
    plan: OAuthPlan,
    extra_ca_file: Option<&Path>,
) -> Result<Arc<dyn TokenProvider>, TokenError> {
    Ok(match &plan.grant {
        Grant::Command(command) => Arc::new(CommandProvider {
            command: command.clone(),
        }),
        _ => Arc::new(EndpointProvider(Arc::new(Endpoint {
            http: Http::new(extra_ca_file)?,
            plan,
            endpoints: Mutex::new(None),
        }))),
    })
}

struct Endpoint {
    http: Http,
    plan: OAuthPlan,
    /// The token endpoint once known (discovery runs once).
    endpoints: Mutex<Option<String>>,
}

/// Client credentials or refresh token against a token endpoint.
struct EndpointProvider(Arc<Endpoint>);

impl std::fmt::Debug for EndpointProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EndpointProvider({})", self.0.plan.describe())
    }
}

impl TokenProvider for EndpointProvider {
    fn fetch(&self) -> TokenFuture<'_> {
        let inner = self.0.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || inner.fetch_blocking())
                .await
                .map_err(|e| {
                    TokenError::new(
                        TokenFailure::Endpoint,
                        None,
                        format!("token request task failed: {e}"),
                    )
                })?
        })
    }

    fn describe(&self) -> String {
        self.0.plan.describe()
    }
}

impl Endpoint {
    fn token_url(&self) -> Result<String, TokenError> {
        let mut known = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(url) = known.as_ref() {
            return Ok(url.clone());
        }
        let (token, _) = self.plan.endpoints(&self.http)?;
        *known = Some(token.clone());
        Ok(token)
    }

    fn fetch_blocking(&self) -> Result<AccessToken, TokenError> {
        let url = self.token_url()?;
        let secret = self.plan.load_client_secret()?;
        let client_id = self.plan.client_id.clone().unwrap_or_default();
        match &self.plan.grant {
            Grant::RefreshToken(file) => {
                let refresh = read_refresh_token(file)?;
                let mut form = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh.expose_secret()),
                    ("client_id", client_id.as_str()),
                ];
                if let Some(s) = &secret {
                    form.push(("client_secret", s.expose_secret()));
                }
                if let Some(scope) = &self.plan.scope {
                    form.push(("scope", scope));
                }
                let secrets: Vec<&SecretString> =
                    std::iter::once(&refresh).chain(secret.as_ref()).collect();
                let json = self
                    .http
                    .post_form(&url, "OAuthTokenUrl", &form, &secrets)?;
                let token = access_token(&url, &json)?;
                if let Some(rotated) = json.get("refresh_token").and_then(|v| v.as_str())
                    && rotated != refresh.expose_secret()
                {
                    store_refresh_token(file, &SecretString::from(rotated.to_string()))?;
                    tracing::info!(
                        "the token endpoint rotated the refresh token; stored the new one in {}",
                        file.display()
                    );
                }
                Ok(token)
            }
            _ => {
                let Some(s) = &secret else {
                    return Err(TokenError::new(
                        TokenFailure::Config,
                        None,
                        "client credentials need OAuthClientSecretEnv= or OAuthClientSecretFile="
                            .into(),
                    ));
                };
                let mut form = vec![
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id.as_str()),
                    ("client_secret", s.expose_secret()),
                ];
                if let Some(scope) = &self.plan.scope {
                    form.push(("scope", scope));
                }
                let json = self.http.post_form(&url, "OAuthTokenUrl", &form, &[s])?;
                access_token(&url, &json)
            }
        }
    }
}

/// The `access_token` and `expires_in` of a successful token response.
pub(crate) fn access_token(url: &str, json: &serde_json::Value) -> Result<AccessToken, TokenError> {
    let secret = json
        .get("access_token")
        .and_then(|v| v.as_str())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            TokenError::new(
                TokenFailure::Endpoint,
                None,
                format!("{url} answered without an access_token"),
            )
        })?;
    let expires_in = json
        .get("expires_in")
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .map(Duration::from_secs);
    Ok(AccessToken {
        secret: SecretString::from(secret.to_string()),
        expires_in,
    })
}

fn read_refresh_token(file: &Path) -> Result<SecretString, TokenError> {
    if !file.exists() {
        return Err(TokenError::new(
            TokenFailure::Config,
            None,
            format!(
                "OAuthRefreshTokenFile {} does not exist: run `smtpcm oauth login --connection ...` \
                 to sign in and create it",
                file.display()
            ),
        ));
    }
    SecretSource::File {
        path: file.to_path_buf(),
        key: "OAuthRefreshTokenFile".into(),
    }
    .load("refresh token")
    .map_err(|e| TokenError::new(TokenFailure::Config, None, e.to_string()))
}

/// Writes a refresh token to `file` atomically, mode 0600.
pub(crate) fn store_refresh_token(file: &Path, token: &SecretString) -> Result<(), TokenError> {
    let mut bytes = token.expose_secret().as_bytes().to_vec();
    bytes.push(b'\n');
    crate::files::atomic_write_private(file, &bytes).map_err(|e| {
        TokenError::new(
            TokenFailure::Config,
            None,
            format!("cannot store the refresh token (OAuthRefreshTokenFile): {e}"),
        )
    })
}

/// `TokenCommand`: `sh -c COMMAND`, its first line of output is the token.
struct CommandProvider {
    command: String,
}

impl std::fmt::Debug for CommandProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The command line may carry a secret.
        f.write_str("CommandProvider")
    }
}

fn command_error(message: String) -> TokenError {
    TokenError::new(
        TokenFailure::Command,
        None,
        format!("TokenCommand {message}"),
    )
}

impl TokenProvider for CommandProvider {
    fn fetch(&self) -> TokenFuture<'_> {
        Box::pin(async move {
            use tokio::io::AsyncReadExt;
            let mut child = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(&self.command)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| command_error(format!("could not start: {e}")))?;
            let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
                return Err(command_error("has no output pipes".into()));
            };
            let cap = TOKEN_COMMAND_MAX_OUTPUT as u64 + 1;
            let run = async {
                let (mut out, mut err) = (Vec::new(), Vec::new());
                let (mut stdout, mut stderr) = (stdout.take(cap), stderr.take(cap));
                let (a, b) =
                    tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err));
                a.and(b)?;
                let status = child.wait().await?;
                Ok::<_, std::io::Error>((status, out, err))
            };
            let (status, out, err) = match tokio::time::timeout(TOKEN_COMMAND_TIMEOUT, run).await {
                Err(_) => {
                    return Err(command_error(format!(
                        "did not finish within {} s (killed)",
                        TOKEN_COMMAND_TIMEOUT.as_secs()
                    )));
                }
                Ok(Err(e)) => return Err(command_error(format!("failed: {e}"))),
                Ok(Ok(done)) => done,
            };
            if out.len() > TOKEN_COMMAND_MAX_OUTPUT {
                return Err(command_error(format!(
                    "printed more than {TOKEN_COMMAND_MAX_OUTPUT} bytes"
                )));
            }
            let text = String::from_utf8_lossy(&out);
            let token = text.lines().next().unwrap_or("").trim().to_string();
            if !status.success() {
                let secret = SecretString::from(token);
                let first = String::from_utf8_lossy(&err);
                let first = first
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(200)
                    .collect::<String>();
                return Err(command_error(format!(
                    "failed ({status}){}",
                    if first.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", scrub(&first, &[&secret]))
                    }
                )));
            }
            if token.is_empty() {
                return Err(command_error("printed no token".into()));
            }
            Ok(AccessToken {
                secret: SecretString::from(token),
                expires_in: None,
            })
        })
    }

    fn describe(&self) -> String {
        "TokenCommand".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(cmd: &str) -> CommandProvider {
        CommandProvider {
            command: cmd.into(),
        }
    }

    #[tokio::test]
    async fn token_command_output_status_and_cap() {
        let t = command("printf 'tok-123\\nignored\\n'")
            .fetch()
            .await
            .unwrap();
        assert_eq!(t.secret.expose_secret(), "tok-123");
        let e = command("echo oops >&2; exit 3").fetch().await.unwrap_err();
        assert_eq!(e.failure, TokenFailure::Command);
        assert!(e.to_string().contains("oops"), "{e}");
        let e = command("true").fetch().await.unwrap_err();
        assert_eq!(e.to_string(), "TokenCommand printed no token");
        let e = command("head -c 70000 /dev/zero | tr '\\0' a")
            .fetch()
            .await
            .unwrap_err();
        assert!(e.to_string().contains("more than 65536 bytes"), "{e}");
    }

    #[test]
    fn rotated_refresh_token_is_written_0600() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("refresh");
        std::fs::write(&file, "old\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        store_refresh_token(&file, &SecretString::from("new-token".to_string())).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "new-token\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
}
