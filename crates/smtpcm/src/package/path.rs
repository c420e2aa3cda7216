//! Property paths as used by dtexec `/Set` and package configurations:
//! `\Package.Connections[Name].Properties[SmtpServer]`,
//! `\Package.Variables[User::X].Properties[Value]` (or `.Value`),
//! `\Package\Container\Task.Properties[Subject]`. Matching is case-insensitive.

use super::executable::{Executable, ExecutableKind};
use super::smtp_props;
use super::task_props::send_mail_property;
use super::{ConnectionKind, ConnectionManager, Package, Variable};

/// A property path that does not resolve, or a value it cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path is not of a recognised shape.
    #[error("property path {path:?}: {reason}")]
    Syntax {
        /// The whole path.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A segment names something the package does not have.
    #[error("property path {path:?}: {segment:?} does not resolve ({reason})")]
    NotFound {
        /// The whole path.
        path: String,
        /// The segment that failed.
        segment: String,
        /// What was looked for.
        reason: String,
    },
    /// The value cannot be assigned to the property.
    #[error("property path {path:?}: invalid value for {property}: {reason}")]
    BadValue {
        /// The whole path.
        path: String,
        /// The property.
        property: String,
        /// Why.
        reason: String,
    },
}

/// Parsed path: the object part and the property name.
struct Parsed<'a> {
    object: Object<'a>,
    property: String,
}

enum Object<'a> {
    Package,
    Connection(&'a str),
    Variable(&'a str),
    Executable(Vec<&'a str>),
}

/// Splits `\Package...` into object and property.
fn parse(path: &str) -> Result<Parsed<'_>, PathError> {
    let syntax = |reason: &str| PathError::Syntax {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let rest = path.trim().strip_prefix('\\').unwrap_or(path.trim());
    let rest =
        strip_prefix_ci(rest, "Package").ok_or_else(|| syntax("must start with \\Package"))?;
    // The property part: `.Properties[Name]` or a trailing `.Value`.
    let (object_part, property) = if let Some(idx) = rfind_ci(rest, ".Properties[") {
        let prop = &rest[idx + ".Properties[".len()..];
        let prop = prop
            .strip_suffix(']')
            .ok_or_else(|| syntax("`.Properties[` is not closed by `]` at the end"))?;
        (&rest[..idx], prop.to_owned())
    } else if rest.len() >= 6 && rest[rest.len() - 6..].eq_ignore_ascii_case(".Value") {
        (&rest[..rest.len() - 6], "Value".to_owned())
    } else if rest.starts_with(".Variables[") || rest.starts_with(".variables[") {
        // `\Package.Variables[$Package::P]` (dtexec /Set on a parameter) means its value.
        (rest, "Value".to_owned())
    } else {
        return Err(syntax(
            "expected `.Properties[Name]` or `.Value` at the end",
        ));
    };
    let object = if object_part.is_empty() {
        Object::Package
    } else if let Some(inner) = bracketed(object_part, ".Connections[") {
        Object::Connection(inner)
    } else if let Some(inner) = bracketed(object_part, ".Variables[") {
        Object::Variable(inner)
    } else if let Some(p) = object_part.strip_prefix('\\') {
        Object::Executable(p.split('\\').collect())
    } else {
        return Err(syntax(
            "expected `.Connections[..]`, `.Variables[..]` or `\\Task`",
        ));
    };
    Ok(Parsed { object, property })
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn rfind_ci(s: &str, needle: &str) -> Option<usize> {
    s.to_ascii_lowercase().rfind(&needle.to_ascii_lowercase())
}

fn bracketed<'a>(s: &'a str, head: &str) -> Option<&'a str> {
    strip_prefix_ci(s, head)?.strip_suffix(']')
}

fn not_found(path: &str, segment: &str, reason: &str) -> PathError {
    PathError::NotFound {
        path: path.to_owned(),
        segment: segment.to_owned(),
        reason: reason.to_owned(),
    }
}

fn bool_value(path: &str, property: &str, value: &str) -> Result<bool, PathError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "-1" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(PathError::BadValue {
            path: path.to_owned(),
            property: property.to_owned(),
            reason: format!("{value:?} is not True or False"),
        }),
    }
}

