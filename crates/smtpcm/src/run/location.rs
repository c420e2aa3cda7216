//! Where a run error points: the task or connection manager, and the field of it at fault.
//!
//! Tools that show `run --validate`'s findings next to an editor (the designer) use this to
//! focus the field, instead of reading field names out of the message.

use serde::Serialize;

use crate::package::{ConnectionManager, Executable, Package};
use crate::send_mail::{TaskError, TaskField};

use super::send::find_connection;

/// The object an error is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LocatedObject {
    /// An executable (a Send Mail task, a container), by package path and DTSID.
    Task {
        /// The package path, e.g. `Package\Send Mail Task`.
        path: String,
        /// Its DTSID.
        dtsid: String,
    },
    /// A connection manager (package or project), by name and DTSID.
    Connection {
        /// Its name.
        name: String,
        /// Its DTSID.
        dtsid: String,
    },
}

/// The field of the object an error is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum LocatedField {
    /// A property: for a Send Mail task its name in the property table (`ToLine`), or `Name`,
    /// `Description`.
    Property(String),
    /// A connection-string key, canonical spelling (`SmtpServer`).
    Key(String),
    /// The property expression on the named property.
    Expression(String),
    /// A task-scoped `smtpcm::` setting (`BodyFormat`).
    Variable(String),
}

/// Where a [`RunErrorEntry`](super::RunErrorEntry) points.
///
/// ```
/// use smtpcm::run::{LocatedField, LocatedObject, Location};
/// let loc = Location {
///     object: LocatedObject::Connection { name: "SMTP".into(), dtsid: "{1}".into() },
///     field: Some(LocatedField::Key("SmtpServer".into())),
/// };
/// assert_eq!(
///     serde_json::to_string(&loc).unwrap(),
///     r#"{"object":{"kind":"connection","name":"SMTP","dtsid":"{1}"},"field":{"kind":"key","name":"SmtpServer"}}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The task or connection manager.
    pub object: LocatedObject,
    /// The field of it, when the error is about one.
    pub field: Option<LocatedField>,
}

impl Location {
    /// A field of an executable.
    pub fn task(exec: &Executable, field: Option<LocatedField>) -> Location {
        Location {
            object: LocatedObject::Task {
                path: exec.path.clone(),
                dtsid: exec.dtsid.clone(),
            },
            field,
        }
    }

    /// A field of a connection manager.
    pub fn connection(cm: &ConnectionManager, field: Option<LocatedField>) -> Location {
        Location {
            object: LocatedObject::Connection {
                name: cm.name.clone(),
                dtsid: cm.dtsid.clone(),
            },
            field,
        }
    }

    /// Where a Send Mail task's error points: a property of the task, or a key of the SMTP
    /// connection manager the task names (the task's `SmtpConnection` when it names none
    /// that exists).
    pub(crate) fn of_task_error(package: &Package, exec: &Executable, e: &TaskError) -> Location {
        match e.field() {
            Some(TaskField::Property(p)) => {
                Location::task(exec, Some(LocatedField::Property(p.into())))
            }
            Some(TaskField::ConnectionKey(k)) => {
                let cm = exec
                    .send_mail()
                    .and_then(|d| find_connection(package, &d.smtp_server_ref));
                match cm {
                    Some(cm) => Location::connection(cm, Some(LocatedField::Key(k.into()))),
                    None => {
                        Location::task(exec, Some(LocatedField::Property("SmtpConnection".into())))
                    }
                }
            }
            None => Location::task(exec, None),
        }
    }
}
