//! `smtpcm outbox …` and the `--outbox` enqueue of `send`: the durable outbox from the
//! command line. The outbox itself is the `smtpcm-outbox` crate; this file holds the glue
//! to connection strings (SSIS layer) and the output.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use smtpcm::connection_manager::SmtpConnectionManager;
use smtpcm_engine::mime::PreparedMessage;
use smtpcm_outbox::worker::{self, Counters, WorkerConfig};
use smtpcm_outbox::{
    Action, Outbox, OutboxError, Settings, State, Status, Store, UnknownPolicy, now_ms,
};

use crate::TlsArgs;
use crate::exit::Exit;

/// `--db DB`, shared by every `outbox` subcommand.
#[derive(clap::Args, Debug, Clone)]
pub struct DbArg {
    /// The outbox: a SQLite file path, or a postgres:// URL. Default:
    /// $XDG_DATA_HOME/smtpcm/outbox.sqlite (~/.local/share/smtpcm/outbox.sqlite).
    #[arg(long, value_name = "DB")]
    db: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub struct OutboxArgs {
    #[command(subcommand)]
    command: OutboxCommand,
}

#[derive(clap::Subcommand, Debug)]
enum OutboxCommand {
    /// Deliver queued messages until stopped (Ctrl-C or SIGTERM finish the current ones).
    Worker(WorkerArgs),
    /// Counts per state, the age of the oldest message to deliver, unknown outcomes.
    Status(DbArg),
    /// List messages, oldest first.
    List(ListArgs),
    /// One message with each recipient's state and the last reply.
    Show(IdArgs),
    /// Queue a failed, expired, unknown or held message again now.
    Retry(IdArgs),
    /// Keep a queued or unknown message from being sent.
    Hold(IdArgs),
    /// Queue a held or unknown message again now (an unknown one may then arrive twice).
    Release(IdArgs),
    /// Delete sent, failed and expired messages queued longer ago than D.
    Purge(PurgeArgs),
    /// Show or set the outbox's policies (shared by every worker).
    Config(ConfigArgs),
}

#[derive(clap::Args, Debug)]
struct WorkerArgs {
    #[command(flatten)]
    db: DbArg,
    /// Messages sent at once, each over its own reused connection.
    #[arg(long, value_name = "K", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    concurrency: u32,
    /// Stop when nothing is left to deliver (held, unknown and failed messages stay).
    #[arg(long)]
    until_empty: bool,
    /// Messages each of the K connections claims at once and sends as one pipelined
    /// batch; also the most messages one killed worker connection can leave `unknown`.
    #[arg(long, value_name = "N", default_value_t = smtpcm_outbox::worker::DEFAULT_BATCH as u32,
          value_parser = clap::value_parser!(u32).range(1..=10000))]
    batch: u32,
    /// At most N messages per second to each relay.
    #[arg(long, value_name = "N")]
    rate_per_relay: Option<f64>,
    /// How long a claim lasts without renewal (a dead worker's messages are taken over after it).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    lease: Duration,
    /// The first retry delay after a temporary failure (doubled per attempt, with jitter).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    retry_initial: Duration,
    /// The longest retry delay.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    retry_max: Duration,
    #[command(flatten)]
    tls: TlsArgs,
}

#[derive(clap::Args, Debug)]
struct ListArgs {
    #[command(flatten)]
    db: DbArg,
    /// Only messages in this state.
    #[arg(long, value_name = "STATE")]
    state: Option<String>,
    /// At most N messages.
    #[arg(long, value_name = "N", default_value_t = 100)]
    limit: usize,
}

#[derive(clap::Args, Debug)]
struct IdArgs {
    /// The message's outbox id.
    id: i64,
    #[command(flatten)]
    db: DbArg,
}

#[derive(clap::Args, Debug)]
struct PurgeArgs {
    #[command(flatten)]
    db: DbArg,
    /// Age, e.g. 30d, 12h, 90m, 45s.
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    older_than: Duration,
}

#[derive(clap::Args, Debug)]
struct ConfigArgs {
    #[command(flatten)]
    db: DbArg,
    /// What to do when the connection is lost after the final dot: hold (default) or resend.
    #[arg(long, value_name = "hold|resend")]
    unknown_policy: Option<String>,
    /// Maximum age before an undelivered message expires (default 5d).
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    max_age: Option<Duration>,
}

