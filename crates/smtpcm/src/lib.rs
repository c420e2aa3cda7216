//! # smtpcm
//!
//! A Rust rebuild of the SQL Server Integration Services (SSIS) SMTP connection
//! manager and the Send Mail task that uses it, with the extensions users have
//! asked for: any port, implicit TLS, basic and OAuth2 authentication, Windows
//! authentication from Linux, streamed attachments and pipelining.
//!
//! The layers, each in its own module, depend on each other in one direction:
//!
//! * [`connection_string`] parses and writes the SSIS connection string;
//! * [`smtp`] is the SMTP client (sans-IO reply parsing, typed commands, TLS,
//!   pipelining, a streaming DATA writer);
//! * [`auth`] holds the SASL mechanisms behind one small trait;
//! * [`address`] and [`mime`] turn Send Mail fields into a streamed message;
//! * [`connection_manager`] and [`send_mail`] are the SSIS objects;
//! * [`package`], [`dtsx`], [`expr`] and [`run`] load, save and run packages;
//! * [`files`] reads users' files with a size cap and saves them atomically.

pub mod address;
pub mod auth;
pub mod connection_manager;
pub mod connection_string;
pub mod dtsx;
pub mod expr;
pub mod files;
pub mod mime;
pub mod package;
pub mod pool;
pub mod progress;
pub mod run;
pub mod security;
pub mod send_mail;
pub mod smtp;
