//! `smtpcm demo`: the whole path on one machine, with nothing to configure.
//!
//! A capture server starts on a free loopback port with a freshly generated
//! certificate; a Send Mail task sends a message with an attachment through an
//! SMTP connection manager over STARTTLS; the demo then prints what arrived and
//! checks the attachment came through byte for byte.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use smtpcm::connection_manager::SmtpConnectionManager;
use smtpcm::send_mail::{MessageSourceType, NoPackage, SendMailTask};
use smtpcm_engine::mime::Priority;
use smtpcm_sink::{Sink, SinkConfig, escape_controls};

use crate::exit::{self, Exit};

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Keep the captured message and files in this directory instead of a temporary one.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    /// Size of the generated attachment in bytes (at most 67108864, 64 MiB).
    #[arg(
        long,
        default_value_t = 256 * 1024,
        value_name = "BYTES",
        value_parser = clap::value_parser!(u64).range(..=MAX_ATTACHMENT_SIZE)
    )]
    attachment_size: u64,
}

/// The largest `--attachment-size`: the demo holds the attachment in memory twice (the
/// source and the captured copy), so an absurd size must be refused before anything is
/// created, not run into an allocation failure that aborts the process.
pub const MAX_ATTACHMENT_SIZE: u64 = 64 * 1024 * 1024;

pub async fn run(args: DemoArgs) -> Exit {
    // Ctrl-C must not skip the temporary directory's removal: the demo is cancelled here,
    // and dropping it removes the directory. `biased` polls (and so registers) the signal
    // handler before the demo creates anything.
    tokio::select! {
        biased;
        Ok(()) = tokio::signal::ctrl_c() => fail(Exit::Interrupted, "interrupted".into()),
        exit = run_in_dir(args) => exit,
    }
}

async fn run_in_dir(args: DemoArgs) -> Exit {
    let temp;
    let dir = match &args.keep {
        Some(d) => d.clone(),
        None => match tempfile::tempdir() {
            Ok(t) => {
                temp = t;
                temp.path().to_path_buf()
            }
            Err(e) => {
                return fail(
                    Exit::Internal,
                    format!("cannot create a temporary directory: {e}"),
                );
            }
        },
    };
    let size = usize::try_from(args.attachment_size).unwrap_or(usize::MAX);
    match demo(&dir, size).await {
        Ok(()) => Exit::Sent,
        Err((code, msg)) => fail(code, msg),
    }
}

fn fail(code: Exit, msg: String) -> Exit {
    eprintln!("smtpcm demo: {msg}");
    code
}

async fn demo(dir: &Path, attachment_size: usize) -> Result<(), (Exit, String)> {
    let io = |what: &str, e: std::io::Error| (Exit::Internal, format!("{what}: {e}"));
    let inbox = dir.join("inbox");
    std::fs::create_dir_all(&inbox).map_err(|e| io("cannot create inbox", e))?;

    // A capture server on a free loopback port, offering STARTTLS with a generated certificate.
    let config = SinkConfig {
        dir: Some(inbox.clone()),
        ..SinkConfig::default()
    };
    let mut sink = Sink::start(config)
        .await
        .map_err(|e| io("cannot start the capture server", e))?;
    let ca_file = dir.join("demo-ca.pem");
    sink.write_ca_file(&ca_file)
        .map_err(|e| io("cannot write the CA file", e))?;
    println!(
        "capture server listening on {} (STARTTLS, CA {})",
        sink.local_addr(),
        ca_file.display()
    );

    // An attachment whose bytes are not trivially compressible, so a mangled byte would show.
    let attachment = dir.join("quarterly-report.bin");
    let data = pseudo_random_bytes(attachment_size);
    std::fs::write(&attachment, &data).map_err(|e| io("cannot write the attachment", e))?;

    let connection_string = format!(
        "SmtpServer=localhost;UseWindowsAuthentication=False;EnableSsl=True;Port={};",
        sink.local_addr().port()
    );
    let mut cm = SmtpConnectionManager::with_connection_string(
        "SMTP Connection Manager",
        &connection_string,
    )
    .map_err(|e| (Exit::Usage, e.to_string()))?;
    cm.set_extra_ca_file(Some(ca_file));
    println!("connection manager: {}", cm.connection_string());

    let task = SendMailTask {
        name: "Send Mail Task".into(),
        smtp_connection: cm.name.clone(),
        from_line: "\"ETL Server\" <etl@demo.test>".into(),
        to_line: "ops@demo.test; \"Doe, Jane\" <jane@demo.test>".into(),
        cc_line: "audit@demo.test".into(),
        bcc_line: "archive@demo.test".into(),
        subject: "Nightly load finished — 3 files, 0 errors".into(),
        message_source_type: MessageSourceType::DirectInput,
        message_source:
            "Hello,\n\nthe nightly load finished without errors.\nThe report is attached.\n".into(),
        priority: Priority::High,
        file_attachments: attachment.to_string_lossy().into_owned(),
        body_is_html: false,
        ..SendMailTask::default()
    };
    let report = task
        .execute(&cm, &NoPackage)
        .await
        .map_err(|e| exit::explain_task(&e))?;
    // What the server and the message say is printed with control characters escaped.
    println!(
        "server answered: {}",
        escape_controls(&report.reply.to_string())
    );
    for r in &report.accepted {
        println!("  accepted {}", escape_controls(r));
    }

    let captured = sink.next_message(Duration::from_secs(10)).await.ok_or((
        Exit::Internal,
        "the capture server received no message".to_string(),
    ))?;
    sink.shutdown().await;
    println!();
    println!("=== what arrived ===");
    println!(
        "envelope: MAIL FROM:<{}>",
        escape_controls(&captured.mail_from)
    );
    for r in &captured.rcpt_to {
        println!("          RCPT TO:<{}>", escape_controls(r));
    }
    println!(
        "transport: {}",
        if captured.tls {
            "STARTTLS (encrypted)"
        } else {
            "plain text"
        }
    );
    let raw = match (&captured.data, &captured.path) {
        (Some(d), _) => d.clone(),
        (None, Some(p)) => {
            std::fs::read(p).map_err(|e| io("cannot read the captured message", e))?
        }
        (None, None) => return Err((Exit::Internal, "the captured message was not stored".into())),
    };
    if let Some(p) = &captured.path {
        println!("saved as:  {}", p.display());
    }
    println!("size:      {} bytes", raw.len());
    println!();
    let parts = summarize(&raw);
    let mut attachment_ok = false;
    for part in &parts {
        println!("{}", part.describe());
        if part.filename.as_deref() == Some("quarterly-report.bin") {
            attachment_ok = part.decoded == data;
            println!(
                "    decoded {} bytes: {}",
                part.decoded.len(),
                if attachment_ok {
                    "identical to the source file"
                } else {
                    "DIFFERENT from the source file"
                }
            );
        }
    }
    if !captured.tls {
        return Err((Exit::Internal, "the message did not travel over TLS".into()));
    }
    if !attachment_ok {
        return Err((
            Exit::Internal,
            "the attachment did not arrive intact".into(),
        ));
    }
    println!();
    println!("demo ok: message delivered over STARTTLS, attachment intact");
    Ok(())
}

