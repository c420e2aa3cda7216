//! The Send Mail task: SSIS's fields, its validation codes, and the message it sends.
//!
//! The task holds the fields as SSIS stores them (strings with `;`/`,` and `|`
//! separators). [`SendMailTask::prepare`] turns them into a streamed MIME
//! message, failing with the SSIS error code where one applies.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::connection_manager::{ConnectionError, SmtpConnectionManager};
use smtpcm_engine::address::{self, AddressError};
use smtpcm_engine::mime::{
    Attachment, BodyFile, InlinePart, MAX_UNSIZED_BODY, Message, MimeError, PreparedMessage,
    Priority,
};
use smtpcm_engine::smtp::{Dsn, SendReport};

/// Where the message body comes from (`SendMailMessageSourceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageSourceType {
    /// `MessageSource` is the body text.
    #[default]
    DirectInput,
    /// `MessageSource` names a File connection manager whose file holds the body.
    FileConnection,
    /// `MessageSource` names a string variable holding the body.
    Variable,
}

impl FromStr for MessageSourceType {
    type Err = String;
    /// Accepts the names SSIS writes and the enum's numbers (0, 1, 2).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "directinput" | "0" => Ok(Self::DirectInput),
            "fileconnection" | "1" => Ok(Self::FileConnection),
            "variable" | "2" => Ok(Self::Variable),
            other => Err(format!(
                "unknown MessageSourceType {other:?}: expected DirectInput, FileConnection or Variable"
            )),
        }
    }
}

impl fmt::Display for MessageSourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::DirectInput => "DirectInput",
            Self::FileConnection => "FileConnection",
            Self::Variable => "Variable",
        })
    }
}

/// An SSIS Send Mail task error code (`DTS_E_SENDMAILTASK_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsisCode {
    /// 0xC00291C3: no recipient is specified.
    RecipientEmpty,
    /// 0xC00291C4: the SMTP server is not specified.
    SmtpServerNotSpecified,
    /// 0xC00291CB: an attachment does not exist or cannot be read.
    InvalidAttachment,
    /// 0xC00291CD: verify that the SMTP server is valid.
    CheckValidSmtpServer,
    /// 0xC00291CE: a connection is not of type File.
    ConnectionTypeNotFile,
    /// 0xC00291CF: a file does not exist.
    FileDoesNotExist,
    /// 0xC00291D0: a variable is not of type string.
    VariableTypeIsNotString,
    /// 0xC00291D1: a connection is not of type SMTP.
    ConnectionTypeNotSmtp,
    /// 0xC00291D2: a connection is empty.
    ConnectionManagerNull,
    /// 0xC00291D3: the specified connection does not exist.
    NoConnectionManager,
}

impl SsisCode {
    /// The HRESULT SSIS reports.
    pub fn hresult(self) -> u32 {
        match self {
            Self::RecipientEmpty => 0xC002_91C3,
            Self::SmtpServerNotSpecified => 0xC002_91C4,
            Self::InvalidAttachment => 0xC002_91CB,
            Self::CheckValidSmtpServer => 0xC002_91CD,
            Self::ConnectionTypeNotFile => 0xC002_91CE,
            Self::FileDoesNotExist => 0xC002_91CF,
            Self::VariableTypeIsNotString => 0xC002_91D0,
            Self::ConnectionTypeNotSmtp => 0xC002_91D1,
            Self::ConnectionManagerNull => 0xC002_91D2,
            Self::NoConnectionManager => 0xC002_91D3,
        }
    }

    /// The symbolic name after `DTS_E_SENDMAILTASK_`.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::RecipientEmpty => "RECIPIENT_EMPTY",
            Self::SmtpServerNotSpecified => "SMTP_SERVER_NOT_SPECIFIED",
            Self::InvalidAttachment => "INVALIDATTACHMENT",
            Self::CheckValidSmtpServer => "CHECK_VALID_SMTP_SERVER",
            Self::ConnectionTypeNotFile => "CONNECTIONTYPENOTFILE",
            Self::FileDoesNotExist => "FILEDOESNOTEXIST",
            Self::VariableTypeIsNotString => "VARIABLETYPEISNOTSTRING",
            Self::ConnectionTypeNotSmtp => "CONNECTIONTYPENOTSMTP",
            Self::ConnectionManagerNull => "CONNMNGRNULL",
            Self::NoConnectionManager => "NOCONNMNGR",
        }
    }
}