/// `30d`, `12h`, `90m`, `45s`, `500ms`, or a number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 30d, 12h, 90m, 45s)"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => return Ok(Duration::from_millis(n)),
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => {
            return Err(format!(
                "{s:?}: unknown unit {unit:?} (use ms, s, m, h or d)"
            ));
        }
    };
    Ok(Duration::from_secs(secs))
}

/// The outbox named by `--outbox`/`--db`, or the default file.
pub fn db_name(given: Option<&str>) -> Result<String, (Exit, String)> {
    match given.filter(|g| !g.is_empty()) {
        Some(g) => Ok(g.to_owned()),
        None => smtpcm_outbox::sqlite::default_path()
            .map(|p| p.display().to_string())
            .ok_or_else(|| {
                (
                    Exit::Usage,
                    "no default outbox: neither XDG_DATA_HOME nor HOME is set; give a path".into(),
                )
            }),
    }
}

/// The exit code and message of an outbox failure.
pub fn explain(e: &OutboxError) -> (Exit, String) {
    let exit = match e {
        OutboxError::NotFound(_) | OutboxError::WrongState { .. } | OutboxError::Invalid(_) => {
            Exit::Usage
        }
        _ => Exit::Outbox,
    };
    (exit, e.to_string())
}

/// Queue `messages` (one transaction) for delivery through `connection`, and print what
/// was queued. The connection string is stored as given, with the value of any
/// secret-looking key replaced by `***` (the real secrets are only ever named, by
/// `PasswordEnv`, `TokenFile` and the like).
pub async fn enqueue(
    db: Option<&str>,
    messages: Vec<PreparedMessage>,
    connection: &str,
    dsn: &smtpcm_engine::smtp::Dsn,
) -> Result<Exit, (Exit, String)> {
    let db = db_name(db)?;
    let route = smtpcm::connection_string::redact(connection);
    let not_queued = |e: OutboxError| {
        let (exit, message) = explain(&e);
        (exit, format!("{message}; nothing was queued"))
    };
    let outbox = Outbox::open(&db, true).await.map_err(not_queued)?;
    let mut batch = Vec::with_capacity(messages.len());
    for m in &messages {
        let (mut new, body) = smtpcm_outbox::render::render(m, &route)
            .await
            .map_err(not_queued)?;
        new.dsn = dsn.clone();
        batch.push((new, body));
    }
    let queued = outbox.enqueue(batch, now_ms()).await.map_err(not_queued)?;
    for q in &queued {
        println!("queued  {}  {}  ({} bytes)", q.id, q.message_id, q.size);
    }
    println!("queued {} message(s) in {}", queued.len(), outbox.name());
    Ok(Exit::Sent)
}

/// `run --outbox`: each message the runner builds is rendered and committed to the outbox.
struct OutboxDeliver(Outbox);

impl smtpcm::run::Deliver for OutboxDeliver {
    fn deliver<'a>(
        &'a self,
        connection: &'a SmtpConnectionManager,
        message: &'a PreparedMessage,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>> + Send + 'a>>
    {
        Box::pin(async move {
            // As for `send --outbox`: the connection string, never a secret value.
            let route = smtpcm::connection_string::redact(&connection.connection_string());
            let not_queued = |e: OutboxError| format!("{e}; nothing was queued");
            let item = smtpcm_outbox::render::render(message, &route)
                .await
                .map_err(not_queued)?;
            let mut q = self
                .0
                .enqueue(vec![item], now_ms())
                .await
                .map_err(not_queued)?;
            let q = q.pop().ok_or("the outbox queued nothing")?;
            Ok(format!(
                "queued {} {} in {}",
                q.id,
                q.message_id,
                self.0.name()
            ))
        })
    }
}

/// The runner's hook for `run --outbox [DB]`.
pub async fn run_deliverer(db: &str) -> Result<smtpcm::run::Deliverer, String> {
    let name = db_name(Some(db)).map_err(|(_, m)| m)?;
    let outbox = Outbox::open(&name, true)
        .await
        .map_err(|e| format!("{e}; nothing was queued"))?;
    Ok(smtpcm::run::Deliverer(Arc::new(OutboxDeliver(outbox))))
}

