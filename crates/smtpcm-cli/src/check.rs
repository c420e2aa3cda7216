//! `smtpcm check`: connect, negotiate TLS and EHLO, authenticate, report. Sends no mail.

use smtpcm::connection_manager::SmtpConnectionManager;

use crate::TlsArgs;
use crate::exit::{self, Exit};

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The SMTP connection string.
    #[arg(value_name = "CONNSTR")]
    connection: String,
    #[command(flatten)]
    tls: TlsArgs,
}

pub async fn run(args: CheckArgs) -> Exit {
    let mut cm = SmtpConnectionManager::new("SMTP Connection Manager");
    match cm.set_connection_string(&args.connection) {
        Ok(warnings) => warnings
            .iter()
            .for_each(|w| eprintln!("smtpcm check: warning: {w}")),
        Err(e) => {
            eprintln!("smtpcm check: {e}");
            return Exit::Usage;
        }
    }
    if let Err(e) = crate::preflight::check(&cm, args.tls.ca_file.as_deref()) {
        eprintln!("smtpcm check: {e}");
        return Exit::Usage;
    }
    cm.set_extra_ca_file(args.tls.ca_file);
    let config = match cm.client_config() {
        Ok(c) => c,
        Err(e) => {
            let (exit, message) = exit::explain_connection(&e);
            eprintln!("smtpcm check: {message}");
            return exit;
        }
    };
    println!("connection string: {}", cm.connection_string());
    println!(
        "server:            {}:{} (TLS mode {})",
        config.host, config.port, config.tls
    );
    let conn = match cm.acquire().await {
        Ok(c) => c,
        Err(e) => {
            let (exit, message) = exit::explain_connection(&e);
            eprintln!("smtpcm check: {message}");
            return exit;
        }
    };
    let client = &conn.client;
    println!("greeting:          {}", client.greeting());
    println!(
        "tls:               {}",
        client
            .tls_info()
            .unwrap_or_else(|| "none (plain text)".into())
    );
    match &conn.auth {
        Some(auth) => {
            println!(
                "authenticated:     as {} with {}",
                auth.identity, auth.mechanism
            );
            if let Some(note) = &auth.fallback_note {
                println!("                   ({note})");
            }
        }
        None => println!("authenticated:     no (anonymous)"),
    }
    println!("capabilities:");
    let caps = client.capabilities();
    for line in &caps.lines {
        println!("  {line}");
    }
    if let Err(e) = conn.client.quit().await {
        tracing::debug!("QUIT failed: {e}");
    }
    Exit::Sent
}
