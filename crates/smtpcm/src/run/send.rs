//! From a Send Mail executable in a package to a ready [`SendMailTask`] and its connection
//! manager: property expressions evaluated, `SMTPServer` resolved, paths mapped.

use std::path::{Path, PathBuf};

use crate::connection_manager::{ConnectionError, SmtpConnectionManager};
use crate::expr::{self, PackageScope, Scope, Value};
use crate::package::{
    ConnectionKind, ConnectionManager, Executable, Package, SendMailTaskData, same_guid,
    send_mail_property,
};
use crate::send_mail::{MessageSourceResolver, SendMailTask, SsisCode, TaskError, TaskField};

use super::location::{LocatedField, Location};
use super::paths::map_path;
use super::report::RunErrorEntry;

/// Everything a Send Mail task needs at run time, or why it cannot run.
pub(crate) struct ResolvedTask {
    /// The task with expressions applied and attachment paths mapped.
    pub task: SendMailTask,
    /// The SMTP connection manager it names, with its own expressions applied.
    pub connection: Option<SmtpConnectionManager>,
}

impl From<&TaskError> for RunErrorEntry {
    fn from(e: &TaskError) -> Self {
        let code = e.ssis_code();
        RunErrorEntry {
            code: code.map(|c| c.to_string()),
            symbol: code.map(|c| format!("DTS_E_SENDMAILTASK_{}", c.symbol())),
            message: e.to_string(),
            location: None,
        }
    }
}

impl RunErrorEntry {
    /// An error without an SSIS code.
    pub(crate) fn plain(message: impl Into<String>) -> Self {
        RunErrorEntry {
            code: None,
            symbol: None,
            message: message.into(),
            location: None,
        }
    }

    /// A task error, prefixed with where it happened.
    /// A Send Mail task's error, prefixed with its path and pointing at the field at fault.
    pub(crate) fn task(package: &Package, exec: &Executable, e: &TaskError) -> Self {
        let mut entry = RunErrorEntry::from(e);
        entry.message = format!("{}: {}", exec.path, entry.message);
        entry.at(Location::of_task_error(package, exec, e))
    }
}

/// A `MessageSource` problem (the resolver below is only asked about the message source).
fn validation(code: SsisCode, message: String) -> TaskError {
    TaskError::validation_at(code, TaskField::Property("MessageSource"), message)
}

/// Evaluates one property expression, naming the object and property in any error.
pub(crate) fn eval_property(
    scope: &dyn Scope,
    owner: &str,
    property: &str,
    expression: &str,
) -> Result<Value, RunErrorEntry> {
    expr::evaluate(expression, scope).map_err(|e| {
        RunErrorEntry::plain(format!(
            "{owner}: property expression for {property} ({expression:?}) failed at {e}"
        ))
    })
}

/// Finds a connection manager the way SSIS resolves a task's reference: by DTSID first,
/// then by name; package connections before project ones.
pub(crate) fn find_connection<'p>(
    package: &'p Package,
    reference: &str,
) -> Option<&'p ConnectionManager> {
    let all = || {
        package
            .connections
            .iter()
            .chain(package.project_connections.iter())
    };
    all()
        .find(|c| same_guid(&c.dtsid, reference))
        .or_else(|| all().find(|c| c.name.eq_ignore_ascii_case(reference.trim())))
}

/// The connection string of a connection manager after its property expressions.
///
/// SSIS evaluates these at run time, after `/Conn` was applied, so an expression on
/// `ConnectionString` wins over `/Conn`; callers warn about that.
pub(crate) fn effective_connection(
    cm: &ConnectionManager,
    scope: &dyn Scope,
) -> Result<ConnectionManager, RunErrorEntry> {
    let mut out = cm.clone();
    let owner = format!("connection manager \"{}\"", cm.name);
    for pe in &cm.property_expressions {
        let at = || Location::connection(cm, Some(LocatedField::Expression(pe.property.clone())));
        let value = eval_property(scope, &owner, &pe.property, &pe.expression)
            .map_err(|e| e.at(at()))?
            .to_display_string();
        let path = format!(
            r"\Package.Connections[{}].Properties[{}]",
            cm.name, pe.property
        );
        match crate::package::path::connection_set(&mut out, &pe.property, &value, &path) {
            Ok(()) => {}
            // Properties the model does not hold (ConnectByProxy, DelayValidation ...) do not
            // change what is sent.
            Err(crate::package::PathError::NotFound { .. }) => {}
            Err(e) => return Err(RunErrorEntry::plain(format!("{owner}: {e}")).at(at())),
        }
    }
    Ok(out)
}