pub async fn run(args: OutboxArgs) -> Exit {
    match command(args).await {
        Ok(exit) => exit,
        Err((exit, message)) => {
            eprintln!("smtpcm outbox: {message}");
            exit
        }
    }
}

async fn open(db: &DbArg, create: bool) -> Result<Outbox, (Exit, String)> {
    let name = db_name(db.db.as_deref())?;
    Outbox::open(&name, create).await.map_err(|e| explain(&e))
}

fn json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("\"{e}\""))
    );
}

fn status_json(s: &Status) -> serde_json::Value {
    let counts: serde_json::Map<String, serde_json::Value> = s
        .counts
        .iter()
        .map(|(st, n)| (st.as_str().to_owned(), (*n).into()))
        .collect();
    serde_json::json!({
        "counts": counts,
        "oldest_pending_age_secs": s.oldest_pending_age_secs,
        "unknown_events": s.unknown_events,
        "resent_after_unknown": s.resent_after_unknown,
        "unknown_policy": s.settings.unknown_policy.as_str(),
        "max_age_secs": s.settings.max_age.as_secs(),
    })
}

async fn command(args: OutboxArgs) -> Result<Exit, (Exit, String)> {
    let err = |e: OutboxError| explain(&e);
    match args.command {
        OutboxCommand::Worker(w) => worker_cmd(w).await,
        OutboxCommand::Status(db) => {
            let outbox = open(&db, false).await?;
            let s = outbox.status(now_ms()).await.map_err(err)?;
            if db.json {
                json(&status_json(&s));
            } else {
                for (st, n) in &s.counts {
                    println!("{:<8} {n}", st.as_str());
                }
                match s.oldest_pending_age_secs {
                    Some(a) => println!("oldest pending: {a} s"),
                    None => println!("oldest pending: none"),
                }
                println!(
                    "unknown outcomes: {} (resent after unknown: {}); policy {}, max age {} s",
                    s.unknown_events,
                    s.resent_after_unknown,
                    s.settings.unknown_policy.as_str(),
                    s.settings.max_age.as_secs()
                );
            }
            Ok(Exit::Sent)
        }
        OutboxCommand::List(l) => {
            let state = l
                .state
                .as_deref()
                .map(str::parse::<State>)
                .transpose()
                .map_err(|e| (Exit::Usage, format!("--state: {e}")))?;
            let outbox = open(&l.db, false).await?;
            let list = outbox.list(state, l.limit).await.map_err(err)?;
            if l.db.json {
                json(&serde_json::to_value(&list).unwrap_or_default());
            } else {
                for m in &list {
                    println!(
                        "{:>8}  {:<8} attempts {:<3} {}  {}",
                        m.id,
                        m.state.as_str(),
                        m.attempts,
                        m.message_id,
                        m.last_error.as_deref().unwrap_or("")
                    );
                }
            }
            Ok(Exit::Sent)
        }
        OutboxCommand::Show(i) => {
            let outbox = open(&i.db, false).await?;
            let d = outbox.show(i.id).await.map_err(err)?;
            if i.db.json {
                json(&serde_json::to_value(&d).unwrap_or_default());
            } else {
                let s = &d.summary;
                println!("id          {}", s.id);
                println!("message-id  {}", s.message_id);
                println!("state       {}", s.state);
                println!(
                    "attempts    {} (unknown outcomes {})",
                    s.attempts, s.unknown_count
                );
                println!("from        {}", s.sender);
                println!("size        {} bytes", s.size);
                println!("connection  {}", d.route);
                if let Some(e) = &s.last_error {
                    println!("last error  {e}");
                }
                for r in &d.recipients {
                    println!(
                        "  {:<9} {}  {}",
                        r.state.as_str(),
                        r.address,
                        r.reply.as_deref().unwrap_or("")
                    );
                }
            }
            Ok(Exit::Sent)
        }
        OutboxCommand::Retry(i) => act(i, Action::Retry).await,
        OutboxCommand::Hold(i) => act(i, Action::Hold).await,
        OutboxCommand::Release(i) => act(i, Action::Release).await,
        OutboxCommand::Purge(p) => {
            let outbox = open(&p.db, false).await?;
            let before = now_ms() - p.older_than.as_millis() as i64;
            let n = outbox.purge(before).await.map_err(err)?;
            if p.db.json {
                json(&serde_json::json!({ "purged": n }));
            } else {
                println!("purged {n} message(s)");
            }
            Ok(Exit::Sent)
        }
        OutboxCommand::Config(c) => {
            let outbox = open(&c.db, true).await?;
            let mut s: Settings = outbox.settings().await.map_err(err)?;
            if let Some(p) = &c.unknown_policy {
                s.unknown_policy = p
                    .parse::<UnknownPolicy>()
                    .map_err(|e| (Exit::Usage, format!("--unknown-policy: {e}")))?;
            }
            if let Some(a) = c.max_age {
                s.max_age = a;
            }
            if c.unknown_policy.is_some() || c.max_age.is_some() {
                outbox.set_settings(s).await.map_err(err)?;
            }
            if c.db.json {
                json(&serde_json::to_value(s).unwrap_or_default());
            } else {
                println!(
                    "unknown-policy {}\nmax-age {}s",
                    s.unknown_policy.as_str(),
                    s.max_age.as_secs()
                );
            }
            Ok(Exit::Sent)
        }
    }
}

