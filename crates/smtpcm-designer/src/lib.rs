//! # smtpcm-designer
//!
//! A local web designer for the SMTP connection managers and Send Mail tasks of SSIS packages:
//! it opens `.dtsx` packages, `.conmgr` files and project folders, edits them through a JSON
//! API (which its page uses, and which scripts can use too), and saves them through the
//! lossless splice saver of [`smtpcm::dtsx`], atomically ([`smtpcm::files`]).
//!
//! The server listens on loopback and admits a request only when it carries the random token
//! printed at start-up: as `?token=` on the first visit (which sets an `HttpOnly`,
//! `SameSite=Strict` cookie), as that cookie, or as an `X-Smtpcm-Token` or
//! `Authorization: Bearer` header. Anything else gets `401`, so neither another local user nor
//! a web page in the browser can drive it.
//!
//! The page is plain HTML, CSS and JavaScript embedded in the binary: no build step.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use smtpcm_designer::{Designer, DesignerOptions};
//! let designer = Designer::bind(DesignerOptions {
//!     paths: vec![".".into()],
//!     ..DesignerOptions::default()
//! })
//! .await?;
//! println!("designer: {}", designer.url());
//! designer.serve().await
//! # }
//! ```

mod api;
mod auth;
mod inbox;
mod inbox_api;
mod model;
mod tryit;
mod workspace;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Mutex;

pub use workspace::{Fingerprint, Workspace};

/// How to start the designer.
#[derive(Debug, Clone)]
pub struct DesignerOptions {
    /// Packages, `.conmgr` files and project folders to open.
    pub paths: Vec<PathBuf>,
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The token; `None` draws a random one.
    pub token: Option<String>,
    /// Extra CA certificates for Test connection and Send test message.
    pub ca_file: Option<PathBuf>,
}

impl Default for DesignerOptions {
    fn default() -> Self {
        DesignerOptions {
            paths: Vec::new(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: None,
            ca_file: None,
        }
    }
}

/// Shared state behind every request.
pub(crate) struct AppState {
    pub token: String,
    pub workspace: Mutex<Workspace>,
    pub inbox: inbox::Inbox,
    pub ca_file: Option<PathBuf>,
}

/// A bound, not yet serving, designer.
pub struct Designer {
    listener: TcpListener,
    state: Arc<AppState>,
    addr: SocketAddr,
}

/// A random token: 32 bytes from the OS, hex-encoded.
pub fn random_token() -> std::io::Result<String> {
    let mut buf = [0u8; 32];
    getrandom::fill(&mut buf).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

impl Designer {
    /// Opens the files and binds the listener. Load errors do not fail this: they are shown
    /// in the explorer as `file:line:col` diagnostics.
    pub async fn bind(options: DesignerOptions) -> std::io::Result<Designer> {
        let token = match options.token {
            Some(t) => t,
            None => random_token()?,
        };
        let workspace = Workspace::open(&options.paths);
        let listener = TcpListener::bind(options.listen).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(AppState {
            token,
            workspace: Mutex::new(workspace),
            inbox: inbox::Inbox::default(),
            ca_file: options.ca_file,
        });
        Ok(Designer {
            listener,
            state,
            addr,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to open, token included: `http://127.0.0.1:PORT/?token=TOKEN`.
    pub fn url(&self) -> String {
        format!("http://{}/?token={}", self.addr, self.state.token)
    }

    /// Serves until the process ends.
    pub async fn serve(self) -> std::io::Result<()> {
        let app = api::router(self.state.clone());
        axum::serve(self.listener, app).await
    }
}
