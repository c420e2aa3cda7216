//! JSON views of open files and the edits the API applies to them.
//!
//! Every edit checks its input with the same code the command line uses (the connection-string
//! parser, the Send Mail property table, the expression parser) and changes nothing when it
//! fails, so a 4xx from the API means the document is as it was.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use smtpcm::connection_string::{ConnectionString, KEYS, KeyInfo, get_key, redact, set_key};
use smtpcm::expr::{self, PackageScope};
use smtpcm::package::{
    ConnectionKind, ConnectionManager, EventHandler, Executable, ExecutableKind, Package,
    PropertyExpression, SEND_MAIL_PROPERTIES, SMTPCM_NAMESPACE, TASK_VARIABLES, TaskVariable,
    Variable, apply_task_variable, send_mail_property, task_variable,
};

use crate::workspace::{Diagnostic, Doc, OpenFile};

/// One file in the explorer.
#[derive(Debug, Serialize)]
pub struct FileView {
    pub id: usize,
    pub path: String,
    pub kind: &'static str,
    pub name: String,
    pub format: Option<u32>,
    pub dirty: bool,
    pub changed_on_disk: bool,
    pub error: Option<Diagnostic>,
    pub connections: Vec<ConnectionSummary>,
    pub executables: Vec<ExecNode>,
    pub event_handlers: Vec<HandlerNode>,
    pub variables: Vec<VariableView>,
    pub parameters: Vec<ParameterView>,
}

/// A connection manager in the explorer.
#[derive(Debug, Serialize)]
pub struct ConnectionSummary {
    pub id: String,
    pub name: String,
    pub creation_name: String,
    pub smtp: bool,
    pub file: bool,
    pub project: bool,
}

/// A node of the executable tree.
#[derive(Debug, Serialize)]
pub struct ExecNode {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    pub executable_type: String,
    pub children: Vec<ExecNode>,
    pub event_handlers: Vec<HandlerNode>,
}

/// An event handler and its executables.
#[derive(Debug, Serialize)]
pub struct HandlerNode {
    pub event: String,
    pub children: Vec<ExecNode>,
}

/// A variable.
#[derive(Debug, Serialize)]
pub struct VariableView {
    pub name: String,
    pub data_type: u16,
    pub value: String,
    pub expression: String,
}

/// A parameter; a sensitive one's value is never sent.
#[derive(Debug, Serialize)]
pub struct ParameterView {
    pub name: String,
    pub data_type: u16,
    pub value: String,
    pub sensitive: bool,
}

fn exec_kind(e: &Executable) -> &'static str {
    match e.kind {
        ExecutableKind::SendMail(_) => "send_mail",
        ExecutableKind::Sequence => "sequence",
        ExecutableKind::ForLoop(_) => "for_loop",
        ExecutableKind::ForEachLoop => "foreach_loop",
        ExecutableKind::Other => "other",
    }
}

fn exec_nodes(list: &[Executable]) -> Vec<ExecNode> {
    list.iter()
        .map(|e| ExecNode {
            id: e.dtsid.clone(),
            name: e.name.clone(),
            kind: exec_kind(e),
            executable_type: e.executable_type.clone(),
            children: exec_nodes(&e.executables),
            event_handlers: handler_nodes(&e.event_handlers),
        })
        .collect()
}

fn handler_nodes(list: &[EventHandler]) -> Vec<HandlerNode> {
    list.iter()
        .map(|h| HandlerNode {
            event: h.event_name.clone(),
            children: exec_nodes(&h.executables),
        })
        .collect()
}

fn summary(c: &ConnectionManager, project: bool) -> ConnectionSummary {
    ConnectionSummary {
        id: c.dtsid.clone(),
        name: c.name.clone(),
        creation_name: c.creation_name.clone(),
        smtp: c.kind == ConnectionKind::Smtp,
        file: matches!(c.kind, ConnectionKind::File),
        project,
    }
}

