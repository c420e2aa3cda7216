//! The control-flow tree: tasks, containers, precedence constraints and event handlers.

use super::origin::Origin;
use super::variable::Variable;

/// A `<DTS:PropertyExpression DTS:Name="prop">expr</DTS:PropertyExpression>`.
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyExpression {
    /// The property it drives (`Subject`, `ConnectionString`, `ToLine`, ...).
    pub property: String,
    /// The SSIS expression text.
    pub expression: String,
    pub(crate) origin: Option<Origin>,
}

impl PropertyExpression {
    /// A new property expression.
    pub fn new(property: &str, expression: &str) -> PropertyExpression {
        PropertyExpression {
            property: property.to_owned(),
            expression: expression.to_owned(),
            origin: None,
        }
    }
}

/// The Send Mail task's stored fields, kept as the strings the file holds.
///
/// SSIS 2012+ omits default values; they are filled in here (`Priority` `Normal`,
/// `MessageSourceType` `DirectInput`, empty strings otherwise).
#[derive(Debug, Clone, PartialEq)]
pub struct SendMailTaskData {
    /// `SMTPServer`: the DTSID (or, in code-built packages, the name) of the SMTP connection
    /// manager. Not resolved at load: a dangling reference is reported when the task runs.
    pub smtp_server_ref: String,
    /// `From` (`FromLine`).
    pub from: String,
    /// `To` (`ToLine`), `;`-separated.
    pub to: String,
    /// `CC` (`CCLine`).
    pub cc: String,
    /// `BCC` (`BCCLine`).
    pub bcc: String,
    /// `Subject`.
    pub subject: String,
    /// `DirectInput`, `FileConnection` or `Variable`.
    pub message_source_type: String,
    /// The body, a File connection manager name, or a variable name, per the source type.
    pub message_source: String,
    /// `High`, `Normal` or `Low`.
    pub priority: String,
    /// File paths from `<SendMailTask:Attachments FileName>` children and/or the
    /// `FileAttachments` attribute (`|`-separated).
    pub attachments: Vec<String>,
    /// False for a task whose `<DTS:ObjectData />` is empty.
    pub present: bool,
    pub(crate) origin: Option<Origin>,
}

impl Default for SendMailTaskData {
    fn default() -> Self {
        SendMailTaskData {
            smtp_server_ref: String::new(),
            from: String::new(),
            to: String::new(),
            cc: String::new(),
            bcc: String::new(),
            subject: String::new(),
            message_source_type: "DirectInput".into(),
            message_source: String::new(),
            priority: "Normal".into(),
            attachments: Vec::new(),
            present: false,
            origin: None,
        }
    }
}

/// For Loop container expressions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ForLoop {
    /// `InitExpression`.
    pub init_expression: String,
    /// `EvalExpression`: the loop runs while it is true.
    pub eval_expression: String,
    /// `AssignExpression`.
    pub assign_expression: String,
}

/// What an executable is.
// Send Mail data is inline rather than boxed: packages hold tens of executables, and matching
// `ExecutableKind::SendMail(d)` directly is what every caller does.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutableKind {
    /// Microsoft's Send Mail task.
    SendMail(SendMailTaskData),
    /// `STOCK:SEQUENCE`.
    Sequence,
    /// `STOCK:FORLOOP`.
    ForLoop(ForLoop),
    /// `STOCK:FOREACHLOOP` (its enumerator is not modelled).
    ForEachLoop,
    /// Any other task; `Executable::executable_type` names it.
    Other,
}

/// A task or container (`DTS:Executable`).
#[derive(Debug, Clone, PartialEq)]
pub struct Executable {
    /// `ObjectName`.
    pub name: String,
    /// `DTSID`.
    pub dtsid: String,
    /// Package path, e.g. `Package\Sequence\Send Mail Task` (the format-8 `refId`; computed
    /// the same way for format 3).
    pub path: String,
    /// `Description`.
    pub description: String,
    /// `ExecutableType` (assembly-qualified in formats 3/6, a moniker in 8).
    pub executable_type: String,
    /// Disabled executables are skipped by the runner.
    pub disabled: bool,
    /// Task or container specifics.
    pub kind: ExecutableKind,
    /// Property expressions on the executable.
    pub property_expressions: Vec<PropertyExpression>,
    /// Variables scoped to this executable.
    pub variables: Vec<Variable>,
    /// Children of a container.
    pub executables: Vec<Executable>,
    /// Constraints between `executables` (indices into it).
    pub precedence_constraints: Vec<PrecedenceConstraint>,
    /// Event handlers on this executable.
    pub event_handlers: Vec<EventHandler>,
    pub(crate) origin: Option<Origin>,
}

impl Executable {
    /// True for the Send Mail task under any of its type names.
    pub fn is_send_mail(&self) -> bool {
        matches!(self.kind, ExecutableKind::SendMail(_))
    }

    /// The Send Mail data, if this is a Send Mail task.
    pub fn send_mail(&self) -> Option<&SendMailTaskData> {
        match &self.kind {
            ExecutableKind::SendMail(d) => Some(d),
            _ => None,
        }
    }

    /// Mutable Send Mail data.
    pub fn send_mail_mut(&mut self) -> Option<&mut SendMailTaskData> {
        match &mut self.kind {
            ExecutableKind::SendMail(d) => Some(d),
            _ => None,
        }
    }

    /// The property expression for `property`, if any (case-insensitive).
    pub fn property_expression(&self, property: &str) -> Option<&str> {
        self.property_expressions
            .iter()
            .find(|p| p.property.eq_ignore_ascii_case(property))
            .map(|p| p.expression.as_str())
    }
}

/// Which outcome of the `from` executable a constraint waits for (`DTS:Value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConstraintValue {
    /// 0.
    #[default]
    Success,
    /// 1.
    Failure,
    /// 2.
    Completion,
}

/// How a constraint combines its outcome check with its expression (`DTS:EvalOp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EvalOp {
    /// 1: only the expression.
    Expression,
    /// 2: only the outcome (the default).
    #[default]
    Constraint,
    /// 3: both.
    ExpressionAndConstraint,
    /// 4: either.
    ExpressionOrConstraint,
}

/// A `DTS:PrecedenceConstraint` between two siblings.
#[derive(Debug, Clone, PartialEq)]
pub struct PrecedenceConstraint {
    /// `ObjectName`.
    pub name: String,
    /// `DTSID`.
    pub dtsid: String,
    /// Index of the source executable in the owning container's `executables`.
    pub from: usize,
    /// Index of the target executable.
    pub to: usize,
    /// Outcome checked.
    pub value: ConstraintValue,
    /// How `value` and `expression` combine.
    pub eval_op: EvalOp,
    /// Expression text (may be empty).
    pub expression: String,
    /// When several constraints lead to one executable: all (true) or any (false) must hold.
    pub logical_and: bool,
}

/// A `DTS:EventHandler` (OnError, OnPreExecute, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct EventHandler {
    /// `EventName`.
    pub event_name: String,
    /// `DTSID`.
    pub dtsid: String,
    /// Disabled handlers do not run.
    pub disabled: bool,
    /// Handler-scoped variables (e.g. `System::Propagate`).
    pub variables: Vec<Variable>,
    /// The handler's executables.
    pub executables: Vec<Executable>,
    /// Constraints between them.
    pub precedence_constraints: Vec<PrecedenceConstraint>,
}