impl fmt::Display for SsisCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08X}", self.hresult())
    }
}

/// Why the task failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// A validation failure with its SSIS code, e.g. no recipient.
    #[error("{code} ({symbol}): {message}", symbol = code.symbol())]
    Validation {
        /// The SSIS code.
        code: SsisCode,
        /// What was wrong, naming the field, file or connection.
        message: String,
        /// The field at fault, for tools that point at it (the designer's Validate).
        field: TaskField,
    },
    /// A From/To/Cc/Bcc field holds a malformed address.
    #[error("{field}: {source}")]
    Address {
        /// The task field (`FromLine`, `ToLine`, `CCLine`, `BCCLine`).
        field: &'static str,
        /// The parser's error, naming the address.
        source: AddressError,
    },
    /// The message could not be built (a header with CR/LF, an unreadable attachment ...).
    #[error(transparent)]
    Mime(#[from] MimeError),
    /// Connecting, authenticating or sending failed.
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// A Subject or body template that does not parse or render (names line and column).
    #[error("template {0}")]
    Template(#[from] crate::template::TemplateError),
}

/// The field a [`TaskError`] is about: a property of the task, or a key of the connection
/// string of its SMTP connection manager. Tools use it to point at the field (the designer
/// focuses it); the message names it for people.
///
/// ```
/// use smtpcm::send_mail::{SendMailTask, TaskField};
/// let task = SendMailTask { smtp_connection: "x".into(), ..SendMailTask::default() };
/// let cm = smtpcm::connection_manager::SmtpConnectionManager::with_connection_string(
///     "SMTP", "SmtpServer=h;").unwrap();
/// let e = task.validate(Some(&cm)).unwrap_err();
/// assert_eq!(e.field(), Some(TaskField::Property("ToLine")));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskField {
    /// A property of the task, by its name in the Send Mail property table (`ToLine`).
    Property(&'static str),
    /// A key of the task's SMTP connection manager's connection string, canonical spelling
    /// (`SmtpServer`).
    ConnectionKey(&'static str),
}

impl TaskField {
    /// The field an SSIS validation code is about when nothing more specific is known.
    fn of_code(code: SsisCode) -> TaskField {
        TaskField::Property(match code {
            SsisCode::RecipientEmpty => "ToLine",
            SsisCode::InvalidAttachment => "FileAttachments",
            SsisCode::CheckValidSmtpServer => return TaskField::ConnectionKey("SmtpServer"),
            SsisCode::ConnectionTypeNotFile
            | SsisCode::FileDoesNotExist
            | SsisCode::VariableTypeIsNotString => "MessageSource",
            SsisCode::SmtpServerNotSpecified
            | SsisCode::ConnectionTypeNotSmtp
            | SsisCode::ConnectionManagerNull
            | SsisCode::NoConnectionManager => "SmtpConnection",
        })
    }
}

impl TaskError {
    fn validation(code: SsisCode, message: impl Into<String>) -> Self {
        Self::validation_at(code, TaskField::of_code(code), message)
    }

    /// A validation error about `field`: SSIS uses one code for problems in different places
    /// (`SMTP_SERVER_NOT_SPECIFIED` for a task without a connection and for a connection
    /// without a server), so the field is given where the code does not decide it.
    pub fn validation_at(code: SsisCode, field: TaskField, message: impl Into<String>) -> Self {
        TaskError::Validation {
            code,
            message: message.into(),
            field,
        }
    }

    /// The field this error is about, when it is about one.
    pub fn field(&self) -> Option<TaskField> {
        match self {
            TaskError::Validation { field, .. } => Some(*field),
            TaskError::Address { field, .. } => Some(TaskField::Property(field)),
            TaskError::Mime(MimeError::Attachment { .. } | MimeError::ContentType { .. }) => {
                Some(TaskField::Property("FileAttachments"))
            }
            TaskError::Mime(MimeError::NoSender) => Some(TaskField::Property("FromLine")),
            TaskError::Mime(MimeError::NoRecipients) => Some(TaskField::Property("ToLine")),
            TaskError::Mime(MimeError::HeaderInjection { header })
                if header.eq_ignore_ascii_case("Subject") =>
            {
                Some(TaskField::Property("Subject"))
            }
            TaskError::Connection(ConnectionError::Config(e)) => e
                .key
                .as_deref()
                .and_then(crate::connection_string::key_info)
                .map(|k| TaskField::ConnectionKey(k.name)),
            TaskError::Connection(ConnectionError::NoServer(_)) => {
                Some(TaskField::ConnectionKey("SmtpServer"))
            }
            TaskError::Template(t) if t.template == "Subject" => {
                Some(TaskField::Property("Subject"))
            }
            TaskError::Template(t) if t.template == "MessageSource" => {
                Some(TaskField::Property("MessageSource"))
            }
            _ => None,
        }
    }

    /// The SSIS code for this failure, where one applies.
    pub fn ssis_code(&self) -> Option<SsisCode> {
        match self {
            TaskError::Validation { code, .. } => Some(*code),
            TaskError::Mime(MimeError::Attachment { .. }) => Some(SsisCode::InvalidAttachment),
            TaskError::Connection(ConnectionError::NoServer(_)) => {
                Some(SsisCode::SmtpServerNotSpecified)
            }
            _ => None,
        }
    }
}

/// SSIS's validation of one attachment path: it must exist and be accessible.
///
/// For callers that list attachments one path each (the CLI's `--attach`) rather than in
/// the `|`-separated `FileAttachments` field.
///
/// ```
/// use smtpcm::send_mail::{SsisCode, check_attachment};
/// let e = check_attachment(std::path::Path::new("/nonexistent/a|b.txt")).unwrap_err();
/// assert_eq!(e.ssis_code(), Some(SsisCode::InvalidAttachment));
/// assert!(e.to_string().contains("/nonexistent/a|b.txt"));
/// ```
pub fn check_attachment(path: &std::path::Path) -> Result<(), TaskError> {
    std::fs::metadata(path).map(drop).map_err(|e| {
        TaskError::validation(
            SsisCode::InvalidAttachment,
            format!(
                "either the file \"{}\" does not exist or you do not have permissions to access it ({e})",
                path.display()
            ),
        )
    })
}

/// Reads a text file whole, refusing more than `cap` bytes (so `/dev/zero` is an error, not
/// an endless read) and anything that is not UTF-8.
fn read_capped(path: &std::path::Path, cap: u64) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(cap + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("larger than {cap} bytes, too large to read whole"),
        ));
    }
    String::from_utf8(bytes)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()))
}