/// Evaluates the Send Mail task's property expressions into `data`, each through the property
/// table (so an expression's `"1"` for Priority is `High`, as with `/Set`). Expressions on
/// properties the table does not hold (`Disable`, `Description`, ...) change nothing sent and
/// are skipped. Returns the errors, naming the task, property and expression; the properties
/// whose expressions succeeded are set either way.
pub(crate) fn apply_task_expressions(
    exec: &Executable,
    scope: &dyn Scope,
    data: &mut SendMailTaskData,
) -> Vec<RunErrorEntry> {
    let mut errors = Vec::new();
    for pe in &exec.property_expressions {
        let Some(property) = send_mail_property(&pe.property).filter(|p| p.expression) else {
            continue;
        };
        let at = || Location::task(exec, Some(LocatedField::Expression(property.name.into())));
        let value = match eval_property(scope, &exec.path, &pe.property, &pe.expression) {
            Ok(v) => v.to_display_string(),
            Err(e) => {
                errors.push(e.at(at()));
                continue;
            }
        };
        if let Err(reason) = property.set(data, &value) {
            errors.push(
                RunErrorEntry::plain(format!(
                    "{}: property expression for {} ({:?}) gives an invalid value: {reason}",
                    exec.path, property.name, pe.expression
                ))
                .at(at()),
            );
        }
    }
    errors
}

/// Applies the task's property expressions and resolves its connection manager.
pub(crate) fn resolve_task(
    package: &Package,
    exec: &Executable,
    scope: &PackageScope<'_>,
    path_root: Option<&Path>,
    ca_file: Option<&Path>,
) -> Result<ResolvedTask, RunErrorEntry> {
    let Some(data) = exec.send_mail() else {
        return Err(RunErrorEntry::plain(format!(
            "{}: not a Send Mail task",
            exec.path
        )));
    };
    let mut data = data.clone();
    if let Some(first) = apply_task_expressions(exec, scope, &mut data)
        .into_iter()
        .next()
    {
        return Err(first);
    }
    let task_error = |e: TaskError| RunErrorEntry::task(package, exec, &e);
    let property = |p: &str| Location::task(exec, Some(LocatedField::Property(p.into())));
    // Both were stored in canonical form by the property table; parsing again only guards
    // against a file that holds a value the table never saw.
    let message_source_type = data.message_source_type.parse().map_err(|reason: String| {
        RunErrorEntry::plain(format!("{}: MessageSourceType: {reason}", exec.path))
            .at(property("MessageSourceType"))
    })?;
    let priority = data.priority.parse().map_err(|e| {
        RunErrorEntry::plain(format!("{}: Priority: {e}", exec.path)).at(property("Priority"))
    })?;
    let mapped: Vec<String> = data
        .attachments
        .iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            map_path(p, path_root)
                .map(|local| local.display().to_string())
                .map_err(|e| {
                    task_error(TaskError::validation_at(
                        SsisCode::InvalidAttachment,
                        TaskField::Property("FileAttachments"),
                        format!("FileAttachments: {e}"),
                    ))
                })
        })
        .collect::<Result<_, _>>()?;
    let smtp_ref = data.smtp_server_ref.clone();
    let task = SendMailTask {
        name: exec.name.clone(),
        smtp_connection: smtp_ref.clone(),
        from_line: data.from,
        to_line: data.to,
        cc_line: data.cc,
        bcc_line: data.bcc,
        subject: data.subject,
        message_source_type,
        message_source: data.message_source,
        priority,
        file_attachments: mapped.join("|"),
        body_is_html: false,
        ..SendMailTask::default()
    };
    let task = apply_smtpcm_variables(exec, scope, path_root, task)?;
    if smtp_ref.trim().is_empty() {
        return Ok(ResolvedTask {
            task,
            connection: None,
        });
    }
    let Some(cm) = find_connection(package, &smtp_ref) else {
        return Err(task_error(TaskError::validation_at(
            SsisCode::NoConnectionManager,
            TaskField::Property("SmtpConnection"),
            format!(
                "SMTPServer {smtp_ref:?}: the specified connection does not exist in the package or project"
            ),
        )));
    };
    if cm.kind != ConnectionKind::Smtp {
        return Err(task_error(TaskError::validation_at(
            SsisCode::ConnectionTypeNotSmtp,
            TaskField::Property("SmtpConnection"),
            format!(
                "connection manager \"{}\" is of type {:?}, not SMTP",
                cm.name, cm.creation_name
            ),
        )));
    }
    let cm = effective_connection(cm, scope)?;
    let mut smtp =
        SmtpConnectionManager::with_connection_string(cm.name.clone(), &cm.connection_string)
            .map_err(|e| task_error(TaskError::Connection(ConnectionError::Config(e))))?;
    smtp.description = cm.description.clone();
    smtp.set_extra_ca_file(ca_file.map(Path::to_path_buf));
    Ok(ResolvedTask {
        task,
        connection: Some(smtp),
    })
}

