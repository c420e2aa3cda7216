//! Adding and removing Send Mail tasks in the model. Saving a loaded package writes an added
//! task in the shape SSIS writes for its format and cuts a removed one out (see `dtsx`).

use super::executable::{Executable, ExecutableKind, SendMailTaskData};
use super::{EventHandler, Package, new_dtsid};

/// The Send Mail task's `ExecutableType` in format 8 (SSIS 2014 and later).
pub const SEND_MAIL_TYPE_8: &str = "Microsoft.SendMailTask";
/// The Send Mail task's `ExecutableType` in format 3 (SSIS 2008 and 2008 R2).
pub const SEND_MAIL_TYPE_3: &str = "Microsoft.SqlServer.Dts.Tasks.SendMailTask.SendMailTask, Microsoft.SqlServer.SendMailTask, Version=10.0.0.0, Culture=neutral, PublicKeyToken=89845dcd8080cc91";
/// The Send Mail task's `ExecutableType` in format 6 (SSIS 2012).
pub const SEND_MAIL_TYPE_6: &str = "Microsoft.SqlServer.Dts.Tasks.SendMailTask.SendMailTask, Microsoft.SqlServer.SendMailTask, Version=11.0.0.0, Culture=neutral, PublicKeyToken=89845dcd8080cc91";

fn find_mut<'a>(
    list: &'a mut [Executable],
    handlers: &'a mut [EventHandler],
    id: &str,
) -> Option<&'a mut Executable> {
    for e in list.iter_mut() {
        if super::same_guid(&e.dtsid, id) || e.dtsid == id {
            return Some(e);
        }
        if let Some(found) = find_mut(&mut e.executables, &mut e.event_handlers, id) {
            return Some(found);
        }
    }
    for h in handlers.iter_mut() {
        if let Some(found) = find_mut(&mut h.executables, &mut [], id) {
            return Some(found);
        }
    }
    None
}

/// Removes the executable `id` from `list`, fixing the constraint indices; `Err` when a
/// constraint still refers to it.
fn remove_from(
    list: &mut Vec<Executable>,
    constraints: &mut [super::PrecedenceConstraint],
    id: &str,
) -> Option<Result<(), String>> {
    if let Some(i) = list
        .iter()
        .position(|e| super::same_guid(&e.dtsid, id) || e.dtsid == id)
    {
        if constraints.iter().any(|c| c.from == i || c.to == i) {
            return Some(Err(format!(
                "{:?} has precedence constraints; remove them first",
                list[i].name
            )));
        }
        list.remove(i);
        for c in constraints.iter_mut() {
            if c.from > i {
                c.from -= 1;
            }
            if c.to > i {
                c.to -= 1;
            }
        }
        return Some(Ok(()));
    }
    for e in list.iter_mut() {
        if let Some(r) = remove_from(&mut e.executables, &mut e.precedence_constraints, id) {
            return Some(r);
        }
    }
    None
}

impl Package {
    /// Adds a new Send Mail task named `name` to the package (`container` `None`) or to the
    /// container with that DTSID, and returns it. Its type name is the one SSIS writes for the
    /// package's format.
    ///
    /// ```
    /// let mut pkg = smtpcm::package::Package::new("P");
    /// let t = pkg.add_send_mail_task(None, "Send Mail Task").unwrap();
    /// assert_eq!(t.path, "Package\\Send Mail Task");
    /// assert!(t.is_send_mail());
    /// assert!(pkg.add_send_mail_task(None, "send mail task").is_err(), "names are unique");
    /// ```
    pub fn add_send_mail_task(
        &mut self,
        container: Option<&str>,
        name: &str,
    ) -> Result<&mut Executable, String> {
        let executable_type = match self.format_version {
            8.. => SEND_MAIL_TYPE_8,
            6..=7 => SEND_MAIL_TYPE_6,
            _ => SEND_MAIL_TYPE_3,
        };
        let (list, parent_path) = match container {
            None => (&mut self.executables, "Package".to_owned()),
            Some(id) => {
                let c = find_mut(&mut self.executables, &mut self.event_handlers, id)
                    .ok_or_else(|| format!("no container {id}"))?;
                if !matches!(
                    c.kind,
                    ExecutableKind::Sequence
                        | ExecutableKind::ForLoop(_)
                        | ExecutableKind::ForEachLoop
                ) {
                    return Err(format!("{:?} is not a container", c.name));
                }
                let path = c.path.clone();
                (&mut c.executables, path)
            }
        };
        if name.trim().is_empty() {
            return Err("a task needs a name".into());
        }
        if list.iter().any(|e| e.name.eq_ignore_ascii_case(name)) {
            return Err(format!(
                "{parent_path} already has an executable named {name:?}"
            ));
        }
        list.push(Executable {
            name: name.to_owned(),
            dtsid: new_dtsid(),
            path: format!("{parent_path}\\{name}"),
            description: "Send Mail Task".to_owned(),
            executable_type: executable_type.to_owned(),
            disabled: false,
            kind: ExecutableKind::SendMail(SendMailTaskData {
                present: true,
                ..SendMailTaskData::default()
            }),
            property_expressions: Vec::new(),
            variables: Vec::new(),
            executables: Vec::new(),
            precedence_constraints: Vec::new(),
            event_handlers: Vec::new(),
            origin: None,
        });
        let last = list.len() - 1;
        Ok(&mut list[last])
    }

    /// Removes the executable with DTSID `id` from the package or its container. Refused
    /// while a precedence constraint refers to it.
    pub fn remove_executable(&mut self, id: &str) -> Result<(), String> {
        remove_from(&mut self.executables, &mut self.precedence_constraints, id)
            .unwrap_or_else(|| Err(format!("no executable {id}")))
    }
}
