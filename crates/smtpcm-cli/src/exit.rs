//! Exit codes of the `smtpcm` command, one per class of failure.

use smtpcm::connection_manager::ConnectionError;
use smtpcm::send_mail::TaskError;
use smtpcm_engine::auth::AuthError;
use smtpcm_engine::smtp::{ErrorKind, SmtpError, Stage};

/// The documented exit codes (also printed by `smtpcm --help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every recipient accepted the message.
    Sent = 0,
    /// An internal error.
    Internal = 1,
    /// Bad usage or bad input: arguments, connection string, address, header, missing file.
    Usage = 2,
    /// Could not connect, or TLS failed (including a server without STARTTLS when TLS is required).
    Connection = 3,
    /// The server refused the credentials (e.g. 535).
    Auth = 4,
    /// The server rejected the message or every recipient.
    Rejected = 5,
    /// Some recipients were rejected; the others got the message.
    Partial = 6,
    /// The connection dropped after the final dot: the message may or may not have been delivered.
    Unknown = 7,
    /// No credentials to authenticate with: no Kerberos ticket, no NTLM credentials, no
    /// password or token, or no GSSAPI library.
    NoCredentials = 8,
    /// The server offers no authentication mechanism we may use.
    NoSharedMechanism = 9,
    /// Credentials would have crossed an unencrypted connection, so none were sent.
    InsecureAuth = 10,
}

/// The text appended to `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  sent: every recipient accepted the message
  1  internal error
  2  usage error or bad input (arguments, connection string, address, header, missing file)
  3  connection or TLS failure (including no STARTTLS when TLS is required)
  4  authentication failure
  5  rejected by the server (the message, or every recipient)
  6  partial: some recipients rejected, the others accepted
  7  delivery status unknown (connection lost after the final dot; not retried)
  8  no credentials: no Kerberos ticket (run kinit or set KRB5CCNAME), no NTLM credentials,
     no password/token, or no system GSSAPI library
  9  the server offers no authentication mechanism we share (the error lists what it offered)
 10  refused to send credentials over an unencrypted connection";

impl Exit {
    /// The process exit code.
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// Classify an SMTP failure.
pub fn of_smtp(e: &SmtpError) -> Exit {
    if e.is_delivery_unknown() {
        return Exit::Unknown;
    }
    if e.stage() == Stage::Auth {
        return Exit::Auth;
    }
    if e.is_connection() || e.is_tls() {
        return Exit::Connection;
    }
    match e.kind() {
        ErrorKind::Rejected(_)
        | ErrorKind::AllRecipientsRejected(_)
        | ErrorKind::MessageTooLarge { .. } => Exit::Rejected,
        ErrorKind::StartTlsNotOffered | ErrorKind::Tls(_) => Exit::Connection,
        _ => Exit::Connection,
    }
}

/// Classify a connection-manager failure.
pub fn of_connection(e: &ConnectionError) -> Exit {
    match e {
        ConnectionError::Config(_) | ConnectionError::NoServer(_) => Exit::Usage,
        ConnectionError::Auth(a) => of_auth(a),
        ConnectionError::Smtp(s) => of_smtp(s),
        // A failed write to the server carries its SmtpError (a reset mid-body: 3).
        ConnectionError::Mime(smtpcm_engine::mime::MimeError::Io(io)) => {
            SmtpError::from_io_error(io).map_or(Exit::Internal, of_smtp)
        }
        ConnectionError::Mime(_) => Exit::Usage,
        // ConnectionError is non_exhaustive: a kind added later is a bug until mapped here.
        _ => Exit::Internal,
    }
}

/// Classify an authentication failure.
pub fn of_auth(e: &AuthError) -> Exit {
    match e {
        AuthError::Rejected { .. } => Exit::Auth,
        AuthError::NoKerberosTicket { .. }
        | AuthError::GssapiLibraryMissing { .. }
        | AuthError::MissingCredentials { .. } => Exit::NoCredentials,
        AuthError::NoSharedMechanism { .. } => Exit::NoSharedMechanism,
        AuthError::InsecureChannel { .. } => Exit::InsecureAuth,
        AuthError::InvalidConfig { .. } => Exit::Usage,
        AuthError::Transport(t) => match t.downcast_ref::<SmtpError>() {
            Some(s) if s.is_connection() || s.is_tls() => Exit::Connection,
            _ => Exit::Auth,
        },
        _ => Exit::Auth,
    }
}

/// Classify a Send Mail task failure.
pub fn of_task(e: &TaskError) -> Exit {
    match e {
        TaskError::Validation { .. } | TaskError::Address { .. } | TaskError::Mime(_) => {
            Exit::Usage
        }
        TaskError::Connection(c) => of_connection(c),
        _ => Exit::Internal,
    }
}