/// Applies the task's `smtpcm::` variables (HTML body, inline images, templates), from the
/// one table in `package::task_vars`.
fn apply_smtpcm_variables(
    exec: &Executable,
    scope: &PackageScope<'_>,
    path_root: Option<&Path>,
    mut task: SendMailTask,
) -> Result<SendMailTask, RunErrorEntry> {
    let map = |p: &str| map_path(p, path_root).map_err(|e| e.to_string());
    for entry in crate::package::task_settings(exec, scope) {
        let (setting, value) =
            entry.map_err(|e| RunErrorEntry::plain(e).at(Location::task(exec, None)))?;
        crate::package::apply_task_variable(&mut task, setting, &value, &map).map_err(|e| {
            RunErrorEntry::plain(format!("{}: {e}", exec.path)).at(Location::task(
                exec,
                Some(LocatedField::Variable(setting.name.into())),
            ))
        })?;
    }
    Ok(task)
}

/// The System variables a template can use.
const SYSTEM_VARIABLES: [&str; 11] = [
    "PackageName",
    "PackageID",
    "MachineName",
    "UserName",
    "StartTime",
    "ContainerStartTime",
    "ErrorCode",
    "ErrorDescription",
    "SourceName",
    "TaskName",
    "ExecutionInstanceGUID",
];

/// Resolves `MessageSource` against the package: File connections and variables.
pub(crate) struct PackageResolver<'a, 'p> {
    pub package: &'p Package,
    pub scope: &'a PackageScope<'p>,
    pub path_root: Option<&'a Path>,
}

impl MessageSourceResolver for PackageResolver<'_, '_> {
    fn file_connection(&self, name: &str) -> Result<PathBuf, TaskError> {
        let cm = find_connection(self.package, name).ok_or_else(|| {
            validation(
                SsisCode::NoConnectionManager,
                format!("MessageSource: the specified connection \"{name}\" does not exist"),
            )
        })?;
        if !matches!(cm.kind, ConnectionKind::File | ConnectionKind::FlatFile) {
            return Err(validation(
                SsisCode::ConnectionTypeNotFile,
                format!(
                    "MessageSource: connection manager \"{}\" is of type {:?}, not File",
                    cm.name, cm.creation_name
                ),
            ));
        }
        let cm = effective_connection(cm, self.scope)
            .map_err(|e| validation(SsisCode::FileDoesNotExist, e.message))?;
        map_path(&cm.connection_string, self.path_root).map_err(|e| {
            validation(
                SsisCode::FileDoesNotExist,
                format!("MessageSource: connection manager \"{}\": {e}", cm.name),
            )
        })
    }

    /// Every variable of the package (scoped ones included), its non-sensitive parameters,
    /// and the System variables, evaluated as a run sees them now.
    fn template_context(&self) -> crate::template::TemplateContext {
        let mut ctx = crate::template::TemplateContext::default();
        let mut names: Vec<String> = self
            .package
            .variables
            .iter()
            .chain(
                self.package
                    .all_executables()
                    .into_iter()
                    .flat_map(|e| e.variables.iter()),
            )
            .map(|v| v.qualified_name())
            .collect();
        names.extend(
            self.package
                .package_parameters
                .iter()
                .filter(|p| !p.sensitive)
                .map(|p| format!("$Package::{}", p.name)),
        );
        names.extend(
            self.package
                .project_parameters
                .iter()
                .filter(|p| !p.sensitive)
                .map(|p| format!("$Project::{}", p.name)),
        );
        names.extend(SYSTEM_VARIABLES.iter().map(|n| format!("System::{n}")));
        for name in names {
            if let Some(value) = self.scope.variable(&name) {
                ctx.insert(&name, &value);
            }
        }
        ctx
    }

    fn string_variable(&self, name: &str) -> Result<String, TaskError> {
        match self.scope.variable(name) {
            Some(Value::Str(s)) => Ok(s),
            Some(other) => Err(validation(
                SsisCode::VariableTypeIsNotString,
                format!(
                    "MessageSource: variable \"{name}\" is of type {}, not a string",
                    other.type_name()
                ),
            )),
            None => Err(validation(
                SsisCode::VariableTypeIsNotString,
                format!("MessageSource: variable \"{name}\" does not exist"),
            )),
        }
    }
}