/// The explorer view of one file.
pub fn file_view(id: usize, f: &OpenFile, changed_on_disk: bool) -> FileView {
    let mut v = FileView {
        id,
        path: f.path.display().to_string(),
        kind: "package",
        name: f
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        format: None,
        dirty: f.dirty,
        changed_on_disk,
        error: f.error.clone(),
        connections: Vec::new(),
        executables: Vec::new(),
        event_handlers: Vec::new(),
        variables: Vec::new(),
        parameters: Vec::new(),
    };
    match &f.doc {
        Some(Doc::Conmgr(c)) => {
            v.kind = "conmgr";
            v.connections.push(summary(&c.connection, true));
        }
        Some(Doc::Package(p)) => {
            v.format = Some(p.format_version);
            v.connections = p.connections.iter().map(|c| summary(c, false)).collect();
            v.connections
                .extend(p.project_connections.iter().map(|c| summary(c, true)));
            v.executables = exec_nodes(&p.executables);
            v.event_handlers = handler_nodes(&p.event_handlers);
            v.variables = p
                .variables
                .iter()
                .map(|x| VariableView {
                    name: x.qualified_name(),
                    data_type: x.data_type,
                    value: x.value.clone(),
                    expression: x.expression.clone(),
                })
                .collect();
            let params = p
                .package_parameters
                .iter()
                .map(|x| ("$Package::", x))
                .chain(p.project_parameters.iter().map(|x| ("$Project::", x)));
            v.parameters = params
                .map(|(prefix, x)| ParameterView {
                    name: format!("{prefix}{}", x.name),
                    data_type: x.data_type,
                    value: if x.sensitive {
                        String::new()
                    } else {
                        x.value.clone()
                    },
                    sensitive: x.sensitive,
                })
                .collect();
        }
        None => {
            v.kind = if f.path.extension().is_some_and(|e| e == "conmgr") {
                "conmgr"
            } else {
                "package"
            }
        }
    }
    v
}

/// An API error: status code and the message the CLI would print.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn bad(message: impl Into<String>) -> Self {
        ApiError {
            status: 400,
            message: message.into(),
            field: None,
        }
    }
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ApiError {
            status: 400,
            message: message.into(),
            field: Some(field.to_owned()),
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: 404,
            message: message.into(),
            field: None,
        }
    }
}

// ---- connection managers ----------------------------------------------------------------

/// An SMTP connection manager as the editor shows it.
#[derive(Debug, Serialize)]
pub struct ConnectionView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub creation_name: String,
    pub smtp: bool,
    /// The connection string with secret-looking values replaced by `***`.
    pub connection_string: String,
    /// Key → value as written, for every key of the key table that the string sets.
    pub fields: BTreeMap<String, String>,
    /// The key table, so the page draws one control per key.
    pub keys: &'static [KeyInfo],
    pub warnings: Vec<String>,
    pub error: Option<String>,
    pub expressions: Vec<ExpressionView>,
}

/// A property expression.
#[derive(Debug, Serialize, Deserialize, Clone)]
pub struct ExpressionView {
    pub property: String,
    pub expression: String,
}

/// The keys of the table the string sets, with their values.
pub fn fields_of(cs: &str) -> BTreeMap<String, String> {
    KEYS.iter()
        .filter_map(|k| {
            get_key(cs, k.name)
                .ok()
                .flatten()
                .map(|v| (k.name.to_owned(), v))
        })
        .collect()
}

/// Parses like the CLI does; returns the warnings or the CLI's message.
pub fn check_connection_string(cs: &str) -> Result<Vec<String>, String> {
    if let Some((position, c)) = smtpcm::dtsx::invalid_xml_char(cs) {
        return Err(format!(
            "character U+{:04X} at position {position} cannot be stored in an XML file",
            u32::from(c)
        ));
    }
    ConnectionString::parse(cs)
        .map(|p| p.warnings.iter().map(ToString::to_string).collect())
        .map_err(|e| e.to_string())
}

