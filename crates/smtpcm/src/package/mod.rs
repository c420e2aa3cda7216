//! The SSIS package object model: connections, variables, parameters, the executable tree
//! with its precedence constraints, and event handlers.
//!
//! The model is plain data with public fields so that a runner can walk it and a tool can edit
//! it. Objects loaded from a file also remember where their values came from (a private
//! origin), which is what lets [`Package::to_bytes`] rewrite only the bytes of what changed.
//!
//! ```
//! use smtpcm::package::{ConnectionKind, Package};
//!
//! let mut pkg = Package::new("Nightly");
//! let cm = pkg.connections.add("SMTP");
//! cm.name = "Mail".into();
//! assert_eq!(cm.kind, ConnectionKind::Smtp);
//! pkg.set_property(r"\Package.Connections[Mail].Properties[SmtpServer]", "relay.example")
//!     .unwrap();
//! assert_eq!(
//!     pkg.connections.get("mail").unwrap().connection_string,
//!     "SmtpServer=relay.example;UseWindowsAuthentication=False;EnableSsl=False;"
//! );
//! ```

pub(crate) mod connection;
mod edit;
mod executable;
pub(crate) mod origin;
pub(crate) mod path;
mod smtp_props;
mod task_props;
mod task_vars;
mod variable;

use std::sync::Arc;

pub use connection::{ConnectionKind, ConnectionManager, Connections};
pub use connection::{new_dtsid, same_guid};
pub use executable::{
    ConstraintValue, EvalOp, EventHandler, Executable, ExecutableKind, ForLoop,
    PrecedenceConstraint, PropertyExpression, SendMailTaskData,
};
pub use path::PathError;
pub use task_props::{
    Blank, PropertyType, SEND_MAIL_PROPERTIES, SendMailProperty, send_mail_property,
};
pub use task_vars::{
    NAMESPACE as SMTPCM_NAMESPACE, TASK_VARIABLES, TaskVariable, apply_task_variable,
    task_settings, task_variable,
};
pub use variable::{Parameter, Variable, vartype};

use origin::Origin;

/// The original bytes of a loaded file, shared by every object read from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SourceDoc {
    pub bytes: Vec<u8>,
    /// Bytes in front of the XML text (a UTF-8 BOM), so roxmltree offsets can be mapped back.
    pub prefix_len: usize,
    pub origin_name: String,
    pub newline: &'static str,
}

/// An SSIS package (`.dtsx`).
#[derive(Debug, Clone, PartialEq)]
pub struct Package {
    /// `DTS:ObjectName` of the package.
    pub name: String,
    /// `DTS:DTSID`, a braced GUID as written in the file.
    pub id: String,
    /// Package description (`DTS:Description`).
    pub description: String,
    /// `PackageFormatVersion`: 2/3 for SSIS 2005/2008, 6 for 2012, 8 for 2014 and later.
    pub format_version: u32,
    /// Connection managers declared in the package.
    pub connections: Connections,
    /// Project connection managers (`.conmgr`), filled when loaded through a project.
    pub project_connections: Connections,
    /// Package-scope variables (user and the system ones the file declares).
    pub variables: Vec<Variable>,
    /// `$Package::` parameters.
    pub package_parameters: Vec<Parameter>,
    /// `$Project::` parameters, filled from `Project.params` when loaded through a project.
    pub project_parameters: Vec<Parameter>,
    /// Top-level executables of the package's control flow.
    pub executables: Vec<Executable>,
    /// Constraints between the top-level executables (indices into `executables`).
    pub precedence_constraints: Vec<PrecedenceConstraint>,
    /// Package-level event handlers (OnError, OnPreExecute, ...).
    pub event_handlers: Vec<EventHandler>,
    pub(crate) source: Option<Arc<SourceDoc>>,
    pub(crate) origin: Option<Origin>,
}

impl Package {
    // `Package::new` is implemented by the loader (`dtsx/new.rs`): a new package is the
    // designer's template loaded like any file, and the model must not call the loader.

    /// All executables, depth first, including those inside containers and event handlers.
    pub fn all_executables(&self) -> Vec<&Executable> {
        fn walk<'a>(
            list: &'a [Executable],
            handlers: &'a [EventHandler],
            out: &mut Vec<&'a Executable>,
        ) {
            for e in list {
                out.push(e);
                walk(&e.executables, &e.event_handlers, out);
            }
            for h in handlers {
                walk(&h.executables, &[], out);
            }
        }
        let mut out = Vec::new();
        walk(&self.executables, &self.event_handlers, &mut out);
        out
    }

    /// Finds a package variable by qualified (`User::X`) or bare (`X`) name, case-insensitively.
    pub fn variable(&self, name: &str) -> Option<&Variable> {
        self.variables.iter().find(|v| v.matches(name))
    }

    /// Mutable access to a package variable, see [`Package::variable`].
    pub fn variable_mut(&mut self, name: &str) -> Option<&mut Variable> {
        self.variables.iter_mut().find(|v| v.matches(name))
    }

    /// Looks up a connection manager by name or DTSID in the package, then in the project.
    pub fn connection(&self, name_or_id: &str) -> Option<&ConnectionManager> {
        self.connections
            .get(name_or_id)
            .or_else(|| self.project_connections.get(name_or_id))
    }
}