/// Looks up what `MessageSource` names when it is not the body itself.
pub trait MessageSourceResolver {
    /// The file path of the named File connection manager.
    fn file_connection(&self, name: &str) -> Result<PathBuf, TaskError>;
    /// The value of the named string variable.
    fn string_variable(&self, name: &str) -> Result<String, TaskError>;
    /// What Subject and body templates can refer to (variables, parameters, System
    /// variables); the task adds its own fields. Empty unless a caller provides one.
    fn template_context(&self) -> crate::template::TemplateContext {
        crate::template::TemplateContext::default()
    }
}

/// A resolver for callers without a package: any File connection or variable is an error.
pub struct NoPackage;

impl MessageSourceResolver for NoPackage {
    fn file_connection(&self, name: &str) -> Result<PathBuf, TaskError> {
        Err(TaskError::validation_at(
            SsisCode::NoConnectionManager,
            TaskField::Property("MessageSource"),
            format!("the specified connection \"{name}\" does not exist"),
        ))
    }
    fn string_variable(&self, name: &str) -> Result<String, TaskError> {
        Err(TaskError::validation(
            SsisCode::VariableTypeIsNotString,
            format!("variable \"{name}\" does not exist"),
        ))
    }
}

/// The Send Mail task's properties, named as in SSIS's object model.
///
/// ```
/// use smtpcm::send_mail::{SendMailTask, NoPackage};
///
/// let task = SendMailTask {
///     from_line: "etl@corp.example".into(),
///     to_line: "ops@corp.example; \"Doe, Jane\" <jane@corp.example>".into(),
///     subject: "Nightly load finished".into(),
///     message_source: "All rows loaded.".into(),
///     ..SendMailTask::default()
/// };
/// let message = task.build_message(&NoPackage).unwrap();
/// assert_eq!(message.to.len(), 2);
/// assert_eq!(message.to[1].name.as_deref(), Some("Doe, Jane"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendMailTask {
    /// The task's name.
    pub name: String,
    /// The SMTP connection manager, by name or DTSID.
    pub smtp_connection: String,
    /// The sender.
    pub from_line: String,
    /// Recipients, separated by `;` or `,`.
    pub to_line: String,
    /// Copy recipients.
    pub cc_line: String,
    /// Blind copy recipients: envelope only, never in a header.
    pub bcc_line: String,
    /// The subject.
    pub subject: String,
    /// How to read `message_source`.
    pub message_source_type: MessageSourceType,
    /// Body text, File connection name or variable name.
    pub message_source: String,
    /// High, Normal or Low.
    pub priority: Priority,
    /// Attachment paths separated by `|`.
    pub file_attachments: String,
    /// Extension: send the body as HTML (SSIS only sends plain text); with a text
    /// alternative, `text_alternative` or one generated from the HTML. `smtpcm::BodyFormat`
    /// ([`BodyFormat`](crate::html_body::BodyFormat)) in a package.
    pub body_is_html: bool,
    /// Extension: the text part sent with an HTML body; `None` generates it from the HTML.
    pub text_alternative: Option<String>,
    /// Extension: files the HTML body shows by `cid:`; one nothing refers to is attached.
    pub inline_parts: Vec<InlinePart>,
    /// Extension: Subject, the body and the text alternative are MiniJinja templates
    /// ([`crate::template`]) over the package's variables, parameters and the task's fields.
    pub template: bool,
    /// Extension: move an HTML body's `<style>` rules into `style` attributes.
    pub inline_css: bool,
    /// Extension: the largest HTML body in bytes (the engine's 8 MiB default when `None`).
    pub max_html_bytes: Option<u64>,
    /// Extension: DSN settings for this task's message (RFC 3461); each one not set falls
    /// back to the connection string's `DsnNotify`/`DsnRet`. Sent only to a server that
    /// offers DSN.
    pub dsn: Dsn,
}