pub fn connection_view(c: &ConnectionManager) -> ConnectionView {
    let smtp = c.kind == ConnectionKind::Smtp;
    let (warnings, error) = if smtp {
        match check_connection_string(&c.connection_string) {
            Ok(w) => (w, None),
            Err(e) => (Vec::new(), Some(e)),
        }
    } else {
        (Vec::new(), None)
    };
    ConnectionView {
        id: c.dtsid.clone(),
        name: c.name.clone(),
        description: c.description.clone(),
        creation_name: c.creation_name.clone(),
        smtp,
        connection_string: redact(&c.connection_string),
        fields: if smtp {
            redact_fields(fields_of(&c.connection_string))
        } else {
            BTreeMap::new()
        },
        keys: KEYS,
        warnings,
        error,
        expressions: c
            .property_expressions
            .iter()
            .map(|p| ExpressionView {
                property: p.property.clone(),
                expression: p.expression.clone(),
            })
            .collect(),
    }
}

fn redact_fields(mut m: BTreeMap<String, String>) -> BTreeMap<String, String> {
    for (k, v) in m.iter_mut() {
        if smtpcm::connection_string::is_secret_key(k) {
            *v = smtpcm::connection_string::REDACTED.to_owned();
        }
    }
    m
}

/// A request to change a connection manager.
#[derive(Debug, Deserialize)]
pub struct ConnectionEdit {
    pub name: Option<String>,
    pub description: Option<String>,
    pub connection_string: Option<String>,
    /// Key → value; an empty value leaves the key as it is written but empty is refused by
    /// the parser where the key needs a value, exactly as on the command line.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

/// A connection string with `fields` applied, through the same editor as the CLI.
pub fn compose(cs: &str, fields: &BTreeMap<String, String>) -> Result<String, ApiError> {
    let mut out = cs.to_owned();
    for (k, v) in fields {
        if !KEYS.iter().any(|x| x.name == k) {
            return Err(ApiError::field(
                k,
                format!("{k}: not a connection-string key"),
            ));
        }
        if get_key(&out, k).ok().flatten().as_deref() == Some(v.as_str()) {
            continue;
        }
        out = if v.is_empty() {
            remove_key(&out, k)
        } else {
            set_key(&out, k, v).map_err(|e| ApiError::field(k, e.to_string()))?
        };
    }
    Ok(out)
}

/// `cs` without `key` (its segment removed), keeping everything else as written.
fn remove_key(cs: &str, key: &str) -> String {
    // The tokenizer is private to the parser; a segment is `key=value;` with quotes handled by
    // set_key, so rewrite through it: set a marker, then cut the marked segment.
    const MARK: &str = "\u{1}smtpcm-remove\u{1}";
    let Ok(marked) = set_key(cs, key, MARK) else {
        return cs.to_owned();
    };
    let Some(at) = marked.find(MARK) else {
        return cs.to_owned();
    };
    let start = marked[..at].rfind(';').map(|i| i + 1).unwrap_or(0);
    let mut end = at + MARK.len();
    if marked[end..].starts_with(';') {
        end += 1;
    }
    format!("{}{}", &marked[..start], &marked[end..])
}

/// Applies `edit` to `c`, or changes nothing and says why.
pub fn apply_connection_edit(
    c: &mut ConnectionManager,
    edit: &ConnectionEdit,
) -> Result<(), ApiError> {
    let smtp = c.kind == ConnectionKind::Smtp;
    let mut cs = match &edit.connection_string {
        // The page shows secrets as `***`; sending that back means "unchanged".
        Some(s) if *s == redact(&c.connection_string) => c.connection_string.clone(),
        Some(s) => s.clone(),
        None => c.connection_string.clone(),
    };
    if smtp {
        cs = compose(&cs, &edit.fields)?;
        check_connection_string(&cs).map_err(|e| ApiError::field("connection_string", e))?;
    }
    if let Some(name) = &edit.name {
        if name.trim().is_empty() {
            return Err(ApiError::field(
                "name",
                "Name: a connection manager needs a name",
            ));
        }
        xml_ok("name", name)?;
    }
    if let Some(d) = &edit.description {
        xml_ok("description", d)?;
    }
    if let Some(name) = &edit.name {
        c.name = name.clone();
    }
    if let Some(d) = &edit.description {
        c.description = d.clone();
    }
    c.connection_string = cs;
    Ok(())
}

fn xml_ok(field: &str, value: &str) -> Result<(), ApiError> {
    match smtpcm::dtsx::invalid_xml_char(value) {
        None => Ok(()),
        Some((pos, c)) => Err(ApiError::field(
            field,
            format!(
                "{field}: character U+{:04X} at position {pos} cannot be stored in an XML file",
                u32::from(c)
            ),
        )),
    }
}

// ---- Send Mail tasks ----------------------------------------------------------------------

/// Finds an executable anywhere in the package (containers and event handlers included).
pub fn find_exec_mut<'a>(p: &'a mut Package, id: &str) -> Option<&'a mut Executable> {
    fn walk<'a>(
        list: &'a mut [Executable],
        handlers: &'a mut [EventHandler],
        id: &str,
    ) -> Option<&'a mut Executable> {
        for e in list.iter_mut() {
            if smtpcm::package::same_guid(&e.dtsid, id) || e.dtsid == id {
                return Some(e);
            }
            if let Some(found) = walk(&mut e.executables, &mut e.event_handlers, id) {
                return Some(found);
            }
        }
        for h in handlers.iter_mut() {
            if let Some(found) = walk(&mut h.executables, &mut [], id) {
                return Some(found);
            }
        }
        None
    }
    walk(&mut p.executables, &mut p.event_handlers, id)
}

