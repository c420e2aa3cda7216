//! Exit codes of the `smtpcm` command, one per class of failure.

use smtpcm::connection_manager::ConnectionError;
use smtpcm::send_mail::TaskError;
use smtpcm_engine::SendError;
use smtpcm_engine::auth::{AuthError, MechanismError};
use smtpcm_engine::mime::MimeError;
use smtpcm_engine::smtp::{ErrorKind, SendReport, SmtpError, Stage};

/// The documented exit codes (also printed by `smtpcm --help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every recipient accepted the message.
    Sent = 0,
    /// An internal error.
    Internal = 1,
    /// Bad usage or bad input: arguments, connection string, address, header, missing file,
    /// server name, CA file. Found before connecting.
    Usage = 2,
    /// Could not connect, the connection failed (also while the body was being sent), TLS
    /// failed (including a server without STARTTLS, or refusing it, when TLS is required), or
    /// the server broke the protocol (a reply code such as 600 or a 354 after the final dot).
    Connection = 3,
    /// The server refused the credentials (e.g. 535).
    Auth = 4,
    /// The server rejected the message or every recipient (5xx).
    Rejected = 5,
    /// Some recipients were rejected or deferred; the others got the message.
    Partial = 6,
    /// The connection dropped after the final dot: the message may or may not have been delivered.
    Unknown = 7,
    /// No credentials to authenticate with: no Kerberos ticket, no NTLM credentials, no
    /// password or token, or no GSSAPI library; or no OAuth2 token could be obtained (the
    /// token endpoint refused our credentials or could not be used, or TokenCommand failed).
    NoCredentials = 8,
    /// The server offers no authentication mechanism we may use.
    NoSharedMechanism = 9,
    /// Credentials would have crossed an unencrypted connection, so none were sent.
    InsecureAuth = 10,
    /// The outbox failed: its database is corrupt, locked, full or unreachable. An enqueue
    /// that fails this way committed nothing.
    Outbox = 11,
    /// A temporary failure: a 4xx reply to the message or to every recipient, or a 421
    /// (service closing) at any stage. Try again later (sendmail's `EX_TEMPFAIL`).
    TempFail = 75,
    /// Interrupted by Ctrl-C (SIGINT), as shells report it: 128 + 2.
    Interrupted = 130,
}

/// The text appended to `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  sent: every recipient accepted the message (with --outbox: queued, committed durably)
  1  internal error
  2  usage error or bad input, found before connecting (arguments, connection string,
     server name, CA file, address, header, missing file, HTML body, inline image, template)
  3  connection, TLS or protocol failure (including no STARTTLS, or 454 to it, when TLS is
     required; a reset or timeout while the body is sent; a reply code such as 600)
  4  authentication failure
  5  rejected by the server (5xx to the message, or to every recipient)
  6  partial: some recipients rejected or deferred (4xx), the others accepted
  7  delivery status unknown (connection lost after the final dot; not retried)
  8  no credentials: no Kerberos ticket (run kinit or set KRB5CCNAME), no NTLM credentials,
     no password/token, or no system GSSAPI library; or no OAuth2 token could be obtained
     (the message gives the OAuth error code and whether our credentials or the endpoint
     failed)
  9  the server offers no authentication mechanism we share (the error lists what it offered)
 10  refused to send credentials over an unencrypted connection
 11  outbox error: the database is corrupt, locked, full or unreachable (an enqueue that
     fails this way queued nothing)
 75  temporary failure, try again later: 4xx to the message or to every recipient, or 421
130  interrupted by Ctrl-C (demo; its temporary files are removed)";

