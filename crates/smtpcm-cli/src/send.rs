//! `smtpcm send`: one message (or N copies) through a connection string.

use std::io::IsTerminal;
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use smtpcm::connection_manager::{SmtpConnectionManager, send_on_with_progress};
use smtpcm::send_mail::{MessageSourceType, SendMailTask, TaskError, check_attachment};
use smtpcm_engine::endpoint::envelope_for;
use smtpcm_engine::mime::{Attachment, BodyFile, INLINE_BODY_MAX, Message, PreparedMessage};
use smtpcm_engine::pool::{Pool, PoolConfig, RetryPolicy};
use smtpcm_engine::smtp::{Dsn, DsnNotify, DsnRet, Outcome, PipelineConfig, SendReport};
use smtpcm_engine::{Endpoint, SendError};

use crate::exit::{self, Exit};
use crate::{PriorityArg, TlsArgs};

/// Messages up to this size are rendered in memory and pipelined with `--count`; larger
/// ones are streamed one at a time, so memory stays bounded whatever the attachment.
const PIPELINE_MAX_MESSAGE: u64 = 1024 * 1024;

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
    /// The body text (with an HTML body: its text alternative).
    #[arg(
        long,
        value_name = "TEXT",
        conflicts_with = "body_file",
        required_unless_present_any = ["body_file", "html_body", "html_body_file"]
    )]
    body: Option<String>,
    /// Read the body from this file (UTF-8 text). A regular file is streamed (over 1 MiB,
    /// as base64), never loaded whole; a pipe or device is read whole, up to 8 MiB.
    #[arg(long, value_name = "PATH")]
    body_file: Option<PathBuf>,
    /// Send the body as HTML instead of plain text.
    #[arg(long)]
    html: bool,
    #[command(flatten)]
    html_args: crate::html_args::HtmlArgs,
    /// Attach a file (repeatable; one path each, `|` is part of the name). Files are
    /// streamed, never loaded whole.
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
    /// Queue the message in a durable outbox instead of sending it (a SQLite file path or
    /// a postgres:// URL; without a value, $XDG_DATA_HOME/smtpcm/outbox.sqlite). Exit 0
    /// means queued: committed durably. `smtpcm outbox worker` delivers it.
    #[arg(long, value_name = "DB", num_args = 0..=1, default_missing_value = "")]
    outbox: Option<String>,
    /// Spread the copies over K reused connections.
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=256))]
    parallel: u64,
    /// With --count: how many messages per connection may await the server's reply when
    /// it offers CHUNKING (BDAT). With PIPELINING alone each message waits for one round
    /// trip; without it, for every command.
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=1024))]
    window: u64,
}

impl SendArgs {
    /// Whether one connection does all the work, so a single-threaded runtime serves it
    /// without cross-thread wake-ups.
    pub fn single_connection(&self) -> bool {
        self.parallel == 1 || self.count == 1
    }
}