async fn act(i: IdArgs, action: Action) -> Result<Exit, (Exit, String)> {
    let outbox = open(&i.db, false).await?;
    let state = outbox
        .act(i.id, action, now_ms())
        .await
        .map_err(|e| explain(&e))?;
    if i.db.json {
        json(&serde_json::json!({ "id": i.id, "state": state.as_str() }));
    } else {
        println!("{} {}: now {state}", action.as_str(), i.id);
    }
    Ok(Exit::Sent)
}

async fn worker_cmd(w: WorkerArgs) -> Result<Exit, (Exit, String)> {
    let outbox = Arc::new(open(&w.db, true).await?);
    let ca_file: Option<PathBuf> = w.tls.ca_file.clone();
    // Stored connection strings are parsed here, with the SSIS layer; their secrets are
    // read from the environment variables and files they name, on this machine.
    let router = move |route: &str| {
        let mut cm = SmtpConnectionManager::new("SMTP Connection Manager");
        cm.set_connection_string(route).map_err(|e| e.to_string())?;
        cm.set_extra_ca_file(ca_file.clone());
        cm.endpoint().map_err(|e| e.to_string())
    };
    let cfg = WorkerConfig {
        concurrency: w.concurrency as usize,
        until_empty: w.until_empty,
        batch: w.batch as usize,
        lease: w.lease,
        retry_initial: w.retry_initial,
        retry_max: w.retry_max,
        rate_per_relay: w.rate_per_relay,
        ..WorkerConfig::default()
    };
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            let term = async {
                #[cfg(unix)]
                if let Ok(mut s) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                {
                    s.recv().await;
                    return;
                }
                std::future::pending::<()>().await
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term => {}
            }
            eprintln!("smtpcm outbox worker: stopping after the messages in progress");
            stop.store(true, Ordering::Relaxed);
        });
    }
    let progress = {
        let counters = counters.clone();
        tokio::spawn(async move {
            let tty = std::io::stderr().is_terminal();
            let every = if tty {
                Duration::from_millis(500)
            } else {
                Duration::from_secs(5)
            };
            loop {
                tokio::time::sleep(every).await;
                let line = progress_line(&counters);
                if tty {
                    eprint!("\r{line}");
                } else {
                    eprintln!("{line}");
                }
            }
        })
    };
    let result = worker::run(
        outbox.clone(),
        Arc::new(router),
        cfg,
        counters.clone(),
        stop,
    )
    .await;
    progress.abort();
    if std::io::stderr().is_terminal() {
        eprint!("\r");
    }
    eprintln!("{}", progress_line(&counters));
    result.map_err(|e| explain(&e))?;
    Ok(Exit::Sent)
}

fn progress_line(c: &Counters) -> String {
    let g = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    format!(
        "outbox worker: sent {}, deferred {}, failed {}, unknown {}, expired {}, recipients rejected {}",
        g(&c.sent),
        g(&c.deferred),
        g(&c.failed),
        g(&c.unknown),
        g(&c.expired),
        g(&c.rejected_recipients)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_and_reject_garbage() {
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("3 weeks").is_err());
        assert!(parse_duration("d").is_err());
    }
}
