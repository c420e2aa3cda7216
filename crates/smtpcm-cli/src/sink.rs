//! `smtpcm sink`: a capture server for users, on loopback by default.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use smtpcm_sink::{DEFAULT_MAX_RECIPIENTS, Sink, SinkConfig, escape_controls};

use crate::exit::Exit;

/// Default `--max-size`: large enough for the attachments ETL jobs send, small enough that a
/// runaway client cannot fill the disk with one message.
const DEFAULT_MAX_SIZE: u64 = 50 * 1024 * 1024;

#[derive(clap::Args, Debug)]
pub struct SinkArgs {
    /// Address to listen on. A non-loopback address also needs --allow-remote.
    #[arg(long, default_value = "127.0.0.1:2525", value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// Accept a --listen address that other machines can reach (anyone who can connect can
    /// then store mail in --dir). A warning is printed.
    #[arg(long)]
    allow_remote: bool,
    /// Directory for the captured messages (.eml); created if missing.
    #[arg(long, default_value = "smtpcm-sink", value_name = "DIR")]
    dir: PathBuf,
    /// Where to write the generated CA certificate (PEM) that clients should trust
    /// (default: DIR/sink-ca.pem). A symbolic link there is refused, never written through.
    #[arg(long, value_name = "PATH")]
    ca_out: Option<PathBuf>,
    /// Stop after this many messages (at least 1; default: run until interrupted).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_messages: Option<u64>,
    /// Largest message accepted, in bytes; advertised as SIZE in the EHLO reply, larger
    /// messages get 552.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_SIZE,
          value_parser = clap::value_parser!(u64).range(1..))]
    max_size: u64,
    /// Recipients accepted per message; more get 452 "too many recipients".
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_RECIPIENTS,
          value_parser = parse_max_recipients)]
    max_recipients: usize,
}

fn parse_max_recipients(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

pub async fn run(args: SinkArgs) -> Exit {
    // IPv4-mapped IPv6 loopback (::ffff:127.0.0.1) is loopback too.
    if !args.listen.ip().to_canonical().is_loopback() {
        if !args.allow_remote {
            eprintln!(
                "smtpcm sink: --listen {} is reachable from other machines; add --allow-remote \
                 to accept mail from them",
                args.listen
            );
            return Exit::Usage;
        }
        eprintln!(
            "smtpcm sink: warning: listening on {}, which other machines can reach; anyone who \
             can connect can store mail in {}",
            args.listen,
            args.dir.display()
        );
    }
    if let Err(e) = std::fs::create_dir_all(&args.dir) {
        eprintln!("smtpcm sink: cannot create {}: {e}", args.dir.display());
        return Exit::Usage;
    }
    let config = SinkConfig {
        listen: args.listen,
        dir: Some(args.dir.clone()),
        max_size: Some(args.max_size),
        max_recipients: args.max_recipients,
        ..SinkConfig::default()
    };
    let mut handle = match Sink::start(config).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("smtpcm sink: cannot listen on {}: {e}", args.listen);
            return Exit::Connection;
        }
    };
    let ca_path = args.ca_out.unwrap_or_else(|| args.dir.join("sink-ca.pem"));
    if let Err(e) = handle.write_ca_file(&ca_path) {
        eprintln!("smtpcm sink: {e}");
        return Exit::Usage;
    }
    println!(
        "listening on {} (STARTTLS offered; trust {}); saving to {}",
        handle.local_addr(),
        ca_path.display(),
        args.dir.display()
    );
    let mut seen = 0u64;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            captured = handle.next_message(Duration::from_secs(3600)) => {
                let Some(m) = captured else { continue };
                seen += 1;
                // Addresses come from the client: never let them drive the terminal. A closed
                // stdout (`| head`) is no reason to stop capturing.
                let _ = writeln!(
                    std::io::stdout(),
                    "message {seen}: from <{}> to {} ({} bytes, {}) -> {}",
                    escape_controls(&m.mail_from),
                    m.rcpt_to
                        .iter()
                        .map(|r| format!("<{}>", escape_controls(r)))
                        .collect::<Vec<_>>()
                        .join(", "),
                    m.size,
                    if m.tls { "TLS" } else { "plain text" },
                    m.path.as_ref().map(|p| p.display().to_string()).unwrap_or_default()
                );
                if args.max_messages.is_some_and(|max| seen >= max) {
                    break;
                }
            }
        }
    }
    handle.shutdown().await;
    Exit::Sent
}
