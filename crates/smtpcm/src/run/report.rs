//! What a run did: one entry per executable, the mail it sent, and the dtexec exit code.

use serde::Serialize;

/// dtexec's exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ExitCode {
    /// 0: the package ran successfully.
    Success,
    /// 1: the package failed.
    Failure,
    /// 3: the package was canceled.
    Canceled,
    /// 4: the package could not be found.
    NotFound,
    /// 5: the package could not be loaded.
    LoadFailed,
    /// 6: the command line had syntactic or semantic errors (bad `/Conn`, `/Set`, `/Par`).
    CommandLine,
}

impl ExitCode {
    /// The process exit code, as dtexec returns it.
    ///
    /// ```
    /// use smtpcm::run::ExitCode;
    /// assert_eq!(ExitCode::CommandLine.code(), 6);
    /// ```
    pub fn code(self) -> i32 {
        match self {
            ExitCode::Success => 0,
            ExitCode::Failure => 1,
            ExitCode::Canceled => 3,
            ExitCode::NotFound => 4,
            ExitCode::LoadFailed => 5,
            ExitCode::CommandLine => 6,
        }
    }
}

/// How one executable ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ExecStatus {
    /// It ran and succeeded.
    Succeeded,
    /// It ran and failed.
    Failed,
    /// Disabled (by `Disable` or its expression): skipped, counts as success for constraints.
    Disabled,
    /// A task type this runner cannot execute, skipped because of `skip_unsupported`.
    SkippedUnsupported,
    /// Its precedence constraints did not allow it to run.
    NotRun,
    /// `validate_only`: everything checked, nothing sent.
    Validated,
    /// The run was canceled before it finished.
    Canceled,
}

impl ExecStatus {
    /// True when the outcome counts as success for precedence constraints.
    pub fn is_success(self) -> bool {
        matches!(
            self,
            ExecStatus::Succeeded
                | ExecStatus::Disabled
                | ExecStatus::SkippedUnsupported
                | ExecStatus::Validated
        )
    }
}

/// One error, with the SSIS code where one applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunErrorEntry {
    /// The HRESULT, e.g. `0xC00291D3`, when the error has an SSIS code.
    pub code: Option<String>,
    /// The SSIS symbol, e.g. `NOCONNMNGR`.
    pub symbol: Option<String>,
    /// What went wrong, naming the task, property, connection or file.
    pub message: String,
    /// The task or connection manager and the field of it at fault, when known (boxed: most
    /// entries have none, and results carrying an entry stay small).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Box<super::Location>>,
}

impl RunErrorEntry {
    /// This entry, pointing at `location`.
    pub fn at(mut self, location: super::Location) -> Self {
        self.location = Some(Box::new(location));
        self
    }

    /// The value `System::ErrorCode` takes for this error in an OnError handler.
    pub fn error_code_value(&self) -> i32 {
        self.code
            .as_deref()
            .and_then(|c| u32::from_str_radix(c.trim_start_matches("0x"), 16).ok())
            // SSIS exposes HRESULTs as signed 32-bit integers; the cast keeps the bit pattern.
            .map(|h| h as i32)
            .unwrap_or(-1)
    }
}

/// What happened to one recipient of a sent message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecipientOutcome {
    /// The envelope address.
    pub recipient: String,
    /// True when the server accepted it.
    pub accepted: bool,
    /// The server's reply for a refused recipient.
    pub reply: Option<String>,
}

/// One message a Send Mail task handed to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageSent {
    /// The connection manager used.
    pub connection: String,
    /// The subject as sent.
    pub subject: String,
    /// Every recipient and what the server said.
    pub recipients: Vec<RecipientOutcome>,
    /// The server's reply to the end of data.
    pub reply: String,
    /// Message bytes sent.
    pub bytes: u64,
}

/// The result for one executable (task, container, or event-handler task).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecReport {
    /// The package path, e.g. `Package\Sequence\Send Mail Task` or
    /// `Package.EventHandlers[OnError]\Send Mail Task`.
    pub path: String,
    /// The executable's name.
    pub name: String,
    /// Its type as written in the file.
    pub executable_type: String,
    /// How it ended.
    pub status: ExecStatus,
    /// Mail sent by it (Send Mail tasks only).
    pub messages: Vec<MessageSent>,
    /// Errors it raised.
    pub errors: Vec<RunErrorEntry>,
    /// Warnings and notes (a skipped task, an unmodelled enumerator, an overridden `/Conn`).
    pub warnings: Vec<String>,
}

/// The whole run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// The package name.
    pub package: String,
    /// Executables in the order they finished (containers after their children).
    pub executables: Vec<ExecReport>,
    /// Package-level errors and warnings not tied to one executable.
    pub errors: Vec<RunErrorEntry>,
    /// Package-level warnings.
    pub warnings: Vec<String>,
    /// True when nothing was sent on purpose (`validate_only`).
    pub validate_only: bool,
    /// The dtexec exit code.
    pub exit_code: ExitCode,
}

impl RunReport {
    /// Every message sent, in order.
    pub fn messages(&self) -> impl Iterator<Item = &MessageSent> {
        self.executables.iter().flat_map(|e| e.messages.iter())
    }

    /// The report for the executable at `path` (the last one, for executables that ran repeatedly).
    pub fn executable(&self, path: &str) -> Option<&ExecReport> {
        self.executables.iter().rev().find(|e| e.path == path)
    }
}
