//! Running a package's Send Mail tasks the way `dtexec` does.
//!
//! [`Runner`] takes a loaded [`Package`] (with its project connections and parameters, when
//! it came from a project), applies `/Conn`, `/Set` and `/Par` [`Override`]s in order, and
//! walks the control flow: containers, loops, precedence constraints and event handlers.
//! Send Mail tasks evaluate their property expressions at run time, resolve their SMTP
//! connection manager (by DTSID, then by name; package before project) and send through it.
//! The result is a [`RunReport`] with dtexec's exit code.
//!
//! A task type this crate cannot run stops the run before anything is sent, unless
//! [`RunOptions::skip_unsupported`] is set, in which case it counts as succeeded.
//!
//! ```
//! use smtpcm::run::{ExitCode, Override, RunOptions, Runner};
//!
//! let mut pkg = smtpcm::package::Package::new("Nightly");
//! pkg.connections.add("SMTP").name = "Mail".into();
//! let options = RunOptions {
//!     overrides: vec![Override::conn("Mail;SmtpServer=127.0.0.1;").unwrap()],
//!     validate_only: true,
//!     ..RunOptions::default()
//! };
//! let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! let report = rt.block_on(Runner::new(pkg, options).run());
//! assert_eq!(report.exit_code, ExitCode::Success);
//! ```

mod deliver;
mod flow;
mod inspect;
mod load;
mod location;
mod overrides;
mod paths;
mod report;
mod send;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

pub use deliver::{Deliver, Deliverer};
pub use inspect::{
    InspectConnection, InspectReport, InspectTask, inspect, inspect_connection_manager,
};
pub use load::{LoadFailure, load_target};
pub use location::{LocatedField, LocatedObject, Location};
pub use overrides::{Override, OverrideError};
pub use paths::{PathRootError, map_path};
pub use report::{
    ExecReport, ExecStatus, ExitCode, MessageSent, RecipientOutcome, RunErrorEntry, RunReport,
};

use crate::expr::PackageScope;
use crate::package::{Executable, ExecutableKind, Package};
use flow::{Engine, Level};

/// The default cap on For Loop iterations, so a loop whose condition never turns false ends.
pub const DEFAULT_MAX_LOOP_ITERATIONS: u32 = 10_000;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// `/Conn`, `/Set` and `/Par`, applied in this order.
    pub overrides: Vec<Override>,
    /// `/Validate`: check everything, send nothing.
    pub validate_only: bool,
    /// Count unsupported task types as succeeded instead of refusing to run.
    pub skip_unsupported: bool,
    /// Directory under which absolute paths from the package (attachments, File connections)
    /// are looked up; see [`map_path`].
    pub path_root: Option<PathBuf>,
    /// Extra CA certificates (PEM) trusted by every SMTP connection.
    pub ca_file: Option<PathBuf>,
    /// Set to true from elsewhere to cancel the run (exit code 3).
    pub cancel: Option<Arc<AtomicBool>>,
    /// The For Loop iteration cap.
    pub max_loop_iterations: u32,
    /// Hand each message to this instead of sending it (`smtpcm run --outbox`).
    pub deliver: Option<Deliverer>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            overrides: Vec::new(),
            validate_only: false,
            skip_unsupported: false,
            path_root: None,
            ca_file: None,
            cancel: None,
            max_loop_iterations: DEFAULT_MAX_LOOP_ITERATIONS,
            deliver: None,
        }
    }
}

/// Runs one package.
pub struct Runner {
    package: Package,
    options: RunOptions,
}

impl Runner {
    /// A runner for `package` (overrides are applied when [`Runner::run`] starts).
    pub fn new(package: Package, options: RunOptions) -> Runner {
        Runner { package, options }
    }

    /// Applies the overrides, checks for unsupported tasks, then validates or executes.
    pub async fn run(mut self) -> RunReport {
        let mut report = RunReport {
            package: self.package.name.clone(),
            executables: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
            validate_only: self.options.validate_only,
            exit_code: ExitCode::Success,
        };
        for o in &self.options.overrides {
            if let Err(e) = o.apply(&mut self.package) {
                report.errors.push(RunErrorEntry::plain(e.to_string()));
                report.exit_code = ExitCode::CommandLine;
                return report;
            }
        }
        let bad_parameters = parameter_type_errors(&self.package);
        if !bad_parameters.is_empty() {
            report.errors.extend(bad_parameters);
            report.exit_code = ExitCode::Failure;
            return report;
        }
        report.warnings.extend(conn_override_warnings(
            &self.package,
            &self.options.overrides,
        ));
        let unsupported = unsupported_tasks(&self.package);
        if !unsupported.is_empty() {
            if self.options.skip_unsupported {
                for (path, ty) in &unsupported {
                    report.warnings.push(format!(
                        "{path}: unsupported task type {ty:?} will be skipped"
                    ));
                }
            } else {
                for (path, ty) in &unsupported {
                    report.errors.push(RunErrorEntry::plain(format!(
                        "{path}: task type {ty:?} is not supported (use --skip-unsupported to count it as succeeded)"
                    )));
                }
                report.errors.push(RunErrorEntry::plain(format!(
                    "{} unsupported task(s): nothing was run and no mail was sent",
                    unsupported.len()
                )));
                report.exit_code = ExitCode::Failure;
                return report;
            }
        }
        let package = &self.package;
        let options = &self.options;
        if options.validate_only {
            validate_all(package, options, &mut report);
        } else {
            let mut engine = Engine {
                package,
                scope: PackageScope::new(package),
                options,
                reports: Vec::new(),
                canceled: false,
            };
            let chain = vec![Level::new("Package".into(), &package.event_handlers)];
            let ok = engine
                .run_list(&package.executables, &package.precedence_constraints, chain)
                .await;
            report.executables = engine.reports;
            if engine.canceled {
                report.exit_code = ExitCode::Canceled;
                return report;
            }
            if !ok {
                report.exit_code = ExitCode::Failure;
            }
        }
        if report
            .executables
            .iter()
            .any(|e| e.status == ExecStatus::Failed)
        {
            report.exit_code = ExitCode::Failure;
        }
        report
    }
}