fn find_exec_mut<'a>(list: &'a mut [Executable], names: &[&str]) -> Option<&'a mut Executable> {
    let (first, rest) = names.split_first()?;
    let e = list
        .iter_mut()
        .find(|e| e.name.eq_ignore_ascii_case(first))?;
    if rest.is_empty() {
        Some(e)
    } else {
        find_exec_mut(&mut e.executables, rest)
    }
}

fn find_exec<'a>(list: &'a [Executable], names: &[&str]) -> Result<&'a Executable, String> {
    let (first, rest) = names.split_first().ok_or_else(String::new)?;
    let e = list
        .iter()
        .find(|e| e.name.eq_ignore_ascii_case(first))
        .ok_or_else(|| (*first).to_owned())?;
    if rest.is_empty() {
        Ok(e)
    } else {
        find_exec(&e.executables, rest)
    }
}

impl Package {
    /// Reads a property by path.
    ///
    /// ```
    /// let mut pkg = smtpcm::package::Package::new("P");
    /// pkg.connections.add("SMTP");
    /// let v = pkg
    ///     .get_property(r"\Package.Connections[SMTP Connection Manager].Properties[EnableSsl]")
    ///     .unwrap();
    /// assert_eq!(v, "False");
    /// let err = pkg.get_property(r"\Package.Connections[Nope].Properties[SmtpServer]").unwrap_err();
    /// assert!(err.to_string().contains("\"Nope\""));
    /// ```
    pub fn get_property(&self, path: &str) -> Result<String, PathError> {
        let parsed = parse(path)?;
        let prop = parsed.property.as_str();
        match parsed.object {
            Object::Package => match prop.to_ascii_lowercase().as_str() {
                "name" | "objectname" => Ok(self.name.clone()),
                "description" => Ok(self.description.clone()),
                "id" | "dtsid" => Ok(self.id.clone()),
                _ => Err(not_found(path, prop, "package property")),
            },
            Object::Connection(name) => {
                let cm = self
                    .connection(name)
                    .ok_or_else(|| not_found(path, name, "connection manager by name or DTSID"))?;
                connection_get(cm, prop, path)?
                    .ok_or_else(|| not_found(path, prop, "connection property"))
            }
            Object::Variable(name) => {
                if let Some(p) = self.parameter(name) {
                    return Ok(p.value.clone());
                }
                let v = self
                    .variable(name)
                    .ok_or_else(|| not_found(path, name, "package variable or parameter"))?;
                variable_get(v, prop).ok_or_else(|| not_found(path, prop, "variable property"))
            }
            Object::Executable(names) => {
                let e = find_exec(&self.executables, &names)
                    .map_err(|seg| not_found(path, &seg, "executable by name"))?;
                executable_get(e, prop).ok_or_else(|| not_found(path, prop, "task property"))
            }
        }
    }

