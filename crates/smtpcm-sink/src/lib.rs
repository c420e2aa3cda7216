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

pub use config::{MAX_IN_MEMORY, SinkAuth, SinkConfig};
pub use fault::{Fault, FaultRule, FaultScript, FaultStage};
pub use server::{Sink, SinkHandle};
pub use store::Captured;
