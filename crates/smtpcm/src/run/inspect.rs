//! What a package's SMTP connection managers and Send Mail tasks resolve to, for people
//! moving to a new relay: expressions evaluated, references resolved, problems named.

use serde::Serialize;

use crate::connection_string::{ConnectionString, redact};
use crate::expr::PackageScope;
use crate::package::{ConnectionKind, ConnectionManager, Package};

use super::send::{self, find_connection};

/// One SMTP connection manager (or look-alike), as it would be used at run time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InspectConnection {
    /// Name.
    pub name: String,
    /// DTSID.
    pub dtsid: String,
    /// `CreationName`, e.g. `SMTP` or `SMTP (KingswaySoft)`.
    pub creation_name: String,
    /// `package` or `project`.
    pub scope: String,
    /// The connection string as stored, secret values redacted
    /// ([`crate::connection_string::redact`]).
    pub stored_connection_string: String,
    /// The connection string after property expressions, secret values redacted.
    pub connection_string: String,
    /// `SmtpServer` (host, possibly with `:port`).
    pub smtp_server: Option<String>,
    /// The port that would be used.
    pub port: Option<u16>,
    /// `EnableSsl`.
    pub enable_ssl: Option<bool>,
    /// `UseWindowsAuthentication`.
    pub use_windows_authentication: Option<bool>,
    /// Property expressions, `(property, expression)`, secret values redacted.
    pub expressions: Vec<(String, String)>,
    /// Where OAuth2 tokens come from (grant, endpoint, client, scope, and the names of the
    /// variables and files holding secrets, never their values), when OAuth keys are set.
    pub oauth: Option<String>,
    /// Problems: not Microsoft's SMTP type, an expression that fails, a malformed string.
    pub warnings: Vec<String>,
}

/// One Send Mail task with its fields after property expressions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InspectTask {
    /// Package path.
    pub path: String,
    /// Whether it is disabled in the file.
    pub disabled: bool,
    /// `SMTPServer` as stored.
    pub smtp_connection_ref: String,
    /// The connection manager name it resolves to, if any.
    pub smtp_connection: Option<String>,
    /// `FromLine`.
    pub from: String,
    /// `ToLine`.
    pub to: String,
    /// `CCLine`.
    pub cc: String,
    /// `BCCLine`.
    pub bcc: String,
    /// `Subject`.
    pub subject: String,
    /// `Priority`.
    pub priority: String,
    /// `MessageSourceType`.
    pub message_source_type: String,
    /// `MessageSource`.
    pub message_source: String,
    /// Attachment paths as written.
    pub attachments: Vec<String>,
    /// smtpcm's extensions, from the task's `smtpcm::` variables: `(name, value)` with
    /// expressions evaluated (`BodyFormat`, `Template`, `InlineImages`, ...).
    pub smtpcm: Vec<(String, String)>,
    /// Dangling references, failing expressions, empty task data.
    pub warnings: Vec<String>,
}

/// Everything SMTP-related in one package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InspectReport {
    /// Package name.
    pub package: String,
    /// `PackageFormatVersion`.
    pub format_version: u32,
    /// SMTP connection managers and look-alikes.
    pub connections: Vec<InspectConnection>,
    /// Send Mail tasks, event handlers included.
    pub tasks: Vec<InspectTask>,
}

fn looks_like_smtp(cm: &ConnectionManager) -> bool {
    cm.kind == ConnectionKind::Smtp || cm.creation_name.to_ascii_uppercase().contains("SMTP")
}

fn inspect_connection(
    cm: &ConnectionManager,
    scope_name: &str,
    scope: &PackageScope<'_>,
) -> InspectConnection {
    let mut warnings = Vec::new();
    if cm.kind != ConnectionKind::Smtp {
        warnings.push(format!(
            "CreationName {:?} is not Microsoft's SMTP connection manager; Send Mail tasks cannot use it (CONNECTIONTYPENOTSMTP)",
            cm.creation_name
        ));
    }
    let effective = match send::effective_connection(cm, scope) {
        Ok(c) => c.connection_string,
        Err(e) => {
            warnings.push(e.message);
            cm.connection_string.clone()
        }
    };
    let parsed = if cm.kind == ConnectionKind::Smtp {
        match ConnectionString::parse(&effective) {
            Ok(p) => {
                warnings.extend(p.warnings.iter().map(|w| w.to_string()));
                Some(p.value)
            }
            Err(e) => {
                warnings.push(format!("connection string does not parse: {e}"));
                None
            }
        }
    } else {
        None
    };
    let oauth =
        parsed.as_ref().and_then(|p| {
            match crate::oauth::OAuthPlan::from_connection_string(p, false) {
                Ok(plan) => plan.map(|plan| plan.describe()),
                Err(e) => {
                    warnings.push(format!("OAuth keys: {e}"));
                    None
                }
            }
        });
    // A package may hold a `Password=` (ours refuses one, a look-alike's may need one): the
    // report is printed and serialised, so no secret value goes into it.
    InspectConnection {
        name: cm.name.clone(),
        dtsid: cm.dtsid.clone(),
        creation_name: cm.creation_name.clone(),
        scope: scope_name.to_owned(),
        stored_connection_string: redact(&cm.connection_string),
        connection_string: redact(&effective),
        smtp_server: parsed.as_ref().map(|p| p.smtp_server.clone()),
        port: parsed.as_ref().map(|p| p.effective_port()),
        enable_ssl: parsed.as_ref().map(|p| p.enable_ssl),
        use_windows_authentication: parsed.as_ref().map(|p| p.use_windows_authentication),
        expressions: cm
            .property_expressions
            .iter()
            .map(|p| (p.property.clone(), redact(&p.expression)))
            .collect(),
        oauth,
        warnings,
    }
}