/// A Send Mail task as the editor shows it.
#[derive(Debug, Serialize)]
pub struct TaskView {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Property name (from the one property table) → stored value.
    pub properties: BTreeMap<String, String>,
    pub property_names: Vec<&'static str>,
    pub connection_name: Option<String>,
    pub expressions: Vec<ExpressionView>,
    /// smtpcm's HTML mail settings (task-scoped `smtpcm::` variables), one per row of the
    /// library's table, in its order; `value` is `None` when the task has no such variable.
    pub html_settings: Vec<HtmlSettingView>,
}

/// One `smtpcm::` task setting as the HTML section shows it.
#[derive(Debug, Serialize)]
pub struct HtmlSettingView {
    pub name: &'static str,
    pub meaning: &'static str,
    pub value: Option<String>,
    /// The variable's expression, when it is evaluated as one (shown, not edited here).
    pub expression: Option<String>,
}

fn html_settings(e: &Executable) -> Vec<HtmlSettingView> {
    TASK_VARIABLES
        .iter()
        .map(|t| {
            let v = e.variables.iter().find(|v| {
                v.namespace.eq_ignore_ascii_case(SMTPCM_NAMESPACE)
                    && v.name.eq_ignore_ascii_case(t.name)
            });
            HtmlSettingView {
                name: t.name,
                meaning: t.meaning,
                value: v.map(|v| v.value.clone()),
                expression: v
                    .filter(|v| v.evaluate_as_expression && !v.expression.is_empty())
                    .map(|v| v.expression.clone()),
            }
        })
        .collect()
}

/// Checks `value` for the setting `name` with the code `smtpcm run` applies it with, so a bad
/// value gets the message `run` would give. Inline image paths are not looked up here: the
/// files are read when the mail is sent, on the machine that sends it.
fn check_html_setting(
    path: &str,
    name: &str,
    value: &str,
) -> Result<&'static TaskVariable, ApiError> {
    let field = format!("html:{name}");
    let setting = task_variable(name).ok_or_else(|| {
        let known: Vec<_> = TASK_VARIABLES.iter().map(|t| t.name).collect();
        ApiError::field(
            &field,
            format!(
                "{path}: unknown variable {SMTPCM_NAMESPACE}::{name} (smtpcm knows {})",
                known.join(", ")
            ),
        )
    })?;
    xml_ok(&field, value)?;
    let mut scratch = smtpcm::send_mail::SendMailTask::default();
    apply_task_variable(&mut scratch, setting, value, &|p| Ok(p.into()))
        .map_err(|m| ApiError::field(&field, format!("{path}: {m}")))?;
    Ok(setting)
}

