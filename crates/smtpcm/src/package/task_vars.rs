//! The one table of smtpcm's Send Mail extensions as they are stored in a package: variables
//! in the namespace `smtpcm`, scoped to the task.
//!
//! SSIS's Send Mail element must stay as SSIS wrote it, or SSIS would refuse the package.
//! Variables are different: SSIS loads a task-scoped `smtpcm::BodyFormat` as an ordinary
//! variable and ignores it, so a package that uses HTML mail still opens, validates and runs
//! (as plain text) in SSIS. The HTML or the template itself stays in `MessageSource`.
//!
//! `smtpcm run` applies these settings and `smtpcm inspect` shows them, both from this
//! table. A variable in the namespace that the table does not know is an error at run time
//! (a misspelt setting must not be ignored) and a warning in `inspect`.

use std::path::PathBuf;

use crate::expr::{self, Scope, Value};
use crate::html_body::BodyFormat;
use crate::send_mail::SendMailTask;
use smtpcm_engine::mime::InlinePart;

use super::{Executable, Variable};

/// The variable namespace of the extensions.
pub const NAMESPACE: &str = "smtpcm";

/// One extension setting.
#[derive(Debug)]
pub struct TaskVariable {
    /// The name after `smtpcm::`.
    pub name: &'static str,
    /// What it holds, as the README documents it.
    pub meaning: &'static str,
}

/// Every `smtpcm::` task variable.
pub static TASK_VARIABLES: [TaskVariable; 6] = [
    TaskVariable {
        name: "BodyFormat",
        meaning: "Text (default) or Html: the body in MessageSource is sent as text/html with a text alternative",
    },
    TaskVariable {
        name: "TextBody",
        meaning: "the text alternative of an HTML body; generated from the HTML when absent",
    },
    TaskVariable {
        name: "InlineImages",
        meaning: "CID=PATH entries separated by |: files the HTML shows as cid:CID",
    },
    TaskVariable {
        name: "Template",
        meaning: "True: Subject, the body and TextBody are MiniJinja templates",
    },
    TaskVariable {
        name: "InlineCss",
        meaning: "True: an HTML body's <style> rules are moved into style attributes",
    },
    TaskVariable {
        name: "MaxHtmlBytes",
        meaning: "the largest HTML body in bytes (default 8388608)",
    },
];

/// The setting called `name` (case-insensitive).
///
/// ```
/// assert_eq!(smtpcm::package::task_variable("bodyformat").unwrap().name, "BodyFormat");
/// assert!(smtpcm::package::task_variable("Colour").is_none());
/// ```
pub fn task_variable(name: &str) -> Option<&'static TaskVariable> {
    TASK_VARIABLES
        .iter()
        .find(|v| v.name.eq_ignore_ascii_case(name.trim()))
}

/// The task's `smtpcm::` variables with their values (expressions evaluated), in file order.
/// An unknown name or a failing expression is an `Err` entry naming the variable.
pub fn task_settings(
    exec: &Executable,
    scope: &dyn Scope,
) -> Vec<Result<(&'static TaskVariable, String), String>> {
    exec.variables
        .iter()
        .filter(|v| v.namespace.eq_ignore_ascii_case(NAMESPACE))
        .map(|v| {
            let qualified = format!("{NAMESPACE}::{}", v.name);
            let Some(setting) = task_variable(&v.name) else {
                let known: Vec<_> = TASK_VARIABLES.iter().map(|t| t.name).collect();
                return Err(format!(
                    "{}: unknown variable {qualified} (smtpcm knows {})",
                    exec.path,
                    known.join(", ")
                ));
            };
            value_of(v, scope)
                .map(|value| (setting, value))
                .map_err(|e| format!("{}: variable {qualified}: {e}", exec.path))
        })
        .collect()
}

fn value_of(v: &Variable, scope: &dyn Scope) -> Result<String, String> {
    if v.evaluate_as_expression && !v.expression.trim().is_empty() {
        return expr::evaluate(&v.expression, scope)
            .map(|value| value.to_display_string())
            .map_err(|e| format!("expression {:?} failed at {e}", v.expression));
    }
    Ok(Value::from_vartype(v.data_type, &v.value)
        .map(|value| value.to_display_string())
        .unwrap_or_else(|| v.value.clone()))
}

fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "-1" => Ok(true),
        "false" | "0" | "" => Ok(false),
        _ => Err(format!("{text:?} is not True or False")),
    }
}

/// Applies one setting to `task`; `map_path` turns a path from the package into a local one.
pub fn apply_task_variable(
    task: &mut SendMailTask,
    setting: &TaskVariable,
    value: &str,
    map_path: &dyn Fn(&str) -> Result<PathBuf, String>,
) -> Result<(), String> {
    let fail = |e: String| format!("{NAMESPACE}::{}: {e}", setting.name);
    match setting.name {
        "BodyFormat" => {
            task.body_is_html = value.parse::<BodyFormat>().map_err(fail)? == BodyFormat::Html
        }
        "TextBody" => task.text_alternative = Some(value.to_string()),
        "InlineImages" => {
            for entry in value.split('|').filter(|e| !e.trim().is_empty()) {
                let (cid, path) = entry
                    .split_once('=')
                    .ok_or_else(|| fail(format!("entry {entry:?} is not CID=PATH")))?;
                let path = map_path(path.trim()).map_err(|e| fail(format!("{entry:?}: {e}")))?;
                task.inline_parts.push(InlinePart::new(cid.trim(), path));
            }
        }
        "Template" => task.template = parse_bool(value).map_err(fail)?,
        "InlineCss" => task.inline_css = parse_bool(value).map_err(fail)?,
        "MaxHtmlBytes" => {
            let n: u64 = value
                .trim()
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| fail(format!("{value:?} is not a positive number of bytes")))?;
            task.max_html_bytes = Some(n);
        }
        _ => return Err(fail("not an smtpcm setting".into())),
    }
    Ok(())
}
