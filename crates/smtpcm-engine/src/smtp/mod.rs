//! The SMTP client.
//!
//! Built on tokio, rustls and smtp-proto's sans-IO reply parser, and shaped like
//! Go's `net/smtp`: one method per verb on [`Client`], and [`Client::begin`]
//! returning a streaming [`DataWriter`]. Replies are decoded without I/O
//! ([`ReplyDecoder`]); commands are typed values ([`command`]) whose `Display`
//! is what the transcript shows, never a secret.
//!
//! Every command and reply is logged at `debug` level under the tracing target
//! [`TRANSCRIPT_TARGET`] (`smtpcm::transcript`), with AUTH payloads redacted.
//!
//! Module map: [`reply`] (replies, decoder), [`command`] (typed commands),
//! `capabilities` (EHLO), `config` (where, how, how long), `session` (the stream,
//! decoder and cancel-safety core shared by the client and the writer), `client` (the
//! verbs), `data` (the message writer), `encoder` (CRLF and dot-stuffing), `tls`, `stream`,
//! `auth_channel` (SASL transport), `error`, `pipeline` (many messages per round trip).

mod auth_channel;
mod capabilities;
mod client;
pub mod command;
mod config;
mod data;
mod dsn;
mod encoder;
mod envelope;
mod error;
mod pipeline;
pub mod reply;
mod session;
mod stream;
mod tls;
/// For HTTP clients of token endpoints (`auth::token::tls_client_config`).
pub(crate) use tls::client_config as tls_client_config;

pub use crate::security::TlsMode;
pub use capabilities::{Capabilities, Extension, UnknownExtension};
pub use client::Client;
pub use config::{ClientConfig, Timeouts};
pub use data::DataWriter;
pub use dsn::{Dsn, DsnError, DsnNotify, DsnRet, xtext};
pub use encoder::DataEncoder;
pub use envelope::{Envelope, MailParams, SendReport};
pub use error::{ErrorKind, RecipientRejection, SmtpError, Stage};
pub use pipeline::{Outcome, Pipeline, PipelineConfig, PipelineMode};
pub use reply::{MalformedReply, Reply, ReplyDecoder};
pub use session::TRANSCRIPT_TARGET;