impl Exit {
    /// The process exit code.
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// The outcome of a send that got an answer after the final dot: 0 when every recipient
/// accepted, 6 when some were refused (`5xx`) or deferred (`4xx`).
///
/// A partial send stays 6 even when every refusal was temporary: the message *was*
/// delivered to the accepted recipients, so retrying the whole command would send it to
/// them twice. The deferred recipients are listed as `deferred` in the output.
pub fn of_report(report: &SendReport) -> Exit {
    if report.rejected.is_empty() {
        Exit::Sent
    } else {
        Exit::Partial
    }
}

/// Classify an SMTP failure. This is the one place where a server's answer becomes an exit
/// code; every other classifier here descends to it.
pub fn of_smtp(e: &SmtpError) -> Exit {
    // The message may have gone out: never report it as anything retryable.
    if e.is_delivery_unknown() {
        return Exit::Unknown;
    }
    // A reply outside 4xx/5xx is not a refusal: the server broke the protocol.
    if e.is_protocol() {
        return Exit::Connection;
    }
    // 421 is the server closing the session: temporary at whatever stage it comes.
    if e.reply().is_some_and(|r| r.code == 421) {
        return Exit::TempFail;
    }
    // With TLS required, a STARTTLS refused (454) or not offered is a TLS failure.
    if e.is_tls() || matches!(e.stage(), Stage::StartTls | Stage::TlsHandshake) {
        return Exit::Connection;
    }
    if e.is_connection() {
        return Exit::Connection;
    }
    if e.is_transient() {
        return Exit::TempFail;
    }
    if e.stage() == Stage::Auth {
        return Exit::Auth;
    }
    match e.kind() {
        ErrorKind::Rejected(_)
        | ErrorKind::AllRecipientsRejected(_)
        | ErrorKind::MessageTooLarge { .. }
        | ErrorKind::ExtensionNotOffered(_) => Exit::Rejected,
        ErrorKind::InvalidInput(_) => Exit::Usage,
        _ => Exit::Connection,
    }
}

/// Classify a connection-manager failure.
pub fn of_connection(e: &ConnectionError) -> Exit {
    match e {
        ConnectionError::Config(_) | ConnectionError::NoServer(_) => Exit::Usage,
        ConnectionError::Send(SendError::Auth(a)) => of_auth(a),
        ConnectionError::Send(SendError::Smtp(s)) => of_smtp(s),
        // A failed write to the server carries its SmtpError (a reset mid-body: 3); an I/O
        // error without one still happened on the way to the server (file-side failures
        // have MimeError variants of their own).
        ConnectionError::Send(SendError::Mime(MimeError::Io(io))) => {
            SmtpError::from_io_error(io).map_or(Exit::Connection, of_smtp)
        }
        ConnectionError::Send(SendError::Mime(_)) => Exit::Usage,
        // ConnectionError is non_exhaustive: a kind added later is a bug until mapped here.
        _ => Exit::Internal,
    }
}

/// Classify an authentication failure.
pub fn of_auth(e: &AuthError) -> Exit {
    match e {
        // 454 "temporary authentication failure", 421: try later, the credentials may be fine.
        AuthError::Rejected { code, .. } if (400..500).contains(code) => Exit::TempFail,
        AuthError::Rejected { .. } => Exit::Auth,
        AuthError::NoKerberosTicket { .. }
        | AuthError::GssapiLibraryMissing { .. }
        | AuthError::MissingCredentials { .. }
        | AuthError::Mechanism(MechanismError::Unavailable { .. }) => Exit::NoCredentials,
        // No OAuth2 token could be had: the endpoint refused our credentials or failed
        // (the message says which, with the OAuth error code), or the command failed.
        AuthError::Token(_) => Exit::NoCredentials,
        AuthError::NoSharedMechanism { .. } => Exit::NoSharedMechanism,
        AuthError::InsecureChannel { .. } => Exit::InsecureAuth,
        AuthError::InvalidConfig { .. } => Exit::Usage,
        // A challenge we cannot parse: the server broke the protocol.
        AuthError::Mechanism(_) => Exit::Connection,
        AuthError::Transport(_) => match e.transport_error() {
            Some(s) => of_smtp(s),
            // The client's transport error is always an SmtpError; anything else is our bug.
            None => Exit::Internal,
        },
        // A kind added to the engine later: still an authentication failure.
        _ => Exit::Auth,
    }
}

/// Classify a Send Mail task failure.
pub fn of_task(e: &TaskError) -> Exit {
    match e {
        TaskError::Validation { .. }
        | TaskError::Address { .. }
        | TaskError::Mime(_)
        | TaskError::Template(_) => Exit::Usage,
        TaskError::Connection(c) => of_connection(c),
        _ => Exit::Internal,
    }
}

/// The failure's exit code and one-line message.
pub fn explain_task(e: &TaskError) -> (Exit, String) {
    match e {
        TaskError::Connection(c) => explain_connection(c),
        _ => (of_task(e), e.to_string()),
    }
}

/// As [`explain_task`], for a connection-manager failure. The message says what the class
/// means where the error alone could mislead: a `600` reply reads like a refusal, and a
/// `451` like a final answer.
pub fn explain_connection(e: &ConnectionError) -> (Exit, String) {
    let exit = of_connection(e);
    let prefix = if is_protocol_error(e) {
        "protocol error: "
    } else if exit == Exit::TempFail {
        "temporary failure, try again later: "
    } else {
        ""
    };
    (exit, format!("{prefix}{e}"))
}

fn is_protocol_error(e: &ConnectionError) -> bool {
    match e {
        ConnectionError::Send(SendError::Smtp(s)) => s.is_protocol(),
        ConnectionError::Send(SendError::Auth(AuthError::Mechanism(
            MechanismError::BadChallenge { .. },
        ))) => true,
        ConnectionError::Send(SendError::Auth(AuthError::Transport(t))) => t
            .downcast_ref::<SmtpError>()
            .is_some_and(SmtpError::is_protocol),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use smtpcm_engine::smtp::{RecipientRejection, Reply};

    use super::*;

    fn reply(code: u16) -> Reply {
        Reply::new(code, None, vec!["scripted".into()])
    }

    fn smtp(stage: Stage, kind: ErrorKind) -> ConnectionError {
        ConnectionError::Send(SendError::Smtp(SmtpError::new(stage, kind)))
    }

    fn rejected(stage: Stage, code: u16) -> ConnectionError {
        ConnectionError::Send(SendError::Smtp(SmtpError::rejected(
            stage,
            "CMD",
            reply(code),
        )))
    }

    fn all_rcpts(codes: &[u16]) -> ConnectionError {
        let all = codes
            .iter()
            .enumerate()
            .map(|(i, &code)| RecipientRejection {
                recipient: format!("r{i}@x.test"),
                reply: reply(code),
            })
            .collect();
        smtp(Stage::Rcpt, ErrorKind::AllRecipientsRejected(all))
    }

    fn auth(e: AuthError) -> ConnectionError {
        ConnectionError::Send(SendError::Auth(e))
    }

    fn auth_rejected(code: u16) -> ConnectionError {
        auth(AuthError::Rejected {
            user: "u".into(),
            mechanism: "PLAIN".into(),
            code,
            message: "no".into(),
        })
    }

    fn report(rejected: &[u16]) -> SendReport {
        SendReport {
            accepted: vec!["ok@x.test".into()],
            rejected: rejected
                .iter()
                .map(|&code| RecipientRejection {
                    recipient: "r@x.test".into(),
                    reply: reply(code),
                })
                .collect(),
            reply: reply(250),
            bytes: 1,
        }
    }

    /// Every code of the table, each reached from a constructed library error or report.
    #[test]
    fn every_documented_code_is_reached_from_a_library_error() {
        let io = || std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        let cases: Vec<(ConnectionError, Exit)> = vec![
            // 1: a transport error that is not the client's own type is our bug.
            (
                auth(AuthError::Transport("odd transport".into())),
                Exit::Internal,
            ),
            // 2: bad input, found before connecting.
            (ConnectionError::NoServer("cm".into()), Exit::Usage),
            (
                auth(AuthError::InvalidConfig {
                    key: "AuthMechanism".into(),
                    reason: "x".into(),
                }),
                Exit::Usage,
            ),
            (
                smtp(Stage::Rcpt, ErrorKind::InvalidInput("CR in address".into())),
                Exit::Usage,
            ),
            // 3: connection, TLS and protocol failures.
            (smtp(Stage::Connect, ErrorKind::Io(io())), Exit::Connection),
            (
                smtp(Stage::DataTransfer, ErrorKind::Io(io())),
                Exit::Connection,
            ),
            (
                smtp(
                    Stage::DataTransfer,
                    ErrorKind::Timeout(Duration::from_secs(1)),
                ),
                Exit::Connection,
            ),
            // A bare I/O failure while the message is written.
            (
                ConnectionError::Send(SendError::Mime(MimeError::Io(io()))),
                Exit::Connection,
            ),
            (
                smtp(Stage::StartTls, ErrorKind::StartTlsNotOffered),
                Exit::Connection,
            ),
            (rejected(Stage::StartTls, 454), Exit::Connection),
            (rejected(Stage::Mail, 600), Exit::Connection),
            (rejected(Stage::Mail, 999), Exit::Connection),
            (rejected(Stage::DataEnd, 354), Exit::Connection),
            (all_rcpts(&[550, 600]), Exit::Connection),
            (
                smtp(Stage::Ehlo, ErrorKind::Protocol("garbage".into())),
                Exit::Connection,
            ),
            (
                auth(AuthError::Mechanism(MechanismError::BadChallenge {
                    mechanism: "NTLM".into(),
                    reason: "short".into(),
                })),
                Exit::Connection,
            ),
            (
                auth(AuthError::Transport(Box::new(SmtpError::new(
                    Stage::Auth,
                    ErrorKind::Disconnected,
                )))),
                Exit::Connection,
            ),
            // 4: credentials refused.
            (auth_rejected(535), Exit::Auth),
            // 5: a permanent refusal of the message or of every recipient.
            (rejected(Stage::Mail, 550), Exit::Rejected),
            (rejected(Stage::DataEnd, 554), Exit::Rejected),
            (all_rcpts(&[550, 551]), Exit::Rejected),
            (
                smtp(
                    Stage::Mail,
                    ErrorKind::MessageTooLarge { size: 2, limit: 1 },
                ),
                Exit::Rejected,
            ),
            // 7: the message may have been delivered.
            (
                smtp(Stage::DataEnd, ErrorKind::DeliveryUnknown),
                Exit::Unknown,
            ),
            // 8: nothing to authenticate with.
            (
                auth(AuthError::MissingCredentials { what: "x".into() }),
                Exit::NoCredentials,
            ),
            (
                auth(AuthError::NoKerberosTicket { detail: "x".into() }),
                Exit::NoCredentials,
            ),
            (
                auth(AuthError::GssapiLibraryMissing {
                    message: "x".into(),
                }),
                Exit::NoCredentials,
            ),
            (
                auth(AuthError::Mechanism(MechanismError::Unavailable {
                    mechanism: "NTLM".into(),
                    reason: "x".into(),
                })),
                Exit::NoCredentials,
            ),
            // 8: no OAuth2 token, whether our credentials or the endpoint failed.
            (
                auth(AuthError::Token(
                    smtpcm_engine::auth::token::TokenError::new(
                        smtpcm_engine::auth::token::TokenFailure::Credentials,
                        Some("invalid_client".into()),
                        "x".into(),
                    ),
                )),
                Exit::NoCredentials,
            ),
            (
                auth(AuthError::Token(
                    smtpcm_engine::auth::token::TokenError::new(
                        smtpcm_engine::auth::token::TokenFailure::Endpoint,
                        None,
                        "x".into(),
                    ),
                )),
                Exit::NoCredentials,
            ),
            // 9, 10.
            (
                auth(AuthError::NoSharedMechanism {
                    offered: vec!["PLAIN".into()],
                    wanted: vec!["XOAUTH2".into()],
                }),
                Exit::NoSharedMechanism,
            ),
            (
                auth(AuthError::InsecureChannel {
                    mechanism: "PLAIN".into(),
                    host: "mx".into(),
                }),
                Exit::InsecureAuth,
            ),
            // 75: temporary failures.
            (rejected(Stage::Mail, 451), Exit::TempFail),
            (rejected(Stage::DataEnd, 452), Exit::TempFail),
            (all_rcpts(&[450, 451]), Exit::TempFail),
            (all_rcpts(&[550, 450]), Exit::TempFail),
            (rejected(Stage::Greeting, 421), Exit::TempFail),
            (rejected(Stage::StartTls, 421), Exit::TempFail),
            (auth_rejected(454), Exit::TempFail),
            (
                auth(AuthError::Transport(Box::new(SmtpError::rejected(
                    Stage::Auth,
                    "AUTH PLAIN",
                    reply(421),
                )))),
                Exit::TempFail,
            ),
        ];
        for (error, expected) in &cases {
            assert_eq!(of_connection(error), *expected, "{error}");
        }
        assert_eq!(of_report(&report(&[])), Exit::Sent);
        assert_eq!(of_report(&report(&[550])), Exit::Partial);
        assert_eq!(of_report(&report(&[450])), Exit::Partial);

        let mut reached: Vec<i32> = cases.iter().map(|(_, e)| e.code()).collect();
        reached.extend([Exit::Sent.code(), Exit::Partial.code()]);
        // 11 comes from the outbox's errors (outbox_cmd::explain).
        let full = smtpcm_outbox::OutboxError::Full {
            db: "o.sqlite".into(),
            detail: "database or disk is full".into(),
        };
        reached.push(crate::outbox_cmd::explain(&full).0.code());
        for line in EXIT_CODES_HELP.lines().skip(1) {
            let Some(code) = line.split_whitespace().next().and_then(|c| c.parse().ok()) else {
                continue;
            };
            // 130 is a signal, not a library outcome.
            if code != Exit::Interrupted.code() {
                assert!(reached.contains(&code), "exit code {code} is never reached");
            }
        }
    }

    #[test]
    fn messages_name_protocol_errors_and_temporary_failures() {
        let (exit, message) = explain_connection(&rejected(Stage::DataEnd, 354));
        assert_eq!(exit, Exit::Connection);
        assert!(message.starts_with("protocol error: "), "{message}");
        let (exit, message) = explain_connection(&rejected(Stage::Mail, 451));
        assert_eq!(exit, Exit::TempFail);
        assert!(message.starts_with("temporary failure"), "{message}");
        let (_, message) = explain_connection(&rejected(Stage::Mail, 550));
        assert!(message.starts_with("CMD rejected: 550"), "{message}");
    }
}
