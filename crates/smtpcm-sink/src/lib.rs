//! Loopback SMTP capture server with STARTTLS and scriptable faults.
//!
//! It speaks real ESMTP (EHLO, STARTTLS with a freshly minted CA, AUTH PLAIN/LOGIN, PIPELINING,
//! SIZE, 8BITMIME, SMTPUTF8, CHUNKING) and keeps what it receives, in memory or as `.eml`
//! files. A [`FaultScript`] makes it misbehave at chosen stages, for client tests. It prints
//! nothing itself; it reports through `tracing`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use smtpcm_sink::{Fault, FaultScript, FaultStage, Sink, SinkConfig};
//!
//! let sink = Sink::start(SinkConfig {
//!     faults: FaultScript::new().times(FaultStage::Mail, Fault::Reply(451, "4.3.0 Try later".into()), 1),
//!     ..SinkConfig::default()
//! })
//! .await?;
//! assert_ne!(sink.local_addr().port(), 0);
//! sink.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod config;
mod fault;
mod server;
mod session;
mod store;
mod tls;
mod unstuff;

pub use config::{DEFAULT_MAX_RECIPIENTS, MAX_IN_MEMORY, SinkAuth, SinkConfig};
pub use fault::{Fault, FaultRule, FaultScript, FaultStage};
pub use server::{PENDING_LIMIT, Sink, SinkHandle};
pub use store::Captured;

/// `text` with every control character (C0, DEL, C1: ESC, BEL, NUL, CR, LF...) written as a
/// Rust escape, so text from a client or a server can be printed to a terminal without
/// moving the cursor, changing colours or ringing the bell.
///
/// ```
/// assert_eq!(smtpcm_sink::escape_controls("a\x1b[31mb\x07\0"), "a\\u{1b}[31mb\\u{7}\\u{0}");
/// assert_eq!(smtpcm_sink::escape_controls("Grüße <a@b>"), "Grüße <a@b>");
/// ```
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
