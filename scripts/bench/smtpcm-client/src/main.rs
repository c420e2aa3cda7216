//! `smtpcm-client HOST PORT per-message N`: N messages of 1 KiB body, each on its own
//! connection (connect, EHLO, MAIL/RCPT/DATA, QUIT), through the smtpcm library.
//!
//! `smtpcm send --count N` reuses connections; this is the case it does not cover.
//! Prints `sent N in S s (R msg/s)`; exits 1 with the error otherwise.

use std::time::Instant;

use smtpcm::connection_manager::SmtpConnectionManager;
use smtpcm::send_mail::{MessageSourceType, NoPackage, SendMailTask};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

// One message after another needs no worker threads; with the default multi-thread runtime
// every reply would be read by a worker and handed to the main thread, a thread switch per
// round trip.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args).await {
        eprintln!("smtpcm-client: {e}");
        std::process::exit(1);
    }
}

async fn run(args: &[String]) -> Result<()> {
    let [host, port, mode, count] = args else {
        return Err("usage: smtpcm-client HOST PORT per-message N".into());
    };
    if mode != "per-message" {
        return Err(format!("unknown mode {mode:?} (only per-message)").into());
    }
    let count: u64 = count.parse()?;
    let cm = SmtpConnectionManager::with_connection_string(
        "bench",
        &format!("SmtpServer={host};Port={port};UseWindowsAuthentication=False;EnableSsl=False;"),
    )?;
    let task = SendMailTask {
        name: "bench".into(),
        smtp_connection: cm.name.clone(),
        from_line: "bench@example.com".into(),
        to_line: "sink@example.com".into(),
        subject: "bench".into(),
        message_source_type: MessageSourceType::DirectInput,
        message_source: format!("{}\n", "x".repeat(63)).repeat(16),
        ..SendMailTask::default()
    };
    let started = Instant::now();
    for _ in 0..count {
        // As `smtpcm send --count` does: each copy is prepared anew (own Message-ID and Date).
        let message = task.prepare(Some(&cm), &NoPackage)?;
        cm.send(&message).await?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "sent {count} in {secs:.3} s ({:.0} msg/s)",
        count as f64 / secs
    );
    Ok(())
}
