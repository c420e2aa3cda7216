//! `smtpcm send`: one message (or N copies) through a connection string.

use std::io::IsTerminal;
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use smtpcm::connection_manager::{SmtpConnectionManager, send_on_with_progress};
use smtpcm::send_mail::{MessageSourceType, NoPackage, SendMailTask};
use smtpcm_engine::mime::PreparedMessage;
use smtpcm_engine::pool::{Pool, PoolConfig, RetryPolicy};
use smtpcm_engine::smtp::{Dsn, DsnNotify, DsnRet, SendReport};

use crate::exit::{self, Exit};
use crate::{PriorityArg, TlsArgs};

/// Attachments at least this large get a progress bar (when stderr is a terminal).
const PROGRESS_THRESHOLD: u64 = 8 * 1024 * 1024;

#[derive(clap::Args, Debug)]
pub struct SendArgs {
    /// The SMTP connection string, e.g. "SmtpServer=mail.corp;UseWindowsAuthentication=False;EnableSsl=True;".
    #[arg(long, short = 'c', value_name = "CONNSTR")]
    connection: String,
    /// The sender.
    #[arg(long, value_name = "ADDR")]
    from: String,
    /// Recipients, separated by ';' or ','.
    #[arg(long, value_name = "LIST")]
    to: String,
    /// Copy recipients.
    #[arg(long, value_name = "LIST", default_value = "")]
    cc: String,
    /// Blind copy recipients (envelope only).
    #[arg(long, value_name = "LIST", default_value = "")]
    bcc: String,
    /// The subject.
    #[arg(long, value_name = "TEXT")]
    subject: String,
    /// The body text.
    #[arg(
        long,
        value_name = "TEXT",
        conflicts_with = "body_file",
        required_unless_present = "body_file"
    )]
    body: Option<String>,
    /// Read the body from this file (UTF-8).
    #[arg(long, value_name = "PATH")]
    body_file: Option<PathBuf>,
    /// Send the body as HTML instead of plain text.
    #[arg(long)]
    html: bool,
    /// Attach a file (repeatable). Files are streamed, never loaded whole.
    #[arg(long = "attach", value_name = "PATH")]
    attach: Vec<PathBuf>,
    /// Priority, mapped to X-Priority and Importance.
    #[arg(long, value_enum, default_value = "normal")]
    priority: PriorityArg,
    #[command(flatten)]
    tls: TlsArgs,
    /// Send N copies of the message (mail merge, load tests).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,
    /// Ask for delivery status notifications (RFC 3461): NEVER, or a comma-separated
    /// list of SUCCESS, FAILURE, DELAY. Sent only when the server offers DSN.
    #[arg(long, value_name = "WHEN")]
    dsn_notify: Option<DsnNotify>,
    /// What a failure report returns: FULL (the message) or HDRS (its headers).
    #[arg(long, value_name = "FULL|HDRS")]
    dsn_ret: Option<DsnRet>,
    /// An envelope ID the reports quote back (printable ASCII, at most 100 characters).
    #[arg(long, value_name = "ID")]
    dsn_envid: Option<String>,
    /// Spread the copies over K reused connections.
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=256))]
    parallel: u64,
}

fn print_report(report: &SendReport) {
    for r in &report.accepted {
        println!("accepted  {r}");
    }
    for r in &report.rejected {
        println!("rejected  {}  {}", r.recipient, r.reply);
    }
}

pub async fn run(args: SendArgs) -> Exit {
    match send(args).await {
        Ok(exit) => exit,
        Err((exit, message)) => {
            eprintln!("smtpcm send: {message}");
            exit
        }
    }
}

