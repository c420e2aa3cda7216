//! Where expression variables come from.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use chrono::NaiveDateTime;

use super::ast::DateType;
use super::value::Value;
use crate::package::{Package, Parameter};

/// Supplies variable values to the evaluator.
///
/// `qualified` is the name as written inside `@[...]`: `User::X`, `System::PackageName`,
/// `$Package::P`, `$Project::P`, or a bare name.
pub trait Scope {
    /// The value, or `None` when no such variable exists.
    fn variable(&self, qualified: &str) -> Option<Value>;

    /// The local time `GETDATE()` returns and a time-only value is dated with; the system
    /// clock unless a scope fixes it (tests evaluate date expressions against a fixed clock).
    fn now(&self) -> NaiveDateTime {
        chrono::Local::now().naive_local()
    }

    /// The UTC time `GETUTCDATE()` returns.
    fn utc_now(&self) -> NaiveDateTime {
        chrono::Utc::now().naive_utc()
    }
}

impl Scope for HashMap<String, Value> {
    fn variable(&self, qualified: &str) -> Option<Value> {
        self.get(qualified).cloned().or_else(|| {
            self.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(qualified))
                .map(|(_, v)| v.clone())
        })
    }
}

/// Variables, parameters and system variables of a package, with overrides layered on top
/// (a runner sets `System::ErrorDescription`, `System::TaskName`, task-scoped variables, ...).
///
/// ```
/// use smtpcm::expr::{self, PackageScope, Value};
/// let pkg = smtpcm::package::Package::new("Daily");
/// let mut scope = PackageScope::new(&pkg);
/// scope.set("System::ErrorCode", Value::I4(-1));
/// let v = expr::evaluate("@[System::PackageName] + \" \" + (DT_WSTR, 5) @[System::ErrorCode]", &scope).unwrap();
/// assert_eq!(v.to_display_string(), "Daily -1");
/// ```
pub struct PackageScope<'a> {
    package: &'a Package,
    overrides: HashMap<String, Value>,
    depth: Cell<u32>,
    /// Values of expression variables computed during the current outermost lookup, so a
    /// chain of variables that each use the previous one twice costs one evaluation per
    /// variable instead of 2^depth.
    memo: RefCell<HashMap<String, Value>>,
}

/// Variables whose expressions refer to each other stop evaluating at this depth.
const MAX_DEPTH: u32 = 32;

impl<'a> PackageScope<'a> {
    /// A scope over `package` with the system variables a run starts with.
    pub fn new(package: &'a Package) -> PackageScope<'a> {
        let mut overrides = HashMap::new();
        // System::StartTime is a DateTime variable, which SSIS holds as DT_DATE.
        let now = chrono::Local::now().naive_local();
        let start_time = Value::Date(DateType::Date, DateType::Date.normalize(now));
        let machine = gethostname::gethostname().to_string_lossy().into_owned();
        let sys = [
            ("System::PackageName", Value::Str(package.name.clone())),
            ("System::PackageID", Value::Str(package.id.clone())),
            ("System::MachineName", Value::Str(machine)),
            (
                "System::UserName",
                Value::Str(std::env::var("USER").unwrap_or_default()),
            ),
            ("System::StartTime", start_time.clone()),
            ("System::ContainerStartTime", start_time),
            ("System::ErrorCode", Value::I4(0)),
            ("System::ErrorDescription", Value::Str(String::new())),
            ("System::SourceName", Value::Str(String::new())),
            ("System::TaskName", Value::Str(String::new())),
            (
                "System::ExecutionInstanceGUID",
                Value::Str(crate::package::new_dtsid()),
            ),
        ];
        for (k, v) in sys {
            overrides.insert(k.to_owned(), v);
        }
        PackageScope {
            package,
            overrides,
            depth: Cell::new(0),
            memo: RefCell::new(HashMap::new()),
        }
    }

    /// Sets (or adds) a value that takes precedence over the package's own.
    pub fn set(&mut self, qualified: &str, value: Value) {
        let key = self
            .overrides
            .keys()
            .find(|k| k.eq_ignore_ascii_case(qualified))
            .cloned()
            .unwrap_or_else(|| qualified.to_owned());
        self.overrides.insert(key, value);
    }

    fn parameter_value(p: &Parameter) -> Option<Value> {
        Value::from_vartype(p.data_type, &p.value)
    }
}

impl Scope for PackageScope<'_> {
    fn variable(&self, qualified: &str) -> Option<Value> {
        if let Some(v) = self.overrides.variable(qualified) {
            return Some(v);
        }
        let lower = qualified.to_ascii_lowercase();
        if lower.starts_with("$package::") || lower.starts_with("$project::") {
            return self
                .package
                .parameter(qualified)
                .and_then(Self::parameter_value);
        }
        // Package scope first; then variables scoped to containers and handlers, which is where
        // a runner without its own scoping would find them.
        let var = match self.package.variable(qualified) {
            Some(v) => v,
            None => scoped_variable(self.package, qualified)?,
        };
        let stored = || Value::from_vartype(var.data_type, &var.value);
        if var.evaluate_as_expression
            && !var.expression.trim().is_empty()
            && self.depth.get() < MAX_DEPTH
        {
            let key = format!("{}::{}", var.namespace, var.name).to_ascii_lowercase();
            if let Some(v) = self.memo.borrow().get(&key) {
                return Some(v.clone());
            }
            self.depth.set(self.depth.get() + 1);
            let result = super::evaluate(&var.expression, self);
            self.depth.set(self.depth.get() - 1);
            // A variable whose expression fails keeps its stored (design-time) value, which is
            // what the file shows; the failure itself surfaces when that expression is run.
            let value = result.ok().or_else(stored);
            if self.depth.get() == 0 {
                // The outermost lookup is done: later lookups see later state (a runner
                // changes System:: values and loop variables between them).
                self.memo.borrow_mut().clear();
            } else if let Some(v) = &value {
                self.memo.borrow_mut().insert(key, v.clone());
            }
            return value;
        }
        stored()
    }
}

fn scoped_variable<'p>(package: &'p Package, name: &str) -> Option<&'p crate::package::Variable> {
    fn find<'p>(
        list: &'p [crate::package::Executable],
        handlers: &'p [crate::package::EventHandler],
        name: &str,
    ) -> Option<&'p crate::package::Variable> {
        for h in handlers {
            if let Some(v) = h.variables.iter().find(|v| v.matches(name)) {
                return Some(v);
            }
            if let Some(v) = find(&h.executables, &[], name) {
                return Some(v);
            }
        }
        for e in list {
            if let Some(v) = e.variables.iter().find(|v| v.matches(name)) {
                return Some(v);
            }
            if let Some(v) = find(&e.executables, &e.event_handlers, name) {
                return Some(v);
            }
        }
        None
    }
    find(&package.executables, &package.event_handlers, name)
}