fn pseudo_random_bytes(len: usize) -> Vec<u8> {
    // xorshift: deterministic, dependency-free, and incompressible enough for a demo.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// One leaf MIME part as received: its headers and decoded content.
struct Part {
    headers: Vec<String>,
    filename: Option<String>,
    decoded: Vec<u8>,
}

impl Part {
    fn describe(&self) -> String {
        let mut out = String::new();
        for h in &self.headers {
            out.push_str(&escape_controls(h));
            out.push('\n');
        }
        if self.filename.is_none() {
            let text = String::from_utf8_lossy(&self.decoded);
            for line in text.lines().take(12) {
                out.push_str("    | ");
                out.push_str(&escape_controls(line));
                out.push('\n');
            }
        }
        out
    }
}

/// Headers of the whole message and each leaf part; a display aid, not a full MIME parser.
fn summarize(raw: &[u8]) -> Vec<Part> {
    let mut parts = Vec::new();
    walk(raw, true, &mut parts);
    parts
}

fn walk(entity: &[u8], top: bool, out: &mut Vec<Part>) {
    let text = String::from_utf8_lossy(entity);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let headers = unfold(head);
    let header = |name: &str| {
        headers
            .iter()
            .find(|h| {
                h.to_ascii_lowercase()
                    .starts_with(&format!("{}:", name.to_ascii_lowercase()))
            })
            .cloned()
    };
    let content_type = header("Content-Type").unwrap_or_default();
    let shown: Vec<String> = if top {
        headers.clone()
    } else {
        headers
            .iter()
            .filter(|h| h.to_ascii_lowercase().starts_with("content-"))
            .cloned()
            .collect()
    };
    if let Some(boundary) = param(&content_type, "boundary") {
        if top {
            out.push(Part {
                headers: shown,
                filename: Some(String::new()),
                decoded: Vec::new(),
            });
        }
        let delimiter = format!("--{boundary}");
        for chunk in body.split(delimiter.as_str()).skip(1) {
            if chunk.starts_with("--") {
                break;
            }
            let chunk = chunk.strip_prefix("\r\n").unwrap_or(chunk);
            let chunk = chunk.strip_suffix("\r\n").unwrap_or(chunk);
            walk(chunk.as_bytes(), false, out);
        }
        return;
    }
    let encoding = header("Content-Transfer-Encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let decoded = if encoding.contains("base64") {
        let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact)
            .unwrap_or_default()
    } else {
        body.as_bytes().to_vec()
    };
    let filename = header("Content-Disposition").and_then(|d| param(&d, "filename"));
    out.push(Part {
        headers: shown,
        filename,
        decoded,
    });
}

fn unfold(head: &str) -> Vec<String> {
    let mut headers: Vec<String> = Vec::new();
    for line in head.split("\r\n") {
        match headers.last_mut() {
            Some(last) if line.starts_with([' ', '\t']) => {
                last.push(' ');
                last.push_str(line.trim());
            }
            _ => headers.push(line.to_string()),
        }
    }
    headers
}

fn param(header: &str, name: &str) -> Option<String> {
    header.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}
