//! # smtpcm
//!
//! The SSIS layer of smtpcm: a Rust rebuild of the SQL Server Integration Services
//! (SSIS) SMTP connection manager and the Send Mail task that uses it, with the
//! extensions users have asked for: any port, implicit TLS, basic and OAuth2
//! authentication, Windows authentication from Linux, streamed attachments.
//!
//! The SMTP work itself is done by [`smtpcm_engine`] (re-exported as [`engine`]),
//! which knows nothing of SSIS. This crate maps SSIS's settings onto it:
//!
//! * [`connection_string`] parses and writes the SSIS connection string;
//! * [`auth_settings`] turns a connection string into the engine's authentication settings;
//! * [`connection_manager`] and [`send_mail`] are the SSIS objects;
//! * [`package`], [`dtsx`], [`expr`] and [`run`] load, save and run packages;
//! * [`files`] reads users' files with a size cap and saves them atomically.
//!
//! ```
//! use smtpcm::connection_manager::SmtpConnectionManager;
//! let cm = SmtpConnectionManager::with_connection_string(
//!     "SMTP Connection Manager",
//!     "SmtpServer=mail.corp;UseWindowsAuthentication=False;EnableSsl=True;",
//! )
//! .unwrap();
//! assert_eq!(cm.smtp_server(), "mail.corp");
//! ```

pub use smtpcm_engine as engine;

pub mod auth_settings;
pub mod connection_manager;
pub mod connection_string;
pub mod dtsx;
pub mod expr;
pub mod files;
pub mod html_body;
pub mod oauth;
pub mod package;
pub mod run;
pub mod send_mail;
pub mod template;
