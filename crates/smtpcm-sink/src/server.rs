//! The listener, the state shared by its sessions, and the handle callers hold.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tracing::{debug, warn};

use crate::config::SinkConfig;
use crate::fault::FaultState;
use crate::session;
use crate::store::Captured;
use crate::tls::{self, TlsMaterial};

/// Transcript lines kept; older ones are dropped so a long-running sink stays bounded.
const TRANSCRIPT_LIMIT: usize = 100_000;
/// Transcript bytes kept, whatever the number of lines (a line can be 4 KiB long).
const TRANSCRIPT_BYTES: usize = 16 * 1024 * 1024;
/// Messages waiting for [`SinkHandle::next_message`]; while that many are unread, newer ones
/// are not queued (they are still saved), so a handle nobody reads from stays bounded.
pub const PENDING_LIMIT: usize = 1024;

/// Starts capture servers. See [`Sink::start`].
#[derive(Debug)]
pub struct Sink;

impl Sink {
    /// Mints the certificates, binds `cfg.listen`, creates `cfg.dir` if needed, and starts
    /// accepting connections on the current tokio runtime.
    ///
    /// Errors name what failed: an unusable directory, a hostname that cannot be a certificate
    /// name, or an address that cannot be bound.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use smtpcm_sink::{Sink, SinkConfig};
    /// use tokio::io::AsyncReadExt;
    ///
    /// let sink = Sink::start(SinkConfig::default()).await?;
    /// let mut client = tokio::net::TcpStream::connect(sink.local_addr()).await?;
    /// let mut greeting = [0u8; 3];
    /// client.read_exact(&mut greeting).await?;
    /// assert_eq!(&greeting, b"220");
    /// assert!(sink.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    /// sink.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start(cfg: SinkConfig) -> io::Result<SinkHandle> {
        if let Some(dir) = &cfg.dir {
            tokio::fs::create_dir_all(dir).await.map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("creating the message directory {}: {e}", dir.display()),
                )
            })?;
        }
        let tls = tls::mint(&cfg.hostname)?;
        let listener = TcpListener::bind(cfg.listen)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("listening on {}: {e}", cfg.listen)))?;
        let local_addr = listener.local_addr()?;
        let (delivered, received) = mpsc::channel(PENDING_LIMIT);
        let (stop, stopped) = oneshot::channel();
        let shared = Arc::new(Shared {
            faults: FaultState::new(&cfg.faults),
            cfg,
            tls,
            sequence: AtomicU64::new(0),
            connections: AtomicUsize::new(0),
            messages: Mutex::new(Vec::new()),
            transcript: Mutex::new(Transcript::default()),
            delivered,
        });
        debug!(%local_addr, "sink listening");
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), stopped));
        Ok(SinkHandle {
            local_addr,
            shared,
            received,
            stop,
            task,
        })
    }
}

/// A running sink. Dropping it stops the server too; [`SinkHandle::shutdown`] also waits for
/// that to finish.
#[derive(Debug)]
pub struct SinkHandle {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    received: mpsc::Receiver<Captured>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl SinkHandle {
    /// The bound address (with the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// PEM of the throw-away CA that issued the server certificate. The certificate names
    /// `localhost`, `127.0.0.1`, `::1` and the configured hostname.
    pub fn ca_pem(&self) -> &str {
        &self.shared.tls.ca_pem
    }