    /// Sets a property by path; the change is written by the next save.
    ///
    /// ```
    /// let mut pkg = smtpcm::package::Package::new("P");
    /// pkg.variables.push(smtpcm::package::Variable::new("User", "To", 8, ""));
    /// pkg.set_property(r"\package.variables[User::To].Value", "ops@example.org").unwrap();
    /// assert_eq!(pkg.variable("User::To").unwrap().value, "ops@example.org");
    /// ```
    pub fn set_property(&mut self, path: &str, value: &str) -> Result<(), PathError> {
        let parsed = parse(path)?;
        let prop = parsed.property.clone();
        match parsed.object {
            Object::Package => match prop.to_ascii_lowercase().as_str() {
                "name" | "objectname" => self.name = value.to_owned(),
                "description" => self.description = value.to_owned(),
                _ => return Err(not_found(path, &prop, "settable package property")),
            },
            Object::Connection(name) => {
                let cm = match self.connections.get_mut(name) {
                    Some(cm) => cm,
                    None => self.project_connections.get_mut(name).ok_or_else(|| {
                        not_found(path, name, "connection manager by name or DTSID")
                    })?,
                };
                connection_set(cm, &prop, value, path)?;
            }
            Object::Variable(name) => {
                if let Some(p) = self.parameter_mut(name) {
                    // A value that does not fit the parameter's type is refused here, so a
                    // run never starts with `maybe` silently read as False or `forty-two` as 0.
                    if let Err(reason) = crate::expr::Value::parse_vartype(p.data_type, value) {
                        return Err(PathError::BadValue {
                            path: path.to_owned(),
                            property: format!(
                                "parameter {name} ({})",
                                crate::expr::vartype_name(p.data_type)
                            ),
                            reason,
                        });
                    }
                    p.value = value.to_owned();
                    return Ok(());
                }
                let v = self
                    .variable_mut(name)
                    .ok_or_else(|| not_found(path, name, "package variable or parameter"))?;
                match prop.to_ascii_lowercase().as_str() {
                    "value" => v.value = value.to_owned(),
                    "expression" => v.expression = value.to_owned(),
                    "evaluateasexpression" => {
                        v.evaluate_as_expression = bool_value(path, &prop, value)?
                    }
                    _ => return Err(not_found(path, &prop, "settable variable property")),
                }
            }
            Object::Executable(names) => {
                if let Err(seg) = find_exec(&self.executables, &names) {
                    return Err(not_found(path, &seg, "executable by name"));
                }
                let e = find_exec_mut(&mut self.executables, &names).ok_or_else(|| {
                    not_found(path, names.last().copied().unwrap_or(""), "executable")
                })?;
                executable_set(e, &prop, value, path)?;
            }
        }
        Ok(())
    }

    /// A `$Package::`/`$Project::` parameter by (optionally prefixed) name.
    pub fn parameter(&self, name: &str) -> Option<&super::Parameter> {
        let (scope, bare) = split_param(name)?;
        let list: Vec<&super::Parameter> = match scope {
            Scope::Package => self.package_parameters.iter().collect(),
            Scope::Project => self.project_parameters.iter().collect(),
        };
        list.into_iter().find(|p| p.name.eq_ignore_ascii_case(bare))
    }

    fn parameter_mut(&mut self, name: &str) -> Option<&mut super::Parameter> {
        let (scope, bare) = split_param(name)?;
        let list = match scope {
            Scope::Package => &mut self.package_parameters,
            Scope::Project => &mut self.project_parameters,
        };
        list.iter_mut().find(|p| p.name.eq_ignore_ascii_case(bare))
    }
}

enum Scope {
    Package,
    Project,
}

fn split_param(name: &str) -> Option<(Scope, &str)> {
    let name = name.trim();
    if let Some(b) = strip_prefix_ci(name, "$Package::") {
        Some((Scope::Package, b))
    } else {
        strip_prefix_ci(name, "$Project::").map(|b| (Scope::Project, b))
    }
}

fn connection_get(
    cm: &ConnectionManager,
    prop: &str,
    path: &str,
) -> Result<Option<String>, PathError> {
    Ok(match prop.to_ascii_lowercase().as_str() {
        "connectionstring" => Some(cm.connection_string.clone()),
        "description" => Some(cm.description.clone()),
        "name" | "objectname" => Some(cm.name.clone()),
        "id" | "dtsid" => Some(cm.dtsid.clone()),
        "creationname" => Some(cm.creation_name.clone()),
        _ if cm.kind == ConnectionKind::Smtp => {
            let Some(key) = smtp_props::SMTP_KEYS
                .iter()
                .find(|k| k.eq_ignore_ascii_case(prop))
            else {
                return Ok(None);
            };
            let value = smtp_props::get(&cm.connection_string, key)
                .map_err(|e| bad_connection_string(path, prop, e))?;
            Some(value.unwrap_or_else(|| match *key {
                "UseWindowsAuthentication" | "EnableSsl" => "False".to_owned(),
                "Timeout" => "100000".to_owned(),
                _ => String::new(),
            }))
        }
        _ => None,
    })
}

