//! A pool of reused SMTP connections, with a bounded retry policy.
//!
//! Mail merge and batch jobs send many messages through one connection
//! manager. Opening a connection (TCP, TLS, EHLO, AUTH) costs far more than a
//! transaction, so connections are kept and reused. A connection that sat idle
//! is probed with `NOOP` before reuse, and a dead one is replaced, so a server
//! that closed an idle session does not fail the next message.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::endpoint::{Connection, Endpoint, SendError, send_on};
use crate::mime::PreparedMessage;
use crate::smtp::SendReport;

/// When to try again after a failure.
///
/// What may be retried is decided by one predicate, [`SendError::is_retryable`]:
/// 4xx replies and connections lost or stalled before the final dot. A permanent
/// (5xx) failure is never retried, and neither is a connection lost after the final
/// dot, since the server may already have accepted the message and a retry could
/// deliver it twice. This policy only says how often and how long to wait.
///
/// ```
/// use smtpcm_engine::pool::RetryPolicy;
/// let p = RetryPolicy { max_retries: 3, ..RetryPolicy::default() };
/// assert!(p.delay(2) > p.delay(1));
/// assert_eq!(RetryPolicy::none().max_retries, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The wait before the first retry; doubled for each further retry.
    pub initial_delay: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The wait before retry number `retry` (1-based).
    pub fn delay(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial_delay
            .saturating_mul(factor)
            .min(self.max_delay)
    }
}

/// Settings for a [`Pool`].
#[derive(Debug, Clone, Copy)]
pub struct PoolConfig {
    /// Connections open at once, at most.
    pub max_connections: usize,
    /// A connection idle longer than this is probed with NOOP before reuse.
    pub probe_after: Duration,
    /// Messages per connection before it is closed and replaced (servers often cap this).
    pub max_messages_per_connection: u64,
    /// What to do after a transient failure.
    pub retry: RetryPolicy,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_connections: 4,
            probe_after: Duration::from_secs(5),
            max_messages_per_connection: 1000,
            retry: RetryPolicy::default(),
        }
    }
}

struct Idle {
    connection: Connection,
    since: Instant,
    sent: u64,
}

/// A pool of authenticated connections to one [`Endpoint`].
///
/// ```no_run
/// # async fn demo(message: smtpcm_engine::mime::PreparedMessage, endpoint: smtpcm_engine::Endpoint) -> Result<(), Box<dyn std::error::Error>> {
/// use smtpcm_engine::pool::{Pool, PoolConfig};
/// let pool = Pool::new(endpoint, PoolConfig { max_connections: 8, ..PoolConfig::default() });
/// let report = pool.send(&message).await?;
/// println!("{} accepted", report.accepted.len());
/// pool.close().await;
/// # Ok(()) }
/// ```
pub struct Pool {
    endpoint: Endpoint,
    config: PoolConfig,
    idle: Mutex<Vec<Idle>>,
    slots: Semaphore,
    opened: std::sync::atomic::AtomicU64,
}

impl Pool {
    /// A pool that opens connections lazily, up to `config.max_connections`.
    pub fn new(endpoint: Endpoint, config: PoolConfig) -> Self {
        let slots = Semaphore::new(config.max_connections.max(1));
        Pool {
            endpoint,
            config,
            idle: Mutex::new(Vec::new()),
            slots,
            opened: Default::default(),
        }
    }

    /// How many connections were opened so far (replacements included).
    pub fn connections_opened(&self) -> u64 {
        self.opened.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn take_idle(&self) -> Option<Idle> {
        self.idle.lock().ok()?.pop()
    }

    fn put_idle(&self, idle: Idle) {
        if let Ok(mut list) = self.idle.lock() {
            list.push(idle);
        }
    }

    /// An idle connection that answered NOOP if it was idle long, or a new one.
    async fn checkout(&self) -> Result<Idle, SendError> {
        while let Some(mut idle) = self.take_idle() {
            if idle.since.elapsed() < self.config.probe_after {
                return Ok(idle);
            }
            match idle.connection.client.noop().await {
                Ok(()) => return Ok(idle),
                Err(e) => {
                    tracing::info!("dropping a pooled connection that failed its NOOP probe: {e}")
                }
            }
        }
        let connection = self.endpoint.connect().await?;
        self.opened
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Idle {
            connection,
            since: Instant::now(),
            sent: 0,
        })
    }

    /// Send one message on a pooled connection, retrying transient failures per the policy.
    pub async fn send(&self, message: &PreparedMessage) -> Result<SendReport, SendError> {
        let mut retry = 0;
        loop {
            match self.send_once(message).await {
                Ok(report) => return Ok(report),
                Err(e) if retry < self.config.retry.max_retries && e.is_retryable() => {
                    retry += 1;
                    let wait = self.config.retry.delay(retry);
                    tracing::warn!(
                        "transient failure, retry {retry} of {} in {wait:?}: {e}",
                        self.config.retry.max_retries
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn send_once(&self, message: &PreparedMessage) -> Result<SendReport, SendError> {
        // The semaphore is never closed, so acquire() cannot fail; if it somehow did,
        // sending without a slot is safer than failing the message.
        let _slot = self.slots.acquire().await.ok();
        let mut idle = self.checkout().await?;
        match send_on(&mut idle.connection.client, message).await {
            Ok(report) => {
                idle.sent += 1;
                idle.since = Instant::now();
                if idle.sent >= self.config.max_messages_per_connection {
                    let _ = idle.connection.client.quit().await;
                } else {
                    self.put_idle(idle);
                }
                Ok(report)
            }
            Err(e) => {
                // A rejected transaction leaves the session usable after RSET; anything else drops it.
                if matches!(&e, SendError::Smtp(s) if !s.is_connection() && !s.is_delivery_unknown())
                    && idle.connection.client.rset().await.is_ok()
                {
                    self.put_idle(idle);
                }
                Err(e)
            }
        }
    }

    /// QUIT every idle connection.
    pub async fn close(&self) {
        let all: Vec<Idle> = match self.idle.lock() {
            Ok(mut list) => list.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        for idle in all {
            let _ = idle.connection.client.quit().await;
        }
    }
}