pub fn task_view(p: &Package, e: &Executable) -> Option<TaskView> {
    let d = e.send_mail()?;
    let properties = SEND_MAIL_PROPERTIES
        .iter()
        .map(|x| (x.name.to_owned(), x.get(d)))
        .collect();
    Some(TaskView {
        id: e.dtsid.clone(),
        name: e.name.clone(),
        description: e.description.clone(),
        properties,
        property_names: SEND_MAIL_PROPERTIES.iter().map(|x| x.name).collect(),
        connection_name: p.connection(&d.smtp_server_ref).map(|c| c.name.clone()),
        expressions: e
            .property_expressions
            .iter()
            .map(|x| ExpressionView {
                property: x.property.clone(),
                expression: x.expression.clone(),
            })
            .collect(),
        html_settings: html_settings(e),
    })
}

/// A request to change a Send Mail task.
#[derive(Debug, Deserialize)]
pub struct TaskEdit {
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    pub expressions: Option<Vec<ExpressionView>>,
    /// HTML mail settings by name (`BodyFormat`, ...): a value sets the task-scoped
    /// `smtpcm::` variable, adding it when the task has none; an empty value for a setting the
    /// task does not have adds nothing.
    #[serde(default)]
    pub html: BTreeMap<String, String>,
}

/// Applies `edit` to the task, through the property table, or changes nothing.
pub fn apply_task_edit(p: &mut Package, id: &str, edit: &TaskEdit) -> Result<(), ApiError> {
    let snapshot_conns: Vec<(String, String)> = p
        .connections
        .iter()
        .chain(p.project_connections.iter())
        .map(|c| (c.name.clone(), c.dtsid.clone()))
        .collect();
    let e = find_exec_mut(p, id).ok_or_else(|| ApiError::not_found(format!("no task {id}")))?;
    let Some(d) = e.send_mail() else {
        return Err(ApiError::bad(format!(
            "{:?} is not a Send Mail task",
            e.name
        )));
    };
    let mut data = d.clone();
    for (k, v) in &edit.properties {
        let prop = send_mail_property(k)
            .ok_or_else(|| ApiError::field(k, format!("{k}: not a Send Mail task property")))?;
        xml_ok(k, v)?;
        // The picker sends a name; the file stores the DTSID, as SSIS does.
        let value = if prop.name == "SmtpConnection" {
            snapshot_conns
                .iter()
                .find(|(n, dtsid)| n.eq_ignore_ascii_case(v) || dtsid == v)
                .map(|(_, dtsid)| dtsid.clone())
                .unwrap_or_else(|| v.clone())
        } else {
            v.clone()
        };
        if prop.get(&data) == value {
            continue;
        }
        prop.set(&mut data, &value)
            .map_err(|m| ApiError::field(prop.name, format!("{}: {m}", prop.name)))?;
    }
    if let Some(list) = &edit.expressions {
        for x in list {
            if send_mail_property(&x.property).is_none()
                && !["Description", "Disable", "Name"]
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(&x.property))
            {
                return Err(ApiError::field(
                    &format!("expr:{}", x.property),
                    format!("{}: not a property of the Send Mail task", x.property),
                ));
            }
            expr::parse(&x.expression).map_err(|err| {
                ApiError::field(
                    &format!("expr:{}", x.property),
                    format!("{}: {err}", x.property),
                )
            })?;
            xml_ok(&x.property, &x.expression)?;
        }
    }
    let mut html = Vec::new();
    for (k, v) in &edit.html {
        html.push((check_html_setting(&e.path, k, v)?, v));
    }
    if let Some(n) = &edit.name {
        if n.trim().is_empty() {
            return Err(ApiError::field("name", "Name: a task needs a name"));
        }
        xml_ok("name", n)?;
    }
    if let Some(dsc) = &edit.description {
        xml_ok("description", dsc)?;
    }
    // Every check passed: apply.
    if let Some(n) = &edit.name {
        e.name = n.clone();
    }
    if let Some(dsc) = &edit.description {
        e.description = dsc.clone();
    }
    if let Some(list) = &edit.expressions {
        let mut next: Vec<PropertyExpression> = Vec::new();
        for x in list {
            // Keep the loaded expression object (its origin) when the property already had one.
            match e
                .property_expressions
                .iter()
                .find(|p| p.property.eq_ignore_ascii_case(&x.property))
            {
                Some(old) => {
                    let mut kept = old.clone();
                    kept.expression = x.expression.clone();
                    next.push(kept);
                }
                None => next.push(PropertyExpression::new(&x.property, &x.expression)),
            }
        }
        e.property_expressions = next;
    }
    for (setting, value) in html {
        match e.variables.iter_mut().find(|v| {
            v.namespace.eq_ignore_ascii_case(SMTPCM_NAMESPACE)
                && v.name.eq_ignore_ascii_case(setting.name)
        }) {
            // An unchanged value is not written, so the file keeps its bytes.
            Some(v) if v.value == *value => {}
            Some(v) => v.value = value.clone(),
            None if value.is_empty() => {}
            None => e.variables.push(Variable::new(
                SMTPCM_NAMESPACE,
                setting.name,
                smtpcm::package::vartype::STRING,
                value,
            )),
        }
    }
    if let Some(d) = e.send_mail_mut() {
        *d = data;
    }
    Ok(())
}

