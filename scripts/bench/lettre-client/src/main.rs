//! The lettre peer of `scripts/bench.sh`: the code a lettre user would write.
//!
//! ```text
//! lettre-client HOST PORT one-connection N      N messages of 1 KiB body, pooled transport
//! lettre-client HOST PORT per-message N         N messages, connect/EHLO/send/QUIT each
//! lettre-client HOST PORT attachment FILE       one message with FILE attached
//! ```
//! Prints `sent N in S s (R msg/s)` on success; exits 1 with the error otherwise.

use std::time::{Duration, Instant};

use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart, SinglePart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::client::SmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use lettre::{Message, SmtpTransport, Transport};

const FROM: &str = "bench@example.com";
const TO: &str = "sink@example.com";

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("lettre-client: {e}");
        std::process::exit(1);
    }
}

fn run(args: &[String]) -> Result<()> {
    let [host, port, mode, arg] = args else {
        return Err(
            "usage: lettre-client HOST PORT one-connection|per-message|attachment N|FILE".into(),
        );
    };
    let port: u16 = port.parse()?;
    let started = Instant::now();
    let sent = match mode.as_str() {
        "one-connection" => one_connection(host, port, arg.parse()?)?,
        "per-message" => per_message(host, port, arg.parse()?)?,
        "attachment" => attachment(host, port, arg)?,
        other => return Err(format!("unknown mode {other:?}").into()),
    };
    let secs = started.elapsed().as_secs_f64();
    println!(
        "sent {sent} in {secs:.3} s ({:.0} msg/s)",
        sent as f64 / secs
    );
    Ok(())
}

fn small_message() -> Result<Message> {
    Ok(Message::builder()
        .from(FROM.parse()?)
        .to(TO.parse()?)
        .subject("bench")
        .header(ContentType::TEXT_PLAIN)
        .body(body_1k())?)
}

/// 1024 bytes of body text in lines of 64 (63 characters and a newline).
fn body_1k() -> String {
    let line = format!("{}\n", "x".repeat(63));
    line.repeat(16)
}

/// The default transport keeps its connections in a pool, so one is reused for every message.
fn one_connection(host: &str, port: u16, count: u64) -> Result<u64> {
    let mailer = SmtpTransport::builder_dangerous(host)
        .port(port)
        .pool_config(PoolConfig::new().max_size(1))
        .build();
    for _ in 0..count {
        mailer.send(&small_message()?)?;
    }
    Ok(count)
}

/// A transport without a pool does exactly this for each message.
fn per_message(host: &str, port: u16, count: u64) -> Result<u64> {
    let hello = ClientId::default();
    for _ in 0..count {
        let message = small_message()?;
        let mut conn = SmtpConnection::connect(
            (host, port),
            Some(Duration::from_secs(60)),
            &hello,
            None,
            None,
        )?;
        conn.send(message.envelope(), &message.formatted())?;
        conn.quit()?;
    }
    Ok(count)
}

fn attachment(host: &str, port: u16, path: &str) -> Result<u64> {
    let data = std::fs::read(path)?;
    let message = Message::builder()
        .from(FROM.parse()?)
        .to(TO.parse()?)
        .subject("bench attachment")
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain("See the attachment.".to_string()))
                .singlepart(
                    Attachment::new("big.bin".to_string())
                        .body(data, ContentType::parse("application/octet-stream")?),
                ),
        )?;
    let mailer = SmtpTransport::builder_dangerous(host)
        .port(port)
        .timeout(Some(Duration::from_secs(600)))
        .build();
    mailer.send(&message)?;
    Ok(1)
}