    /// Writes [`SinkHandle::ca_pem`] to `path`, for clients configured with a CA file.
    ///
    /// The write is atomic (a temporary file in the same directory, synced, renamed over
    /// `path`, directory synced) and never goes through a symbolic link: a `path` that is a
    /// symlink is refused with an error naming it, and a link planted between the check and
    /// the rename is replaced, not followed. The file is made readable by all (mode 0644), as
    /// a certificate is public.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let sink = smtpcm_sink::Sink::start(smtpcm_sink::SinkConfig::default()).await?;
    /// let dir = tempfile::tempdir()?;
    /// sink.write_ca_file(dir.path().join("ca.pem"))?;
    /// assert_eq!(std::fs::read_to_string(dir.path().join("ca.pem"))?, sink.ca_pem());
    /// # Ok(())
    /// # }
    /// ```
    pub fn write_ca_file(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let path = path.as_ref();
        write_public_file(path, self.ca_pem().as_bytes()).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("writing the CA certificate to {}: {e}", path.display()),
            )
        })
    }

    /// The next captured message not yet returned by this method, waiting at most `timeout`.
    pub async fn next_message(&mut self, timeout: Duration) -> Option<Captured> {
        tokio::time::timeout(timeout, self.received.recv())
            .await
            .ok()
            .flatten()
    }

    /// Every message captured so far, in order of acceptance, when
    /// [`SinkConfig::keep_messages`] is set; otherwise always empty.
    pub fn messages(&self) -> Vec<Captured> {
        lock(&self.shared.messages).clone()
    }

    /// How many connections have been accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// The conversation so far, one line per command or reply line, such as
    /// `"[1] C: MAIL FROM:<a@example.com>"` or `"[1] S: 250 2.1.0 Ok"`. AUTH secrets appear as
    /// `<redacted>`; message content only as its size. Keeps the latest 100 000 lines.
    pub fn transcript(&self) -> Vec<String> {
        lock(&self.shared.transcript)
            .lines
            .iter()
            .cloned()
            .collect()
    }

    /// Stops accepting, ends every open session, and waits until that is done. Spool files of
    /// messages still in transfer are removed.
    pub async fn shutdown(self) {
        let SinkHandle { stop, task, .. } = self;
        let _ = stop.send(());
        if let Err(e) = task.await {
            warn!(error = %e, "sink accept loop ended abnormally");
        }
    }
}

/// State shared by the listener, its sessions and the handle.
pub(crate) struct Shared {
    pub(crate) cfg: SinkConfig,
    pub(crate) tls: TlsMaterial,
    pub(crate) faults: FaultState,
    sequence: AtomicU64,
    connections: AtomicUsize,
    messages: Mutex<Vec<Captured>>,
    transcript: Mutex<Transcript>,
    delivered: mpsc::Sender<Captured>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("cfg", &self.cfg)
            .field("connections", &self.connections)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// A number unique within this sink, naming one message.
    pub(crate) fn next_sequence(&self) -> u64 {
        self.sequence.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub(crate) fn record(&self, captured: Captured) {
        if self.cfg.keep_messages {
            lock(&self.messages).push(captured.clone());
        }
        match self.delivered.try_send(captured) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(dropped)) => warn!(
                size = dropped.size,
                "{PENDING_LIMIT} captured messages are waiting to be read; not queueing another"
            ),
            // The handle is gone while sessions finish: nobody to tell.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    pub(crate) fn note(&self, connection: usize, side: char, text: &str) {
        lock(&self.transcript).push(format!("[{connection}] {side}: {text}"));
    }
}

/// Atomically replaces `path` with `bytes`, refusing to write through a symlink at `path`.
fn write_public_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "it is a symbolic link; refusing to write through it (remove it or choose another path)",
            ));
        }
        Ok(meta) if !meta.is_file() => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "it exists and is not a regular file",
            ));
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    // Random name, created with O_CREAT|O_EXCL: never an existing file or link.
    let mut temp = tempfile::Builder::new()
        .prefix(".smtpcm-ca-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    temp.write_all(bytes)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    temp.as_file().sync_all()?;
    // rename(2) replaces a directory entry; it never follows a link at the destination.
    temp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

/// The latest transcript lines, bounded in count and bytes.
#[derive(Default)]
struct Transcript {
    lines: VecDeque<String>,
    bytes: usize,
}

impl Transcript {
    fn push(&mut self, line: String) {
        self.bytes += line.len();
        self.lines.push_back(line);
        while self.lines.len() > TRANSCRIPT_LIMIT || self.bytes > TRANSCRIPT_BYTES {
            match self.lines.pop_front() {
                Some(old) => self.bytes -= old.len(),
                None => break,
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking session must not take the records down with it.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            // Either an explicit shutdown or the handle being dropped.
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let id = shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
                    sessions.spawn(session::run(Arc::clone(&shared), tcp, peer, id));
                }
                Err(e) => {
                    // Usually out of file descriptors; back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    sessions.shutdown().await;
    debug!("sink stopped");
}