/// The value of an expression against the package's variables and parameters.
#[derive(Debug, Serialize)]
pub struct Preview {
    pub value: Option<String>,
    pub error: Option<String>,
    pub column: Option<usize>,
}

pub fn preview(p: &Package, expression: &str) -> Preview {
    let scope = PackageScope::new(p);
    match expr::evaluate(expression, &scope) {
        Ok(v) => Preview {
            value: Some(v.to_display_string()),
            error: None,
            column: None,
        },
        Err(e) => Preview {
            value: None,
            column: Some(e.column()),
            error: Some(e.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_sets_and_removes_keys_in_place() {
        let cs = "SmtpServer=a;UseWindowsAuthentication=False;EnableSsl=False;";
        let mut f = BTreeMap::new();
        f.insert("EnableSsl".to_owned(), "True".to_owned());
        f.insert("Port".to_owned(), "587".to_owned());
        let out = compose(cs, &f).unwrap();
        assert_eq!(
            out,
            "SmtpServer=a;UseWindowsAuthentication=False;EnableSsl=True;Port=587;"
        );
        let mut f = BTreeMap::new();
        f.insert("Port".to_owned(), String::new());
        assert_eq!(
            compose(&out, &f).unwrap(),
            "SmtpServer=a;UseWindowsAuthentication=False;EnableSsl=True;"
        );
        let mut f = BTreeMap::new();
        f.insert("Nope".to_owned(), "1".to_owned());
        assert!(compose(cs, &f).is_err());
    }

    #[test]
    fn a_bad_connection_string_changes_nothing() {
        let mut c = ConnectionManager::new("SMTP");
        let before = c.clone();
        let edit = ConnectionEdit {
            name: Some("Renamed".into()),
            description: None,
            connection_string: Some("SmtpServer=a;Timeout=0;".into()),
            fields: BTreeMap::new(),
        };
        let err = apply_connection_edit(&mut c, &edit).unwrap_err();
        assert_eq!(err.status, 400);
        assert!(err.message.contains("Timeout"), "{}", err.message);
        assert_eq!(c, before);
    }
}