fn print_report(report: &SendReport) {
    for r in &report.accepted {
        println!("accepted  {r}");
    }
    // A 4xx recipient was not refused for good: the server may take it later.
    for r in &report.rejected {
        let verdict = if r.reply.is_transient() {
            "deferred"
        } else {
            "rejected"
        };
        println!("{verdict}  {}  {}", r.recipient, r.reply);
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
    crate::preflight::check(&cm, args.tls.ca_file.as_deref()).map_err(|e| (Exit::Usage, e))?;
    cm.set_extra_ca_file(args.tls.ca_file.clone());
    let dsn = Dsn {
        notify: args.dsn_notify,
        ret: args.dsn_ret,
        envid: args.dsn_envid.clone(),
    };
    dsn.check()
        .map_err(|e| (Exit::Usage, format!("--dsn-envid: {e}")))?;
    cm.set_dsn(dsn);

    // A --body-file is streamed by the message writer, like an attachment.
    let (body, body_file) = match (&args.body, &args.body_file) {
        (Some(text), _) => (text.clone(), None),
        (None, Some(path)) => (String::new(), Some(path.clone())),
        (None, None) if args.html_args.has_html() => (String::new(), None),
        (None, None) => return Err((Exit::Usage, "give --body or --body-file".into())),
    };
    let mut task = SendMailTask {
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
        // One `--attach` is one file, whatever characters its path holds: the attachments
        // go straight into the message instead of through the `|`-separated SSIS field.
        file_attachments: String::new(),
        body_is_html: args.html,
        ..SendMailTask::default()
    };
    // With an HTML body, --body/--body-file are its text alternative.
    let html_file = crate::html_args::apply(&args.html_args, body_file.as_deref(), &mut task)
        .map_err(|e| (Exit::Usage, e))?;
    let body_file = if args.html_args.has_html() {
        None
    } else {
        body_file
    };
    let composed = Composed {
        task,
        attachments: args.attach.clone(),
        body_file,
        html_file,
        resolver: crate::html_args::CliResolver {
            vars: args.html_args.var.clone(),
        },
        html_base_dir: args
            .html_args
            .html_body_file
            .as_deref()
            .and_then(std::path::Path::parent)
            .map(std::path::Path::to_path_buf),
    };
    let first = composed
        .prepare(&cm)
        .map_err(|e| exit::explain_task(&crate::html_args::name_body(e, &args.html_args)))?;

    if let Some(db) = &args.outbox {
        // Each copy is prepared on its own, so each gets its own Message-ID.
        let mut messages = vec![first];
        for _ in 1..args.count {
            messages.push(composed.prepare(&cm).map_err(|e| {
                exit::explain_task(&crate::html_args::name_body(e, &args.html_args))
            })?);
        }
        // The DSN flags are stored with each message (checked above); DSN keys of the
        // connection string travel in the stored connection string.
        let dsn = Dsn {
            notify: args.dsn_notify,
            ret: args.dsn_ret,
            envid: args.dsn_envid.clone(),
        };
        return crate::outbox_cmd::enqueue(Some(db), messages, &args.connection, &dsn).await;
    }

    if args.count == 1 {
        let report = send_one(&cm, &first).await?;
        print_report(&report);
        println!("sent: {} ({} bytes)", report.reply, report.bytes);
        return Ok(exit::of_report(&report));
    }
    if first.size() > PIPELINE_MAX_MESSAGE {
        return batch(&cm, &composed, args.count, args.parallel).await;
    }
    let composed = composed.body_read_once();
    pipelined(
        &cm,
        &composed,
        args.count,
        args.parallel,
        args.window as usize,
    )
    .await
}

/// The Send Mail task plus what the command line adds to it.
#[derive(Clone)]
struct Composed {
    task: SendMailTask,
    /// `--attach` paths, one file each.
    attachments: Vec<PathBuf>,
    /// `--body-file`, streamed (it replaces the task's empty body).
    body_file: Option<PathBuf>,
    /// `--html-body-file` when no template or CSS inlining needs it read here: the message
    /// writer reads it (size-capped) and resolves its images.
    html_file: Option<PathBuf>,
    /// `--var` values for templates.
    resolver: crate::html_args::CliResolver,
    /// Where relative image paths of a rendered `--html-body-file` are looked up.
    html_base_dir: Option<PathBuf>,
}

impl Composed {
    /// For many copies: a `--body-file` small enough to be sent inline (a regular file of
    /// at most [`INLINE_BODY_MAX`] bytes of UTF-8) is read once and becomes the body text,
    /// which the engine renders exactly as it renders such a file, instead of being opened
    /// and read again for every copy. Anything else is left to the engine, as before.
    fn body_read_once(mut self) -> Self {
        use std::io::Read;
        let Some(path) = &self.body_file else {
            return self;
        };
        let Ok(file) = std::fs::File::open(path) else {
            return self;
        };
        if !file
            .metadata()
            .is_ok_and(|m| m.is_file() && m.len() <= INLINE_BODY_MAX)
        {
            return self;
        }
        let mut bytes = Vec::new();
        if file
            .take(INLINE_BODY_MAX + 1)
            .read_to_end(&mut bytes)
            .is_err()
            || bytes.len() as u64 > INLINE_BODY_MAX
        {
            return self;
        }
        if let Ok(text) = String::from_utf8(bytes) {
            self.task.message_source = text;
            self.body_file = None;
        }
        self
    }

    /// Validate as SSIS does (each attachment included) and build the streamed message.
    fn prepare(&self, cm: &SmtpConnectionManager) -> Result<PreparedMessage, TaskError> {
        Ok(self.build(cm)?.prepare()?)
    }

    /// Validate as SSIS does and build the message, not yet prepared: each
    /// [`Message::prepare`] of it is a new copy, with its own Message-ID and Date.
    fn build(&self, cm: &SmtpConnectionManager) -> Result<Message, TaskError> {
        self.task.validate(Some(cm))?;
        for path in &self.attachments {
            check_attachment(path)?;
        }
        let mut message = self.task.build_message(&self.resolver)?;
        message
            .attachments
            .extend(self.attachments.iter().map(Attachment::new));
        if let Some(path) = &self.body_file {
            message.text_body = None;
            message.html_body = None;
            message.body_file = Some(BodyFile {
                path: path.clone(),
                html: self.task.body_is_html,
            });
        }
        if message.html_base_dir.is_none() {
            message.html_base_dir = self.html_base_dir.clone();
        }
        if let Some(path) = &self.html_file {
            // The text alternative (text_body) stays.
            message.html_body = None;
            message.body_file = Some(BodyFile::html(path));
        }
        Ok(message)
    }
}

async fn send_one(
    cm: &SmtpConnectionManager,
    message: &PreparedMessage,
) -> Result<SendReport, (Exit, String)> {
    let fail = |e: smtpcm::connection_manager::ConnectionError| exit::explain_connection(&e);
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

/// Send `count` copies over `parallel` connections, each with its share pipelined
/// ([`Pipeline`]): one round trip per message with PIPELINING, none with CHUNKING.
async fn pipelined(
    cm: &SmtpConnectionManager,
    composed: &Composed,
    count: u64,
    parallel: u64,
    window: usize,
) -> Result<Exit, (Exit, String)> {
    let parallel = parallel.min(count);
    let started = std::time::Instant::now();
    // Secrets are read here, once, before any connection is opened.
    let endpoint = cm
        .endpoint()
        .map_err(|e| (exit::of_connection(&e), e.to_string()))?;
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..parallel {
        let share = count / parallel + u64::from(worker < count % parallel);
        let (endpoint, cm, composed) = (endpoint.clone(), cm.clone(), composed.clone());
        workers
            .spawn(async move { pipeline_share(&endpoint, &cm, &composed, share, window).await });
    }
    let mut tally = Tally::default();
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(t) => tally.add(t),
            Err(e) => {
                tally.failure = tally
                    .failure
                    .take()
                    .or(Some((Exit::Internal, format!("worker failed: {e}"))))
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "sent {} of {count} messages over {parallel} connection(s) in {secs:.3} s ({:.0} msg/s); {} with rejected recipients",
        tally.sent,
        tally.sent as f64 / secs.max(1e-9),
        tally.partial
    );
    if tally.unknown > 0 {
        println!(
            "{} message(s) may or may not have been delivered (connection lost after their end was sent)",
            tally.unknown
        );
    }
    match tally.failure {
        Some((exit, message)) => Err((exit, message)),
        None if tally.partial > 0 => Ok(Exit::Partial),
        None => Ok(Exit::Sent),
    }
}

/// What one connection's share came to.
#[derive(Default)]
struct Tally {
    sent: u64,
    partial: u64,
    unknown: u64,
    /// The first failure, explained.
    failure: Option<(Exit, String)>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.sent += other.sent;
        self.partial += other.partial;
        self.unknown += other.unknown;
        self.failure = self.failure.take().or(other.failure);
    }

    fn fail(&mut self, exit: Exit, message: String) {
        if self.failure.is_none() {
            self.failure = Some((exit, message));
        }
    }

    fn record(&mut self, outcome: Outcome) {
        match outcome.result {
            Ok(report) => {
                self.sent += 1;
                self.partial += u64::from(exit::of_report(&report) == Exit::Partial);
            }
            Err(e) => {
                self.unknown += u64::from(e.is_delivery_unknown());
                let e = smtpcm::connection_manager::ConnectionError::from(SendError::Smtp(e));
                let (exit, message) = exit::explain_connection(&e);
                self.fail(exit, format!("message {}: {message}", outcome.id + 1));
            }
        }
    }
}

/// One connection's share: each copy rendered into a reused buffer and submitted; the
/// batch stops at the first failure, as the unpipelined path does.
async fn pipeline_share(
    endpoint: &Endpoint,
    cm: &SmtpConnectionManager,
    composed: &Composed,
    share: u64,
    window: usize,
) -> Tally {
    let mut tally = Tally::default();
    let mut conn = match endpoint.connect().await {
        Ok(conn) => conn,
        Err(e) => {
            let (exit, message) = exit::explain_connection(&e.into());
            tally.fail(exit, message);
            return tally;
        }
    };
    // Validated and built once.
    let template = match composed.build(cm) {
        Ok(m) => m,
        Err(e) => {
            let (exit, message) = exit::explain_task(&e);
            tally.fail(exit, message);
            return tally;
        }
    };
    // Rendered once; each copy only gets its own Message-ID and Date.
    let first = match template.prepare() {
        Ok(m) => m,
        Err(e) => {
            let (exit, message) = exit::explain_task(&e.into());
            tally.fail(exit, message);
            return tally;
        }
    };
    let mut pipeline = conn.client.pipeline(PipelineConfig { window });
    let mut content = Vec::new();
    for _ in 0..share {
        let message = first.renewed();
        content.clear();
        if let Err(e) = message.write_to(&mut content).await {
            let (exit, message) = exit::explain_connection(&SendError::Mime(e).into());
            tally.fail(exit, message);
            break;
        }
        pipeline.submit(&envelope_for(&message), &content).await;
        for outcome in pipeline.outcomes() {
            tally.record(outcome);
        }
        if tally.failure.is_some() {
            break;
        }
    }
    for outcome in pipeline.finish().await {
        tally.record(outcome);
    }
    if let Err(e) = conn.client.quit().await {
        tracing::debug!("QUIT after the batch failed: {e}");
    }
    tally
}

/// Send `count` copies over `parallel` connections, each reused for its share, one message
/// at a time (for messages too large to render in memory).
async fn batch(
    cm: &SmtpConnectionManager,
    composed: &Composed,
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
        let (pool, cm, composed) = (pool.clone(), cm.clone(), composed.clone());
        workers.spawn(async move {
            let (mut sent, mut partial) = (0u64, 0u64);
            for _ in 0..share {
                let message = composed.prepare(&cm).map_err(|e| exit::explain_task(&e))?;
                let report = pool.send(&message).await.map_err(|e| {
                    let e = smtpcm::connection_manager::ConnectionError::from(e);
                    let (exit, message) = exit::explain_connection(&e);
                    (exit, format!("after {sent} messages: {message}"))
                })?;
                sent += 1;
                partial += u64::from(exit::of_report(&report) == Exit::Partial);
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