impl SendMailTask {
    /// The attachment paths, split on `|`, blanks dropped.
    pub fn attachments(&self) -> Vec<PathBuf> {
        self.file_attachments
            .split('|')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .collect()
    }

    /// Resolve `MessageSource` to the body text.
    ///
    /// A file body is read whole here, up to [`MAX_UNSIZED_BODY`] bytes; sending the task
    /// streams it instead (see [`SendMailTask::build_message`]).
    pub fn body(&self, resolver: &dyn MessageSourceResolver) -> Result<String, TaskError> {
        match self.message_source_type {
            MessageSourceType::DirectInput => Ok(self.message_source.clone()),
            MessageSourceType::Variable => resolver.string_variable(self.message_source.trim()),
            MessageSourceType::FileConnection => {
                let path = resolver.file_connection(self.message_source.trim())?;
                read_capped(&path, MAX_UNSIZED_BODY).map_err(|e| {
                    TaskError::validation(
                        SsisCode::FileDoesNotExist,
                        format!(
                            "on operation \"read message body\", file \"{}\": {e}",
                            path.display()
                        ),
                    )
                })
            }
        }
    }

    /// Check the fields as SSIS validation does, without touching the network.
    pub fn validate(&self, connection: Option<&SmtpConnectionManager>) -> Result<(), TaskError> {
        match connection {
            None if self.smtp_connection.trim().is_empty() => {
                return Err(TaskError::validation(
                    SsisCode::SmtpServerNotSpecified,
                    format!("task \"{}\" names no SMTP connection manager", self.name),
                ));
            }
            None => {
                return Err(TaskError::validation(
                    SsisCode::NoConnectionManager,
                    format!(
                        "the specified connection \"{}\" does not exist",
                        self.smtp_connection
                    ),
                ));
            }
            Some(cm) if cm.settings().host().trim().is_empty() => {
                return Err(TaskError::validation_at(
                    SsisCode::SmtpServerNotSpecified,
                    TaskField::ConnectionKey("SmtpServer"),
                    format!("connection manager \"{}\" has no SmtpServer", cm.name),
                ));
            }
            Some(_) => {}
        }
        if [&self.to_line, &self.cc_line, &self.bcc_line]
            .iter()
            .all(|l| l.trim().is_empty())
        {
            return Err(TaskError::validation(
                SsisCode::RecipientEmpty,
                "no recipient is specified in ToLine, CCLine or BCCLine",
            ));
        }
        for path in self.attachments() {
            check_attachment(&path)?;
        }
        Ok(())
    }