/// Inspects one connection manager on its own, as read from a `.conmgr` file outside any
/// project (scope `project`). Its property expressions are evaluated without package
/// variables or parameters, so one that needs them is reported as a warning.
///
/// ```
/// let cm = smtpcm::package::ConnectionManager::new("SMTP");
/// let c = smtpcm::run::inspect_connection_manager(&cm);
/// assert_eq!((c.scope.as_str(), c.port), ("project", Some(25)));
/// ```
pub fn inspect_connection_manager(cm: &ConnectionManager) -> InspectConnection {
    let empty = Package::new("");
    inspect_connection(cm, "project", &PackageScope::new(&empty))
}

/// Lists every SMTP connection manager and Send Mail task of `package`, resolved.
///
/// ```
/// let mut pkg = smtpcm::package::Package::new("P");
/// pkg.connections.add("SMTP");
/// let report = smtpcm::run::inspect(&pkg);
/// assert_eq!(report.connections.len(), 1);
/// assert_eq!(report.connections[0].enable_ssl, Some(false));
/// ```
pub fn inspect(package: &Package) -> InspectReport {
    let scope = PackageScope::new(package);
    let mut connections: Vec<InspectConnection> = package
        .connections
        .iter()
        .filter(|c| looks_like_smtp(c))
        .map(|c| inspect_connection(c, "package", &scope))
        .collect();
    connections.extend(
        package
            .project_connections
            .iter()
            .filter(|c| looks_like_smtp(c))
            .map(|c| inspect_connection(c, "project", &scope)),
    );
    let mut tasks = Vec::new();
    for exec in package.all_executables() {
        let Some(data) = exec.send_mail() else {
            continue;
        };
        let mut warnings = Vec::new();
        if !data.present {
            warnings.push(
                "the task has no data (empty <DTS:ObjectData />): it names no SMTP connection"
                    .into(),
            );
        }
        // The same property table and expression evaluation as a run, so what is shown is
        // what would be sent (an SMTPConnection expression included).
        let mut data = data.clone();
        warnings.extend(
            send::apply_task_expressions(exec, &scope, &mut data)
                .into_iter()
                .map(|e| e.message),
        );
        let resolved = find_connection(package, &data.smtp_server_ref);
        if data.smtp_server_ref.trim().is_empty() {
            warnings
                .push("SMTPServer is empty: the task fails with SMTP_SERVER_NOT_SPECIFIED".into());
        } else if resolved.is_none() {
            warnings.push(format!(
                "SMTPServer {:?} matches no connection manager: the task fails at run time with NOCONNMNGR (0xC00291D3)",
                data.smtp_server_ref
            ));
        }
        let mut disabled = exec.disabled;
        if let Some(text) = exec.property_expression("Disable") {
            match send::eval_property(&scope, &exec.path, "Disable", text) {
                Ok(v) => {
                    disabled = matches!(
                        v.to_display_string().to_ascii_lowercase().as_str(),
                        "true" | "-1" | "1"
                    )
                }
                Err(e) => warnings.push(e.message),
            }
        }
        let mut smtpcm = Vec::new();
        for entry in crate::package::task_settings(exec, &scope) {
            match entry {
                Ok((setting, value)) => smtpcm.push((setting.name.to_string(), value)),
                Err(e) => warnings.push(e),
            }
        }
        let stored_ref = exec
            .send_mail()
            .map(|d| d.smtp_server_ref.clone())
            .unwrap_or_default();
        let mut task = InspectTask {
            path: exec.path.clone(),
            disabled,
            smtp_connection_ref: stored_ref,
            smtp_connection: resolved.map(|c| c.name.clone()),
            from: data.from,
            to: data.to,
            cc: data.cc,
            bcc: data.bcc,
            subject: data.subject,
            priority: data.priority,
            message_source_type: data.message_source_type,
            message_source: data.message_source,
            attachments: data.attachments,
            smtpcm,
            warnings: Vec::new(),
        };
        task.warnings = warnings;
        tasks.push(task);
    }
    InspectReport {
        package: package.name.clone(),
        format_version: package.format_version,
        connections,
        tasks,
    }
}