/// The stored connection string does not tokenize, so one of its keys cannot be read or set.
fn bad_connection_string(
    path: &str,
    prop: &str,
    e: crate::connection_string::ConnectionStringError,
) -> PathError {
    PathError::BadValue {
        path: path.to_owned(),
        property: prop.to_owned(),
        reason: e.to_string(),
    }
}

pub(crate) fn connection_set(
    cm: &mut ConnectionManager,
    prop: &str,
    value: &str,
    path: &str,
) -> Result<(), PathError> {
    match prop.to_ascii_lowercase().as_str() {
        "connectionstring" => cm.connection_string = value.to_owned(),
        "description" => cm.description = value.to_owned(),
        "name" | "objectname" => cm.name = value.to_owned(),
        _ if cm.kind == ConnectionKind::Smtp => {
            let key = smtp_props::SMTP_KEYS
                .iter()
                .find(|k| k.eq_ignore_ascii_case(prop))
                .ok_or_else(|| not_found(path, prop, "SMTP connection property"))?;
            let value = match *key {
                "UseWindowsAuthentication" | "EnableSsl" => if bool_value(path, prop, value)? {
                    "True"
                } else {
                    "False"
                }
                .to_owned(),
                "Timeout" => {
                    value
                        .trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|ms| *ms > 0)
                        .ok_or_else(|| PathError::BadValue {
                            path: path.to_owned(),
                            property: prop.to_owned(),
                            reason: format!(
                                "{value:?} is not a positive whole number of milliseconds"
                            ),
                        })?;
                    value.trim().to_owned()
                }
                _ => value.to_owned(),
            };
            cm.connection_string = smtp_props::set(&cm.connection_string, key, &value)
                .map_err(|e| bad_connection_string(path, prop, e))?;
        }
        _ => return Err(not_found(path, prop, "connection property")),
    }
    Ok(())
}

fn variable_get(v: &Variable, prop: &str) -> Option<String> {
    match prop.to_ascii_lowercase().as_str() {
        "value" => Some(v.value.clone()),
        "expression" => Some(v.expression.clone()),
        "evaluateasexpression" => Some(
            if v.evaluate_as_expression {
                "True"
            } else {
                "False"
            }
            .into(),
        ),
        "name" | "objectname" => Some(v.name.clone()),
        "namespace" => Some(v.namespace.clone()),
        _ => None,
    }
}

fn executable_get(e: &Executable, prop: &str) -> Option<String> {
    let p = prop.to_ascii_lowercase();
    match p.as_str() {
        "name" | "objectname" => return Some(e.name.clone()),
        "description" => return Some(e.description.clone()),
        "disable" | "disabled" => return Some(if e.disabled { "True" } else { "False" }.into()),
        _ => {}
    }
    let ExecutableKind::SendMail(d) = &e.kind else {
        return None;
    };
    send_mail_property(prop).map(|p| p.get(d))
}

fn executable_set(
    e: &mut Executable,
    prop: &str,
    value: &str,
    path: &str,
) -> Result<(), PathError> {
    let p = prop.to_ascii_lowercase();
    match p.as_str() {
        "name" | "objectname" => {
            e.name = value.to_owned();
            return Ok(());
        }
        "description" => {
            e.description = value.to_owned();
            return Ok(());
        }
        "disable" | "disabled" => {
            e.disabled = bool_value(path, prop, value)?;
            return Ok(());
        }
        _ => {}
    }
    let ExecutableKind::SendMail(d) = &mut e.kind else {
        return Err(not_found(path, prop, "property of this task type"));
    };
    let property =
        send_mail_property(prop).ok_or_else(|| not_found(path, prop, "Send Mail task property"))?;
    property
        .set(d, value)
        .map_err(|reason| PathError::BadValue {
            path: path.to_owned(),
            property: property.name.to_owned(),
            reason,
        })
}
