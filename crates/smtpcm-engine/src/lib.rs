//! # smtpcm-engine
//!
//! A generic, async SMTP client engine. It knows nothing of SSIS: no packages,
//! expressions, XML or connection strings. The SSIS layer (`smtpcm`) maps its
//! settings onto the types here.
//!
//! The modules depend on each other in one direction:
//!
//! * [`security`] names the transport security choices ([`security::TlsMode`]) and
//!   answers "is this host loopback?" once for everyone;
//! * [`smtp`] is the client: sans-IO reply parsing, typed commands, TLS,
//!   pipelining, a streaming DATA writer, over any `AsyncRead + AsyncWrite`;
//! * [`auth`] holds the SASL mechanisms behind one small trait and the driver
//!   that picks one;
//! * [`address`] and [`mime`] turn mail fields into a streamed message;
//! * [`endpoint`] says where and how to connect, and [`pool`] reuses connections
//!   with one retry predicate ([`SendError::is_retryable`]).
//!
//! ```
//! use smtpcm_engine::security::TlsMode;
//! use smtpcm_engine::smtp::ClientConfig;
//! let config = ClientConfig::new("mail.example.com", 587, TlsMode::StartTls);
//! assert_eq!(config.port, 587);
//! ```

pub mod address;
pub mod auth;
pub mod endpoint;
pub mod mime;
pub mod pool;
pub mod progress;
pub mod security;
pub mod smtp;

pub use endpoint::{Connection, Endpoint, SendError};
