//! dtexec's `/Conn`, `/Set` and `/Par`, parsed and applied to a loaded package.

use crate::connection_string::ConnectionString;
use crate::package::{ConnectionKind, Package, PathError};

/// One command-line override, applied in the order given (dtexec processes `/Set` in order,
/// and the last duplicate wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Override {
    /// `/Conn name_or_guid;connection_string`.
    Conn {
        /// Connection manager name or DTSID.
        target: String,
        /// The new connection string.
        connection_string: String,
    },
    /// `/Set [$Sensitive::]property_path;value`.
    Set {
        /// The property path, e.g. `\Package.Variables[User::To].Value`.
        path: String,
        /// The value.
        value: String,
    },
    /// `/Par [$Package::|$Project::]name[(type)];value`, or `CM.<name>.<Property>;value`.
    Par {
        /// The parameter name as written, without the `(type)` suffix.
        name: String,
        /// The value.
        value: String,
    },
}

/// An override that could not be parsed or applied; dtexec exits with 6 for these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    /// The argument is not `left;right`.
    #[error("{option} {argument:?}: {reason}")]
    Syntax {
        /// `/Conn`, `/Set` or `/Par`.
        option: &'static str,
        /// The argument as given.
        argument: String,
        /// What is wrong.
        reason: String,
    },
    /// No connection manager has that name or DTSID.
    #[error(
        "/Conn {target:?}: no connection manager with this name or DTSID in the package or project"
    )]
    ConnectionNotFound {
        /// The name or DTSID given.
        target: String,
    },
    /// The new SMTP connection string does not parse.
    #[error("/Conn {target:?}: invalid SMTP connection string: {reason}")]
    BadConnectionString {
        /// The connection manager.
        target: String,
        /// The parser's message.
        reason: String,
    },
    /// The property path or parameter does not resolve, or the value does not fit.
    #[error("{option} {argument:?}: {source}")]
    Path {
        /// `/Set` or `/Par`.
        option: &'static str,
        /// The argument as given.
        argument: String,
        /// Why.
        #[source]
        source: PathError,
    },
}

/// Removes one pair of surrounding double quotes, as dtexec does for each half of an argument.
fn unquote(s: &str) -> &str {
    let t = s.trim();
    t.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(t)
}

fn split_pair<'a>(
    option: &'static str,
    argument: &'a str,
) -> Result<(&'a str, &'a str), OverrideError> {
    let (left, right) = argument
        .split_once(';')
        .ok_or_else(|| OverrideError::Syntax {
            option,
            argument: argument.to_owned(),
            reason: "expected `name;value` (in a shell, quote it or escape the `;` as `\\;`)"
                .into(),
        })?;
    let left = unquote(left);
    if left.is_empty() {
        return Err(OverrideError::Syntax {
            option,
            argument: argument.to_owned(),
            reason: "the part before `;` is empty".into(),
        });
    }
    Ok((left, unquote(right)))
}

impl Override {
    /// Parses a `/Conn` argument.
    ///
    /// ```
    /// use smtpcm::run::Override;
    /// let o = Override::conn(r#""SMTP Connection Manager";"SmtpServer=relay;EnableSsl=True;""#).unwrap();
    /// assert_eq!(o, Override::Conn {
    ///     target: "SMTP Connection Manager".into(),
    ///     connection_string: "SmtpServer=relay;EnableSsl=True;".into(),
    /// });
    /// assert!(Override::conn("no-separator").is_err());
    /// ```
    pub fn conn(argument: &str) -> Result<Override, OverrideError> {
        let (target, cs) = split_pair("/Conn", argument)?;
        Ok(Override::Conn {
            target: target.to_owned(),
            connection_string: cs.to_owned(),
        })
    }

    /// Parses a `/Set` argument; a `$Sensitive::` prefix is accepted and ignored.
    pub fn set(argument: &str) -> Result<Override, OverrideError> {
        let (path, value) = split_pair("/Set", argument)?;
        let path = path.strip_prefix("$Sensitive::").unwrap_or(path);
        Ok(Override::Set {
            path: path.to_owned(),
            value: value.to_owned(),
        })
    }