    /// Build the message: addresses parsed, body resolved, attachments listed.
    pub fn build_message(
        &self,
        resolver: &dyn MessageSourceResolver,
    ) -> Result<Message, TaskError> {
        let list = |field: &'static str, text: &str| {
            address::parse_list(text).map_err(|source| TaskError::Address { field, source })
        };
        let from = if self.from_line.trim().is_empty() {
            None
        } else {
            Some(
                smtpcm_engine::address::Mailbox::parse(&self.from_line).map_err(|source| {
                    TaskError::Address {
                        field: "FromLine",
                        source,
                    }
                })?,
            )
        };
        let to = list("ToLine", &self.to_line)?;
        let cc = list("CCLine", &self.cc_line)?;
        let bcc = list("BCCLine", &self.bcc_line)?;
        if to.is_empty() && cc.is_empty() && bcc.is_empty() {
            return Err(TaskError::validation(
                SsisCode::RecipientEmpty,
                "no recipient is specified in ToLine, CCLine or BCCLine",
            ));
        }
        // A file body is streamed, never read whole: only its existence is checked here,
        // so that a missing file keeps its SSIS code.
        let (text_body, html_body, body_file) = match self.message_source_type {
            MessageSourceType::FileConnection => {
                let path = resolver.file_connection(self.message_source.trim())?;
                std::fs::metadata(&path).map_err(|e| {
                    TaskError::validation(
                        SsisCode::FileDoesNotExist,
                        format!(
                            "on operation \"read message body\", file \"{}\": {e}",
                            path.display()
                        ),
                    )
                })?;
                let html = self.body_is_html;
                (None, None, Some(BodyFile { path, html }))
            }
            _ => {
                let body = self.body(resolver)?;
                if self.body_is_html {
                    (None, Some(body), None)
                } else {
                    (Some(body), None, None)
                }
            }
        };
        let mut message = Message {
            from,
            to,
            cc,
            bcc,
            subject: self.subject.clone(),
            text_body,
            html_body,
            body_file,
            priority: self.priority,
            attachments: self
                .attachments()
                .into_iter()
                .map(|path| Attachment {
                    path,
                    file_name: None,
                    content_type: None,
                })
                .collect(),
            ..Message::default()
        };
        crate::html_body::apply(self, &mut message, resolver)?;
        Ok(message)
    }

    /// Validate and build the message, ready to stream.
    pub fn prepare(
        &self,
        connection: Option<&SmtpConnectionManager>,
        resolver: &dyn MessageSourceResolver,
    ) -> Result<PreparedMessage, TaskError> {
        self.validate(connection)?;
        let message = self.build_message(resolver)?;
        Ok(message.prepare()?)
    }

    /// Run the task: validate, connect through the connection manager, send, QUIT.
    pub async fn execute(
        &self,
        connection: &SmtpConnectionManager,
        resolver: &dyn MessageSourceResolver,
    ) -> Result<SendReport, TaskError> {
        let message = self.prepare(Some(connection), resolver)?;
        let mut endpoint = connection.endpoint()?;
        // The task's DSN settings win over its connection's.
        endpoint.client.dsn = self.dsn.or(&endpoint.client.dsn);
        Ok(endpoint
            .send(&message)
            .await
            .map_err(ConnectionError::from)?)
    }
}
