//! `smtpcm designer`: serve the browser designer for packages, `.conmgr` files and project
//! folders (the `smtpcm-designer` crate).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::exit::Exit;

#[derive(clap::Args, Debug)]
pub struct DesignerArgs {
    /// Packages (.dtsx), .conmgr files and project folders to open (default: the current folder).
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Allow a --listen address that is not loopback (anyone who can reach it and has the
    /// token can edit your files).
    #[arg(long)]
    allow_remote: bool,
    /// Extra CA certificates (PEM) trusted by Test connection and Send test message.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
}

pub async fn run(args: DesignerArgs) -> Exit {
    if !args.listen.ip().is_loopback() {
        if !args.allow_remote {
            eprintln!(
                "smtpcm designer: --listen {}: not a loopback address; add --allow-remote to serve it anyway",
                args.listen
            );
            return Exit::Usage;
        }
        eprintln!(
            "smtpcm designer: warning: listening on {}, which is not loopback: anyone who can reach it and learns the token can edit the open files",
            args.listen
        );
    }
    let designer = match smtpcm_designer::Designer::bind(smtpcm_designer::DesignerOptions {
        paths: args.paths,
        listen: args.listen,
        token: None,
        ca_file: args.ca_file,
    })
    .await
    {
        Ok(d) => d,
        Err(e) => {
            eprintln!("smtpcm designer: cannot listen on {}: {e}", args.listen);
            return Exit::Usage;
        }
    };
    let mut out = std::io::stdout().lock();
    // Scripts and tests read this one line to find the server.
    if writeln!(out, "designer: {}", designer.url())
        .and_then(|()| out.flush())
        .is_err()
    {
        return Exit::Internal;
    }
    drop(out);
    match designer.serve().await {
        Ok(()) => Exit::Sent,
        Err(e) => {
            eprintln!("smtpcm designer: {e}");
            Exit::Internal
        }
    }
}