    /// Parses a `/Par` argument, dropping a `(data_type)` suffix on the name.
    ///
    /// ```
    /// use smtpcm::run::Override;
    /// let o = Override::par("$Package::Retries(Int32);3").unwrap();
    /// assert_eq!(o, Override::Par { name: "$Package::Retries".into(), value: "3".into() });
    /// ```
    pub fn par(argument: &str) -> Result<Override, OverrideError> {
        let (name, value) = split_pair("/Par", argument)?;
        let name = match name.rfind('(') {
            Some(open) if name.ends_with(')') => name[..open].trim_end(),
            _ => name,
        };
        Ok(Override::Par {
            name: name.to_owned(),
            value: value.to_owned(),
        })
    }

    /// Applies the override to `package` (and its project connections and parameters).
    pub fn apply(&self, package: &mut Package) -> Result<(), OverrideError> {
        match self {
            Override::Conn {
                target,
                connection_string,
            } => {
                let cm = match package.connections.get_mut(target) {
                    Some(cm) => cm,
                    None => package.project_connections.get_mut(target).ok_or_else(|| {
                        OverrideError::ConnectionNotFound {
                            target: target.clone(),
                        }
                    })?,
                };
                if cm.kind == ConnectionKind::Smtp {
                    ConnectionString::parse(connection_string).map_err(|e| {
                        OverrideError::BadConnectionString {
                            target: target.clone(),
                            reason: e.to_string(),
                        }
                    })?;
                }
                cm.connection_string = connection_string.clone();
                Ok(())
            }
            Override::Set { path, value } => {
                package
                    .set_property(path, value)
                    .map_err(|source| OverrideError::Path {
                        option: "/Set",
                        argument: format!("{path};{value}"),
                        source,
                    })
            }
            Override::Par { name, value } => apply_par(package, name, value),
        }
    }
}

fn apply_par(package: &mut Package, name: &str, value: &str) -> Result<(), OverrideError> {
    let path_error = |source| OverrideError::Path {
        option: "/Par",
        argument: format!("{name};{value}"),
        source,
    };
    if let Some(rest) = name
        .strip_prefix("CM.")
        .or_else(|| name.strip_prefix("cm."))
    {
        // The connection manager's name may itself contain dots; the property never does.
        let (cm, property) = rest.rsplit_once('.').ok_or_else(|| OverrideError::Syntax {
            option: "/Par",
            argument: format!("{name};{value}"),
            reason: "expected CM.<connection manager>.<Property>".into(),
        })?;
        return package
            .set_property(
                &format!(r"\Package.Connections[{cm}].Properties[{property}]"),
                value,
            )
            .map_err(path_error);
    }
    let lower = name.to_ascii_lowercase();
    let candidates: Vec<String> =
        if lower.starts_with("$package::") || lower.starts_with("$project::") {
            vec![name.to_owned()]
        } else if lower.starts_with("$serveroption::") {
            return Err(OverrideError::Syntax {
                option: "/Par",
                argument: format!("{name};{value}"),
                reason: "$ServerOption:: parameters only apply to the SSIS catalog".into(),
            });
        } else {
            // dtexec treats an unprefixed name as a package parameter; fall back to the project.
            vec![format!("$Package::{name}"), format!("$Project::{name}")]
        };
    let mut last = None;
    for candidate in candidates {
        if package.parameter(&candidate).is_some_and(|p| p.sensitive) {
            // The error text repeats the argument; a sensitive parameter's value stays out of it.
            let masked = |source| OverrideError::Path {
                option: "/Par",
                argument: format!("{name};(sensitive value)"),
                source,
            };
            return package
                .set_property(
                    &format!(r"\Package.Variables[{candidate}].Properties[Value]"),
                    value,
                )
                .map_err(masked);
        }
        if package.parameter(&candidate).is_none() {
            last = Some(PathError::NotFound {
                path: candidate.clone(),
                segment: candidate.clone(),
                reason: "package or project parameter".into(),
            });
            continue;
        }
        return package
            .set_property(
                &format!(r"\Package.Variables[{candidate}].Properties[Value]"),
                value,
            )
            .map_err(path_error);
    }
    Err(path_error(last.unwrap_or_else(|| PathError::NotFound {
        path: name.to_owned(),
        segment: name.to_owned(),
        reason: "package or project parameter".into(),
    })))
}
