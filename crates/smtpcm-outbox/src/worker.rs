//! The worker: claims due messages, delivers them over reused connections, and records
//! each recipient's outcome.
//!
//! What is retried is decided by the engine's one predicate,
//! [`SendError::is_retryable`]; a connection lost after the final dot
//! ([`SmtpError::is_delivery_unknown`]) is never retried blindly: the outbox's
//! [`UnknownPolicy`](crate::model::UnknownPolicy) decides.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use smtpcm_engine::smtp::{Envelope, ErrorKind, PipelineConfig, SendReport, SmtpError};
use smtpcm_engine::{Connection, Endpoint, SendError};
use tokio::io::AsyncWriteExt;

use crate::error::{OutboxError, Result};
use crate::model::{Claimed, Completion, RecipientState, Settings, State, now_ms};
pub use crate::outcome::{backoff, decide};
use crate::store::{CHUNK_BYTES, Store};

/// Turns a stored route into an [`Endpoint`]. The CLI's router parses the connection
/// string with the SSIS layer and reads the secrets it names (environment variables or
/// files) on the worker's machine; the outbox itself never stores a secret.
pub trait Router: Send + Sync + 'static {
    /// The endpoint for `route`, or a one-line reason it cannot be used.
    fn endpoint(&self, route: &str) -> std::result::Result<Endpoint, String>;
}

impl<F> Router for F
where
    F: Fn(&str) -> std::result::Result<Endpoint, String> + Send + Sync + 'static,
{
    fn endpoint(&self, route: &str) -> std::result::Result<Endpoint, String> {
        self(route)
    }
}

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Messages delivered at once, each on its own reused connection.
    pub concurrency: usize,
    /// Stop once nothing is `queued` or `sending` (held, unknown and failed ones stay).
    pub until_empty: bool,
    /// How long a claim holds; renewed while the worker lives.
    pub lease: Duration,
    /// Messages claimed per transaction by each of the `concurrency` tasks. Small ones are
    /// claimed ready and sent as one pipelined batch, so this is also the most messages a
    /// killed worker task can leave `unknown` (see [`Store::claim`]).
    pub batch: usize,
    /// The first retry delay; doubled per attempt, up to `retry_max`, with jitter.
    pub retry_initial: Duration,
    /// The longest retry delay.
    pub retry_max: Duration,
    /// Messages per second to one relay (host:port), over all tasks; `None` is unlimited.
    pub rate_per_relay: Option<f64>,
    /// How long to wait when nothing is due.
    pub idle_poll: Duration,
    /// This worker's name in leases.
    pub owner: String,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 4,
            until_empty: false,
            lease: Duration::from_secs(60),
            batch: DEFAULT_BATCH,
            retry_initial: Duration::from_secs(60),
            retry_max: Duration::from_secs(3600),
            rate_per_relay: None,
            idle_poll: Duration::from_millis(500),
            owner: default_owner(),
        }
    }
}

/// The default [`WorkerConfig::batch`]: large enough that a claim's fsync is shared by
/// many messages, small enough that a crash leaves few of them unknown.
pub const DEFAULT_BATCH: usize = 64;

/// `host:pid:random`, unique per worker process.
pub fn default_owner() -> String {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}:{}:{}", std::process::id(), &id[..8])
}

/// Running totals, for the progress line.
#[derive(Debug, Default)]
pub struct Counters {
    /// Messages finished as sent.
    pub sent: AtomicU64,
    /// Attempts deferred (4xx, lost before the dot) and queued again.
    pub deferred: AtomicU64,
    /// Messages failed (5xx).
    pub failed: AtomicU64,
    /// Connections lost after the final dot.
    pub unknown: AtomicU64,
    /// Messages expired.
    pub expired: AtomicU64,
    /// Recipients refused for good.
    pub rejected_recipients: AtomicU64,
}