async fn send(args: SendArgs) -> Result<Exit, (Exit, String)> {
    let mut cm = SmtpConnectionManager::new("SMTP Connection Manager");
    let warnings = cm
        .set_connection_string(&args.connection)
        .map_err(|e| (Exit::Usage, e.to_string()))?;
    for w in warnings {
        eprintln!("smtpcm send: warning: {w}");
    }
    cm.set_extra_ca_file(args.tls.ca_file.clone());
    let dsn = Dsn {
        notify: args.dsn_notify,
        ret: args.dsn_ret,
        envid: args.dsn_envid.clone(),
    };
    dsn.check()
        .map_err(|e| (Exit::Usage, format!("--dsn-envid: {e}")))?;
    cm.set_dsn(dsn);

    let body = match (&args.body, &args.body_file) {
        (Some(text), _) => text.clone(),
        (None, Some(path)) => std::fs::read_to_string(path).map_err(|e| {
            (
                Exit::Usage,
                format!("cannot read --body-file {}: {e}", path.display()),
            )
        })?,
        (None, None) => return Err((Exit::Usage, "give --body or --body-file".into())),
    };
    let file_attachments = args
        .attach
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("|");
    let task = SendMailTask {
        name: "smtpcm send".into(),
        smtp_connection: cm.name.clone(),
        from_line: args.from.clone(),
        to_line: args.to.clone(),
        cc_line: args.cc.clone(),
        bcc_line: args.bcc.clone(),
        subject: args.subject.clone(),
        message_source_type: MessageSourceType::DirectInput,
        message_source: body,
        priority: args.priority.into(),
        file_attachments,
        body_is_html: args.html,
        ..SendMailTask::default()
    };
    let prepare = || {
        task.prepare(Some(&cm), &NoPackage)
            .map_err(|e| (exit::of_task(&e), e.to_string()))
    };
    let first = prepare()?;

    if args.count == 1 {
        let report = send_one(&cm, &first).await?;
        print_report(&report);
        println!("sent: {} ({} bytes)", report.reply, report.bytes);
        return Ok(if report.rejected.is_empty() {
            Exit::Sent
        } else {
            Exit::Partial
        });
    }
    batch(&cm, &task, args.count, args.parallel).await
}

async fn send_one(
    cm: &SmtpConnectionManager,
    message: &PreparedMessage,
) -> Result<SendReport, (Exit, String)> {
    let fail =
        |e: smtpcm::connection_manager::ConnectionError| (exit::of_connection(&e), e.to_string());
    let mut conn = cm.acquire().await.map_err(fail)?;
    if let Some(auth) = &conn.auth {
        eprintln!("authenticated as {} with {}", auth.identity, auth.mechanism);
    }
    let bar = progress_bar(message.attachment_bytes(), message.size());
    let report = {
        let bar = bar.clone();
        send_on_with_progress(&mut conn.client, message, move |n| {
            if let Some(b) = &bar {
                b.inc(n)
            }
        })
        .await
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let report = report.map_err(|e| fail(e.into()))?;
    if let Err(e) = conn.client.quit().await {
        tracing::debug!("QUIT after delivery failed: {e}");
    }
    Ok(report)
}

fn progress_bar(attachment_bytes: u64, total: u64) -> Option<ProgressBar> {
    if attachment_bytes < PROGRESS_THRESHOLD || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} sending [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    Some(bar)
}

/// Send `count` copies over `parallel` connections, each reused for its share.
async fn batch(
    cm: &SmtpConnectionManager,
    task: &SendMailTask,
    count: u64,
    parallel: u64,
) -> Result<Exit, (Exit, String)> {
    let parallel = parallel.min(count);
    let started = std::time::Instant::now();
    // The library's pool does the reuse, the NOOP probe and replacement of dead connections;
    // one worker per connection keeps every pooled connection busy.
    // Secrets are read here, once, before any connection is opened.
    let endpoint = cm
        .endpoint()
        .map_err(|e| (exit::of_connection(&e), e.to_string()))?;
    let pool = std::sync::Arc::new(Pool::new(
        endpoint,
        PoolConfig {
            max_connections: parallel as usize,
            retry: RetryPolicy::none(),
            ..PoolConfig::default()
        },
    ));
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..parallel {
        let share = count / parallel + u64::from(worker < count % parallel);
        let (pool, cm, task) = (pool.clone(), cm.clone(), task.clone());
        workers.spawn(async move {
            let (mut sent, mut partial) = (0u64, 0u64);
            for _ in 0..share {
                let message = task
                    .prepare(Some(&cm), &NoPackage)
                    .map_err(|e| (exit::of_task(&e), e.to_string()))?;
                let report = pool.send(&message).await.map_err(|e| {
                    let e = smtpcm::connection_manager::ConnectionError::from(e);
                    (
                        exit::of_connection(&e),
                        format!("after {sent} messages: {e}"),
                    )
                })?;
                sent += 1;
                partial += u64::from(!report.rejected.is_empty());
            }
            Ok::<_, (Exit, String)>((sent, partial))
        });
    }
    let (mut sent, mut partial, mut failure) = (0u64, 0u64, None);
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(Ok((s, p))) => {
                sent += s;
                partial += p;
            }
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(e) => failure = failure.or(Some((Exit::Internal, format!("worker failed: {e}")))),
        }
    }
    pool.close().await;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "sent {sent} of {count} messages over {parallel} connection(s) in {secs:.3} s ({:.0} msg/s); {partial} with rejected recipients",
        sent as f64 / secs.max(1e-9)
    );
    match failure {
        Some(e) => Err(e),
        None if partial > 0 => Ok(Exit::Partial),
        None => Ok(Exit::Sent),
    }
}
