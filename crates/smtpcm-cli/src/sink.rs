//! `smtpcm sink`: a capture server for users, on loopback by default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use smtpcm_sink::{Sink, SinkConfig};

use crate::exit::Exit;

#[derive(clap::Args, Debug)]
pub struct SinkArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:2525", value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// Directory for the captured messages (.eml); created if missing.
    #[arg(long, default_value = "smtpcm-sink", value_name = "DIR")]
    dir: PathBuf,
    /// Where to write the generated CA certificate (PEM) that clients should trust.
    #[arg(long, value_name = "PATH")]
    ca_out: Option<PathBuf>,
    /// Stop after this many messages (default: run until interrupted).
    #[arg(long, value_name = "N")]
    max_messages: Option<u64>,
}

pub async fn run(args: SinkArgs) -> Exit {
    if let Err(e) = std::fs::create_dir_all(&args.dir) {
        eprintln!("smtpcm sink: cannot create {}: {e}", args.dir.display());
        return Exit::Usage;
    }
    let config = SinkConfig {
        listen: args.listen,
        dir: Some(args.dir.clone()),
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
                println!(
                    "message {seen}: from <{}> to {} ({} bytes, {}) -> {}",
                    m.mail_from,
                    m.rcpt_to.iter().map(|r| format!("<{r}>")).collect::<Vec<_>>().join(", "),
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