impl Counters {
    fn add(&self, c: &AtomicU64) {
        let _ = self;
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Spaces sends to each relay at most `rate` per second, over all tasks of a worker.
struct Limiter {
    interval: Option<Duration>,
    next: std::sync::Mutex<HashMap<String, Instant>>,
}

impl Limiter {
    async fn wait(&self, relay: &str) {
        let Some(interval) = self.interval else {
            return;
        };
        let slot = {
            let Ok(mut next) = self.next.lock() else {
                return;
            };
            let now = Instant::now();
            let slot = next.get(relay).copied().unwrap_or(now).max(now);
            next.insert(relay.to_owned(), slot + interval);
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }
}

struct Shared<S: Store> {
    store: Arc<S>,
    router: Arc<dyn Router>,
    cfg: WorkerConfig,
    settings: Settings,
    counters: Arc<Counters>,
    limiter: Limiter,
    endpoints: std::sync::Mutex<HashMap<String, std::result::Result<Endpoint, String>>>,
    stop: Arc<AtomicBool>,
    /// Delivery tasks still running (see `task`).
    active: AtomicUsize,
}

/// Run a worker until `stop` is set, or (with `until_empty`) until nothing is left to
/// deliver. A database error stops it with that error; what was committed stays.
pub async fn run<S: Store>(
    store: Arc<S>,
    router: Arc<dyn Router>,
    cfg: WorkerConfig,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
) -> Result<()> {
    let settings = store.settings().await?;
    let cfg_concurrency = cfg.concurrency.max(1);
    let shared = Arc::new(Shared {
        limiter: Limiter {
            interval: cfg
                .rate_per_relay
                .filter(|r| *r > 0.0)
                .map(|r| Duration::from_secs_f64(1.0 / r)),
            next: Default::default(),
        },
        store,
        router,
        cfg,
        settings,
        counters,
        endpoints: Default::default(),
        stop,
        active: AtomicUsize::new(cfg_concurrency),
    });
    shared.store.recover(now_ms(), shared.settings).await?;
    let mut tasks = tokio::task::JoinSet::new();
    // Housekeeping: keep our leases alive, take over expired ones, expire old messages.
    let housekeeping = {
        let s = shared.clone();
        tasks.spawn(async move {
            let every = (s.cfg.lease / 3).max(Duration::from_millis(200));
            let mut last = Instant::now();
            while !s.stop.load(Ordering::Relaxed) {
                // Short naps, so a stopping worker is not held up by a long lease period.
                tokio::time::sleep(Duration::from_millis(100)).await;
                if last.elapsed() < every {
                    continue;
                }
                last = Instant::now();
                let now = now_ms();
                s.store
                    .renew(&s.cfg.owner, now + s.cfg.lease.as_millis() as i64)
                    .await?;
                let n = s.store.recover(now, s.settings).await?;
                if n > 0 {
                    tracing::info!("took over or expired {n} message(s)");
                }
            }
            Ok(())
        })
    };
    for _ in 0..cfg_concurrency {
        let s = shared.clone();
        tasks.spawn(async move { task(s).await });
    }
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        let r = match joined {
            Ok(r) => r,
            Err(e) if e.is_cancelled() => Ok(()),
            Err(e) => Err(OutboxError::Invalid(format!("worker task: {e}"))),
        };
        if let Err(e) = r {
            shared.stop.store(true, Ordering::Relaxed);
            first_error.get_or_insert(e);
        }
        // With every delivery task done, housekeeping has nothing left to keep: stop it
        // now rather than at its next nap's end (a tenth of a second on every run).
        if tasks.len() == 1 {
            shared.stop.store(true, Ordering::Relaxed);
            housekeeping.abort();
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Outcomes being recorded while the next messages go out.
type Recording = tokio::task::JoinHandle<Result<bool>>;

/// Wait for an outcome's commit; a lost lease is only logged.
async fn recorded(h: Option<Recording>) -> Result<()> {
    let Some(h) = h else { return Ok(()) };
    match h.await {
        Ok(Ok(true)) => Ok(()),
        Ok(Ok(false)) => {
            tracing::warn!("a message's lease was lost before its outcome was recorded");
            Ok(())
        }
        Ok(Err(e)) => Err(e),
        Err(e) => Err(OutboxError::Invalid(format!("recording an outcome: {e}"))),
    }
}

/// Count `completions`, then record them in one commit in the background, once the
/// previous recording is done (so outcomes are committed in order).
async fn record<S: Store>(
    s: &Shared<S>,
    prev: &mut Option<Recording>,
    completions: Vec<(i64, Completion)>,
) -> Result<()> {
    for (_, c) in &completions {
        count(&s.counters, c);
    }
    recorded(prev.take()).await?;
    if completions.is_empty() {
        return Ok(());
    }
    let (store, owner) = (s.store.clone(), s.cfg.owner.clone());
    *prev = Some(tokio::spawn(async move {
        let n = completions.len() as u64;
        Ok(store.complete_many(&owner, completions).await? == n)
    }));
    Ok(())
}

fn count(counters: &Counters, c: &Completion) {
    counters.rejected_recipients.fetch_add(
        c.recipients
            .iter()
            .filter(|r| r.1 == RecipientState::Rejected)
            .count() as u64,
        Ordering::Relaxed,
    );
    if c.unknown {
        counters.add(&counters.unknown);
    }
    match c.state {
        State::Sent => counters.add(&counters.sent),
        State::Failed => counters.add(&counters.failed),
        State::Expired => counters.add(&counters.expired),
        State::Queued if !c.unknown => counters.add(&counters.deferred),
        _ => {}
    }
}

async fn task<S: Store>(s: Arc<Shared<S>>) -> Result<()> {
    let mut conn: Option<(String, Connection)> = None;
    let mut prev: Option<Recording> = None;
    // Small messages are claimed ready and pipelined, unless sends are rate-limited: then
    // each is marked just before its dot, so a crash leaves at most one unknown per task.
    let ready_max = if s.limiter.interval.is_some() {
        0
    } else {
        CHUNK_BYTES as u64
    };
    // The next batch is claimed while this one goes out, so the claim's commit is not a
    // pause on the wire. Both batches count toward what a crash can leave unknown.
    let mut ahead: Option<tokio::task::JoinHandle<Result<Vec<Claimed>>>> = None;
    loop {
        let batch = match ahead.take() {
            Some(h) => h
                .await
                .map_err(|e| OutboxError::Invalid(format!("claiming messages: {e}")))??,
            None if s.stop.load(Ordering::Relaxed) => break,
            None => claim(&s, ready_max).await?,
        };
        if batch.is_empty() {
            recorded(prev.take()).await?;
            // With --until-empty, a task with nothing to claim leaves while another is still
            // delivering (that one sees any retry through); the last one waits for retries
            // until nothing is pending. Without this, tasks would nap at the tail.
            if s.stop.load(Ordering::Relaxed)
                || (s.cfg.until_empty
                    && (s
                        .active
                        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |a| {
                            (a > 1).then(|| a - 1)
                        })
                        .is_ok()
                        || !s.store.has_pending().await?))
            {
                break;
            }
            tokio::time::sleep(s.cfg.idle_poll).await;
            continue;
        }
        // A stopping worker delivers what it holds and claims nothing more.
        if !s.stop.load(Ordering::Relaxed) {
            let s = s.clone();
            ahead = Some(tokio::spawn(async move { claim(&s, ready_max).await }));
        }
        let (ready, streamed): (Vec<_>, Vec<_>) =
            batch.into_iter().partition(|m| m.ready.is_some());
        // Consecutive ready messages with the same route share one pipelined session.
        let mut ready = ready.into_iter().peekable();
        while let Some(first) = ready.next() {
            let mut group = vec![first];
            while let Some(m) = ready.next_if(|m| m.route == group[0].route) {
                group.push(m);
            }
            deliver_ready(&s, &mut conn, &mut prev, group).await?;
        }
        for msg in streamed {
            deliver(&s, &mut conn, &mut prev, msg).await?;
        }
    }
    recorded(prev.take()).await?;
    if let Some((_, c)) = conn {
        let _ = c.client.quit().await;
    }
    Ok(())
}

async fn claim<S: Store>(s: &Shared<S>, ready_max: u64) -> Result<Vec<Claimed>> {
    let now = now_ms();
    s.store
        .claim(
            &s.cfg.owner,
            s.cfg.batch.max(1),
            now,
            now + s.cfg.lease.as_millis() as i64,
            ready_max,
        )
        .await
}

/// Messages claimed ready (their bytes at hand, their dot marks durable) with one route:
/// one pipelined batch over the task's connection, one commit for all their outcomes.
async fn deliver_ready<S: Store>(
    s: &Shared<S>,
    conn: &mut Option<(String, Connection)>,
    prev: &mut Option<Recording>,
    group: Vec<Claimed>,
) -> Result<()> {
    let route = &group[0].route;
    let endpoint = match endpoint(s, route) {
        Ok(e) => e,
        Err(reason) => {
            let all = group
                .iter()
                .map(|m| (m.id, unusable_route(&reason)))
                .collect();
            return record(s, prev, all).await;
        }
    };
    // The task's connection, held here and handed back unless the session broke.
    let mut c = match conn.take() {
        Some((r, c)) if r == *route => c,
        other => {
            if let Some((_, old)) = other {
                let _ = old.client.quit().await;
            }
            match endpoint.connect().await {
                Ok(c) => c,
                Err(e) => {
                    // Nothing was sent: each message is decided on the one connect error.
                    let now = now_ms();
                    let all = group
                        .iter()
                        .map(|m| (m.id, decide(m, Err(&e), now, &s.settings, &s.cfg)))
                        .collect();
                    return record(s, prev, all).await;
                }
            }
        }
    };
    let envelopes: Vec<Envelope> = group.iter().map(envelope).collect();
    // Collected first: a closure in the iterator would make the future not `Send`.
    let mut batch: Vec<(&Envelope, &[u8])> = Vec::with_capacity(group.len());
    for (e, m) in envelopes.iter().zip(&group) {
        batch.push((e, m.ready.as_deref().unwrap_or_default()));
    }
    let outcomes = c.client.send_batch(batch, PipelineConfig::default()).await;
    let now = now_ms();
    let mut broken = false;
    let mut all = Vec::with_capacity(group.len());
    for (m, o) in group.iter().zip(outcomes) {
        let result = o.result.map_err(SendError::Smtp);
        if let Err(SendError::Smtp(e)) = &result {
            broken |= e.is_connection() || e.is_delivery_unknown();
        }
        all.push((m.id, decide(m, result.as_ref(), now, &s.settings, &s.cfg)));
    }
    if !broken {
        *conn = Some((route.clone(), c));
    }
    record(s, prev, all).await
}

fn unusable_route(reason: &str) -> Completion {
    Completion {
        state: State::Failed,
        next_attempt_at: now_ms(),
        recipients: Vec::new(),
        last_error: Some(format!("cannot use the stored connection: {reason}")),
        unknown: false,
    }
}

fn envelope(msg: &Claimed) -> Envelope {
    Envelope {
        from: msg.sender.clone(),
        recipients: msg.pending.iter().map(|r| r.address.clone()).collect(),
        size: Some(msg.size),
        eight_bit: msg.eight_bit,
        smtputf8: msg.smtputf8,
        dsn: msg.dsn.clone(),
    }
}

fn endpoint<S: Store>(s: &Shared<S>, route: &str) -> std::result::Result<Endpoint, String> {
    if let Ok(cache) = s.endpoints.lock()
        && let Some(e) = cache.get(route)
    {
        return e.clone();
    }
    let e = s.router.endpoint(route);
    if let Ok(mut cache) = s.endpoints.lock() {
        cache.insert(route.to_owned(), e.clone());
    }
    e
}

/// One attempt at one message.
///
/// The outcome is recorded in the background while the next message is sent: the next
/// message's dot mark waits for a commit anyway (with SQLite's group commit, the same
/// one), so a message costs one durable write on the critical path instead of two. If the
/// worker dies before an outcome is committed, that message is recovered as `unknown`
/// (its dot mark is durable): never lost, and never resent silently.
async fn deliver<S: Store>(
    s: &Shared<S>,
    conn: &mut Option<(String, Connection)>,
    prev: &mut Option<Recording>,
    msg: Claimed,
) -> Result<()> {
    let endpoint = match endpoint(s, &msg.route) {
        Ok(e) => e,
        Err(reason) => return record(s, prev, vec![(msg.id, unusable_route(&reason))]).await,
    };
    let relay = format!("{}:{}", endpoint.client.host, endpoint.client.port);
    s.limiter.wait(&relay).await;
    if conn.as_ref().is_some_and(|(r, _)| *r != msg.route)
        && let Some((_, old)) = conn.take()
    {
        let _ = old.client.quit().await;
    }
    let result = match attempt(s, conn, &endpoint, &msg).await? {
        Attempt::Done(r) => r,
        Attempt::LostLease => {
            tracing::warn!(
                "message {} was taken over by another worker; not sending it",
                msg.id
            );
            return Ok(());
        }
    };
    // Keep the connection after a success or a refusal the session survives.
    match &result {
        Ok(_) => {}
        Err(SendError::Smtp(e)) if !e.is_connection() && !e.is_delivery_unknown() => {
            if let Some((_, c)) = conn.as_mut()
                && c.client.rset().await.is_err()
            {
                *conn = None;
            }
        }
        Err(_) => *conn = None,
    }
    let completion = decide(&msg, result.as_ref(), now_ms(), &s.settings, &s.cfg);
    record(s, prev, vec![(msg.id, completion)]).await
}

enum Attempt {
    Done(std::result::Result<SendReport, SendError>),
    LostLease,
}

async fn attempt<S: Store>(
    s: &Shared<S>,
    conn: &mut Option<(String, Connection)>,
    endpoint: &Endpoint,
    msg: &Claimed,
) -> Result<Attempt> {
    if conn.is_none() {
        match endpoint.connect().await {
            Ok(c) => *conn = Some((msg.route.clone(), c)),
            Err(e) => return Ok(Attempt::Done(Err(e))),
        }
    }
    let Some((_, c)) = conn.as_mut() else {
        return Ok(Attempt::Done(Err(SendError::Smtp(SmtpError::new(
            smtpcm_engine::smtp::Stage::Connect,
            ErrorKind::Disconnected,
        )))));
    };
    let mut writer = match c.client.begin(&envelope(msg)).await {
        Ok(w) => w,
        Err(e) => return Ok(Attempt::Done(Err(e.into()))),
    };
    // The stored bytes go out a chunk at a time: bounded memory whatever the size.
    let mut seq = 0;
    loop {
        let chunk = match s.store.chunk(msg.id, seq).await {
            Ok(c) => c,
            Err(e) => {
                // No dot was sent: dropping the writer abandons the transaction. The
                // connection is poisoned, so it is dropped too; the lease will expire
                // and the message be retried.
                drop(writer);
                *conn = None;
                return Err(e);
            }
        };
        let Some(chunk) = chunk else { break };
        if let Err(e) = writer.write_all(&chunk).await {
            let err = writer.take_error().unwrap_or_else(|| {
                SmtpError::new(smtpcm_engine::smtp::Stage::DataTransfer, ErrorKind::Io(e))
            });
            return Ok(Attempt::Done(Err(err.into())));
        }
        seq += 1;
    }
    // Durably note that the dot is going out: if this worker dies before recording the
    // outcome, whoever takes the message over knows delivery is unknown.
    match s.store.mark_dot(msg.id, &s.cfg.owner).await {
        Ok(true) => {}
        Ok(false) => {
            drop(writer);
            *conn = None;
            return Ok(Attempt::LostLease);
        }
        Err(e) => {
            drop(writer);
            *conn = None;
            return Err(e);
        }
    }
    Ok(Attempt::Done(writer.finish().await.map_err(Into::into)))
}