/// Package and project parameters whose value (after `/Par` and `/Set`) does not fit their
/// type, each naming the parameter and the file it comes from. SSIS refuses such a project;
/// reading `maybe` as False or `forty-two` as 0 would send mail the package never meant.
fn parameter_type_errors(package: &Package) -> Vec<RunErrorEntry> {
    let package_file = package
        .source
        .as_ref()
        .map(|s| s.origin_name.clone())
        .unwrap_or_else(|| format!("package \"{}\"", package.name));
    let lists = [
        (
            "$Package",
            package_file.as_str(),
            &package.package_parameters,
        ),
        ("$Project", "Project.params", &package.project_parameters),
    ];
    let mut out = Vec::new();
    for (scope, file, params) in lists {
        for p in params.iter() {
            if let Err(reason) = crate::expr::Value::parse_vartype(p.data_type, &p.value) {
                let shown = if p.sensitive {
                    "its (sensitive) value".to_owned()
                } else {
                    format!("the value {:?}", p.value)
                };
                out.push(RunErrorEntry::plain(format!(
                    "{file}: parameter {scope}::{} is {}, but {shown} does not fit: {reason}",
                    p.name,
                    crate::expr::vartype_name(p.data_type),
                )));
            }
        }
    }
    out
}

/// Warns when a `/Conn` target also has a ConnectionString or SmtpServer expression, which
/// SSIS evaluates after `/Conn` and which therefore replaces it.
fn conn_override_warnings(package: &Package, overrides: &[Override]) -> Vec<String> {
    overrides
        .iter()
        .filter_map(|o| match o {
            Override::Conn { target, .. } => package.connection(target),
            _ => None,
        })
        .filter(|cm| {
            cm.property_expression("ConnectionString").is_some()
                || cm.property_expression("SmtpServer").is_some()
        })
        .map(|cm| {
            format!(
                "connection manager \"{}\" has a property expression that replaces the /Conn value at run time (as in SSIS); override its inputs with /Par or /Set instead",
                cm.name
            )
        })
        .collect()
}

/// Enabled executables (in the tree and in event handlers) whose type cannot run here.
fn unsupported_tasks(package: &Package) -> Vec<(String, String)> {
    fn walk(
        list: &[Executable],
        handlers: &[crate::package::EventHandler],
        out: &mut Vec<(String, String)>,
    ) {
        for e in list.iter().filter(|e| !e.disabled) {
            if matches!(e.kind, ExecutableKind::Other) {
                out.push((e.path.clone(), e.executable_type.clone()));
            }
            walk(&e.executables, &e.event_handlers, out);
        }
        for h in handlers.iter().filter(|h| !h.disabled) {
            walk(&h.executables, &[], out);
        }
    }
    let mut out = Vec::new();
    walk(&package.executables, &package.event_handlers, &mut out);
    out
}

/// `/Validate`: every enabled executable is checked, handlers included; nothing is sent.
fn validate_all(package: &Package, options: &RunOptions, report: &mut RunReport) {
    let scope = PackageScope::new(package);
    for exec in package.all_executables() {
        let mut r = ExecReport {
            path: exec.path.clone(),
            name: exec.name.clone(),
            executable_type: exec.executable_type.clone(),
            status: ExecStatus::Validated,
            messages: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
        };
        if exec.disabled {
            r.status = ExecStatus::Disabled;
            report.executables.push(r);
            continue;
        }
        let result = match &exec.kind {
            ExecutableKind::SendMail(_) => {
                flow::validate_task(package, exec, &scope, options).map(|_| ())
            }
            ExecutableKind::ForLoop(spec) => {
                flow::check_expression(&exec.path, "InitExpression", &spec.init_expression)
                    .and_then(|_| {
                        flow::check_expression(&exec.path, "EvalExpression", &spec.eval_expression)
                    })
                    .and_then(|_| {
                        flow::check_expression(
                            &exec.path,
                            "AssignExpression",
                            &spec.assign_expression,
                        )
                    })
            }
            ExecutableKind::Other => {
                r.status = ExecStatus::SkippedUnsupported;
                Ok(())
            }
            _ => Ok(()),
        };
        let constraints = exec.precedence_constraints.iter().try_for_each(|c| {
            flow::check_expression(
                &exec.path,
                "precedence constraint expression",
                &c.expression,
            )
        });
        for e in [result, constraints].into_iter().filter_map(Result::err) {
            r.status = ExecStatus::Failed;
            r.errors.push(e);
        }
        report.executables.push(r);
    }
    for c in &package.precedence_constraints {
        if let Err(e) =
            flow::check_expression("Package", "precedence constraint expression", &c.expression)
        {
            report.errors.push(e);
            report.exit_code = ExitCode::Failure;
        }
    }
}
