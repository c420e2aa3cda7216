//! `smtpcm oauth login`: the OAuth 2.0 device flow, storing the refresh token in the
//! connection string's `OAuthRefreshTokenFile` (mode 0600).

use std::io::Write;

use smtpcm::connection_string::ConnectionString;
use smtpcm::oauth::device;
use smtpcm_engine::auth::token::{TokenError, TokenFailure};

use crate::TlsArgs;
use crate::exit::Exit;

#[derive(clap::Args, Debug)]
pub struct OAuthArgs {
    #[command(subcommand)]
    command: OAuthCommand,
}

#[derive(clap::Subcommand, Debug)]
enum OAuthCommand {
    /// Sign in with the device flow: prints a URL and a code, waits until the code is
    /// entered there, and stores the refresh token in OAuthRefreshTokenFile (mode 0600).
    Login(LoginArgs),
}

#[derive(clap::Args, Debug)]
struct LoginArgs {
    /// The connection string with the OAuth keys (OAuthClientId, OAuthIssuer or
    /// OAuthTokenUrl or OAuthProvider, OAuthRefreshTokenFile, ...).
    #[arg(long, value_name = "CONNSTR")]
    connection: String,
    #[command(flatten)]
    tls: TlsArgs,
}

/// The exit code of a failed token request: settings are a usage error (2); everything
/// else means no credentials could be had (8).
pub fn exit_of(e: &TokenError) -> Exit {
    match e.failure {
        TokenFailure::Config => Exit::Usage,
        _ => Exit::NoCredentials,
    }
}

pub async fn run(args: OAuthArgs) -> Exit {
    let OAuthCommand::Login(args) = args.command;
    let cs: ConnectionString = match args.connection.parse() {
        Ok(cs) => cs,
        Err(e) => {
            eprintln!("smtpcm: --connection: {e}");
            return Exit::Usage;
        }
    };
    let ca = args.tls.ca_file.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        device::login(&cs, ca.as_deref(), |prompt| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "To sign in, open {} and enter the code {}",
                prompt.verification_uri, prompt.user_code
            );
            if let Some(complete) = &prompt.verification_uri_complete {
                let _ = writeln!(out, "(or open {complete})");
            }
            let _ = writeln!(
                out,
                "Waiting for the sign-in; the code expires in {} s.",
                prompt.expires_in.as_secs()
            );
            let _ = out.flush();
        })
    })
    .await;
    match outcome {
        Ok(Ok(done)) => {
            println!(
                "Signed in; refresh token stored in {}{}",
                done.refresh_token_file.display(),
                done.scope
                    .map(|s| format!(" (scope \"{s}\")"))
                    .unwrap_or_default()
            );
            Exit::Sent
        }
        Ok(Err(e)) => {
            eprintln!("smtpcm: oauth login: {e}");
            exit_of(&e)
        }
        Err(e) => {
            eprintln!("smtpcm: oauth login: internal error: {e}");
            Exit::Internal
        }
    }
}
