//! The control-flow engine: containers, loops, precedence constraints and event handlers.
//!
//! Executables in one container run one at a time, in file order among those whose
//! constraints allow them (SSIS may run them in parallel; the order does not change which
//! ones run). A failed task fails each container above it, as with SSIS's default
//! `MaxErrorCount` of 1, while failure and completion constraints still run.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::Ordering;

use crate::expr::{self, PackageScope, Value};
use crate::package::{
    ConstraintValue, EvalOp, EventHandler, Executable, ExecutableKind, Package,
    PrecedenceConstraint,
};
use crate::send_mail::{SendMailTask, TaskError};

use super::RunOptions;
use super::report::{ExecReport, ExecStatus, MessageSent, RecipientOutcome, RunErrorEntry};
use super::send::{self, PackageResolver};

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// One level of the container chain that events bubble through.
#[derive(Clone)]
pub(crate) struct Level<'p> {
    path: String,
    handlers: &'p [EventHandler],
}

impl<'p> Level<'p> {
    pub(crate) fn new(path: String, handlers: &'p [EventHandler]) -> Self {
        Level { path, handlers }
    }
}

pub(crate) struct Engine<'p> {
    pub package: &'p Package,
    pub scope: PackageScope<'p>,
    pub options: &'p RunOptions,
    pub reports: Vec<ExecReport>,
    pub canceled: bool,
}

fn report(exec: &Executable, status: ExecStatus) -> ExecReport {
    ExecReport {
        path: exec.path.clone(),
        name: exec.name.clone(),
        executable_type: exec.executable_type.clone(),
        status,
        messages: Vec::new(),
        errors: Vec::new(),
        warnings: Vec::new(),
    }
}

/// `@[User::X] = expression`, the only form For Loop expressions take.
fn split_assignment(text: &str) -> Option<(&str, &str)> {
    let t = text.trim();
    let inner = t.strip_prefix("@[")?;
    let close = inner.find(']')?;
    let name = &inner[..close];
    let rest = inner[close + 1..].trim_start();
    let value = rest.strip_prefix('=')?;
    (!value.starts_with('=')).then_some((name, value))
}

impl<'p> Engine<'p> {
    fn is_canceled(&mut self) -> bool {
        if self
            .options
            .cancel
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::SeqCst))
        {
            self.canceled = true;
        }
        self.canceled
    }

    /// Runs the executables of one container; true when none failed.
    pub(crate) fn run_list<'a>(
        &'a mut self,
        list: &'p [Executable],
        constraints: &'p [PrecedenceConstraint],
        chain: Vec<Level<'p>>,
    ) -> Boxed<'a, bool> {
        Box::pin(async move {
            let n = list.len();
            let mut state: Vec<Option<ExecStatus>> = vec![None; n];
            let mut ok = true;
            loop {
                let mut next = None;
                for i in 0..n {
                    if state[i].is_some() {
                        continue;
                    }
                    let incoming: Vec<&PrecedenceConstraint> = constraints
                        .iter()
                        .filter(|c| c.to == i && c.from < n && c.from != i)
                        .collect();
                    if incoming.iter().all(|c| state[c.from].is_some()) {
                        next = Some((i, incoming));
                        break;
                    }
                }
                let Some((i, incoming)) = next else { break };
                let allowed = if incoming.is_empty() {
                    true
                } else {
                    let mut results = Vec::with_capacity(incoming.len());
                    for c in &incoming {
                        let from = state[c.from].unwrap_or(ExecStatus::NotRun);
                        match self.constraint_holds(c, from, &list[c.from]) {
                            Ok(b) => results.push(b),
                            Err(e) => {
                                let mut r = report(&list[c.to], ExecStatus::NotRun);
                                r.errors.push(e);
                                self.reports.push(r);
                                ok = false;
                                results.push(false);
                            }
                        }
                    }
                    // LogicalAnd is set per constraint; SSIS applies AND unless they say OR.
                    if incoming.iter().all(|c| c.logical_and) {
                        results.iter().all(|b| *b)
                    } else {
                        results.iter().any(|b| *b)
                    }
                };
                let status = if allowed {
                    let mut child_chain = chain.clone();
                    child_chain.push(Level::new(list[i].path.clone(), &list[i].event_handlers));
                    self.run_executable(&list[i], child_chain).await
                } else {
                    self.reports.push(report(&list[i], ExecStatus::NotRun));
                    ExecStatus::NotRun
                };
                if matches!(status, ExecStatus::Failed | ExecStatus::Canceled) {
                    ok = false;
                }
                state[i] = Some(status);
            }
            for (i, s) in state.iter().enumerate() {
                if s.is_none() {
                    // Only a constraint cycle leaves an executable undecided.
                    let mut r = report(&list[i], ExecStatus::NotRun);
                    r.warnings
                        .push("never became ready: its precedence constraints form a cycle".into());
                    self.reports.push(r);
                }
            }
            ok
        })
    }

    fn constraint_holds(
        &self,
        c: &PrecedenceConstraint,
        from: ExecStatus,
        source: &Executable,
    ) -> Result<bool, RunErrorEntry> {
        let ran = from != ExecStatus::NotRun && from != ExecStatus::Canceled;
        let outcome = ran
            && match c.value {
                ConstraintValue::Success => from.is_success(),
                ConstraintValue::Failure => from == ExecStatus::Failed,
                ConstraintValue::Completion => true,
            };
        let expression = || -> Result<bool, RunErrorEntry> {
            let owner = format!("precedence constraint \"{}\" after {}", c.name, source.path);
            match send::eval_property(&self.scope, &owner, "Expression", &c.expression)? {
                Value::Bool(b) => Ok(b),
                other => Err(RunErrorEntry::plain(format!(
                    "{owner}: expression {:?} evaluates to {}, not a boolean",
                    c.expression,
                    other.type_name()
                ))),
            }
        };
        if !ran {
            // A constraint from an executable that never ran never fires, whatever its expression.
            return Ok(false);
        }
        Ok(match c.eval_op {
            EvalOp::Constraint => outcome,
            EvalOp::Expression => expression()?,
            EvalOp::ExpressionAndConstraint => outcome && expression()?,
            EvalOp::ExpressionOrConstraint => outcome || expression()?,
        })
    }

    fn is_disabled(&self, exec: &Executable) -> Result<bool, RunErrorEntry> {
        if exec.disabled {
            return Ok(true);
        }
        match exec.property_expression("Disable") {
            None => Ok(false),
            Some(text) => match send::eval_property(&self.scope, &exec.path, "Disable", text)
                .map_err(|e| {
                    e.at(super::Location::task(
                        exec,
                        Some(super::LocatedField::Expression("Disable".into())),
                    ))
                })? {
                Value::Bool(b) => Ok(b),
                other => Ok(matches!(
                    other.to_display_string().to_ascii_lowercase().as_str(),
                    "true" | "-1" | "1"
                )),
            },
        }
    }

    fn run_executable<'a>(
        &'a mut self,
        exec: &'p Executable,
        chain: Vec<Level<'p>>,
    ) -> Boxed<'a, ExecStatus> {
        Box::pin(async move {
            if self.is_canceled() {
                self.reports.push(report(exec, ExecStatus::Canceled));
                return ExecStatus::Canceled;
            }
            match self.is_disabled(exec) {
                Ok(true) => {
                    self.reports.push(report(exec, ExecStatus::Disabled));
                    return ExecStatus::Disabled;
                }
                Ok(false) => {}
                Err(e) => {
                    let mut r = report(exec, ExecStatus::Failed);
                    r.errors.push(e.clone());
                    self.reports.push(r);
                    self.fire("OnError", &chain, exec, Some(&e)).await;
                    return ExecStatus::Failed;
                }
            }
            if matches!(exec.kind, ExecutableKind::Other) {
                // Unsupported types only get here with skip_unsupported (the run checks first).
                let mut r = report(exec, ExecStatus::SkippedUnsupported);
                r.warnings.push(format!(
                    "task type {:?} is not supported: skipped and counted as succeeded",
                    exec.executable_type
                ));
                self.reports.push(r);
                return ExecStatus::SkippedUnsupported;
            }
            self.scope
                .set("System::TaskName", Value::Str(exec.name.clone()));
            self.fire("OnPreExecute", &chain, exec, None).await;
            let mut r = report(exec, ExecStatus::Succeeded);
            let ok = match &exec.kind {
                ExecutableKind::SendMail(_) => self.send_mail(exec, &mut r).await,
                ExecutableKind::Sequence => {
                    self.run_list(
                        &exec.executables,
                        &exec.precedence_constraints,
                        chain.clone(),
                    )
                    .await
                }
                ExecutableKind::ForEachLoop => {
                    r.warnings.push(
                        "Foreach Loop: the enumerator is not modelled; the body runs once".into(),
                    );
                    tracing::warn!(
                        "{}: Foreach enumerator not modelled; running the body once",
                        exec.path
                    );
                    self.run_list(
                        &exec.executables,
                        &exec.precedence_constraints,
                        chain.clone(),
                    )
                    .await
                }
                ExecutableKind::ForLoop(spec) => self.for_loop(exec, spec, &chain, &mut r).await,
                ExecutableKind::Other => true,
            };
            if self.canceled {
                r.status = ExecStatus::Canceled;
            } else if !ok {
                r.status = ExecStatus::Failed;
            }
            for e in r.errors.clone() {
                self.fire("OnError", &chain, exec, Some(&e)).await;
            }
            self.scope
                .set("System::TaskName", Value::Str(exec.name.clone()));
            self.fire("OnPostExecute", &chain, exec, None).await;
            let status = r.status;
            self.reports.push(r);
            status
        })
    }

    /// Runs the handlers for `event` from the executable outwards, as SSIS bubbles events,
    /// until a handler sets `System::Propagate` to false.
    fn fire<'a>(
        &'a mut self,
        event: &'a str,
        chain: &'a [Level<'p>],
        source: &'p Executable,
        error: Option<&'a RunErrorEntry>,
    ) -> Boxed<'a, ()> {
        Box::pin(async move {
            for level in chain.iter().rev() {
                let mut propagate = true;
                for handler in level.handlers {
                    if !handler.event_name.eq_ignore_ascii_case(event) || handler.disabled {
                        continue;
                    }
                    if self.is_canceled() {
                        return;
                    }
                    self.scope
                        .set("System::SourceName", Value::Str(source.name.clone()));
                    if let Some(e) = error {
                        self.scope
                            .set("System::ErrorCode", Value::I4(e.error_code_value()));
                        self.scope
                            .set("System::ErrorDescription", Value::Str(e.message.clone()));
                    }
                    tracing::info!("{}: {event} handler at {}", source.path, level.path);
                    // Handler executables start a fresh chain: an error inside a handler fires
                    // the handlers inside it, never the one running, so handlers cannot loop.
                    self.run_list(
                        &handler.executables,
                        &handler.precedence_constraints,
                        Vec::new(),
                    )
                    .await;
                    if handler.variables.iter().any(|v| {
                        v.matches("System::Propagate")
                            && matches!(v.value.trim(), "0" | "false" | "False")
                    }) {
                        propagate = false;
                    }
                }
                if !propagate {
                    break;
                }
            }
        })
    }

    async fn for_loop(
        &mut self,
        exec: &'p Executable,
        spec: &'p crate::package::ForLoop,
        chain: &[Level<'p>],
        r: &mut ExecReport,
    ) -> bool {
        let owner = exec.path.clone();
        let assign = |this: &mut Self, text: &str, what: &str| -> Result<(), RunErrorEntry> {
            if text.trim().is_empty() {
                return Ok(());
            }
            let (name, value) = split_assignment(text).ok_or_else(|| {
                RunErrorEntry::plain(format!(
                    "{owner}: {what} {text:?} is not of the form @[Var] = expression"
                ))
            })?;
            let v = send::eval_property(&this.scope, &owner, what, value)?;
            this.scope.set(name, v);
            Ok(())
        };
        if let Err(e) = assign(self, &spec.init_expression, "InitExpression") {
            r.errors.push(e);
            return false;
        }
        let cap = self.options.max_loop_iterations;
        let mut iterations = 0u32;
        loop {
            if spec.eval_expression.trim().is_empty() {
                break;
            }
            match send::eval_property(&self.scope, &owner, "EvalExpression", &spec.eval_expression)
            {
                Ok(Value::Bool(true)) => {}
                Ok(Value::Bool(false)) => break,
                Ok(other) => {
                    r.errors.push(RunErrorEntry::plain(format!(
                        "{owner}: EvalExpression evaluates to {}, not a boolean",
                        other.type_name()
                    )));
                    return false;
                }
                Err(e) => {
                    r.errors.push(e);
                    return false;
                }
            }
            if iterations >= cap {
                r.errors.push(RunErrorEntry::plain(format!(
                    "{owner}: stopped after {cap} iterations (the loop limit); EvalExpression is still true"
                )));
                return false;
            }
            iterations += 1;
            let ok = self
                .run_list(
                    &exec.executables,
                    &exec.precedence_constraints,
                    chain.to_vec(),
                )
                .await;
            if !ok || self.canceled {
                return false;
            }
            if let Err(e) = assign(self, &spec.assign_expression, "AssignExpression") {
                r.errors.push(e);
                return false;
            }
        }
        true
    }

    async fn send_mail(&mut self, exec: &'p Executable, r: &mut ExecReport) -> bool {
        let path_root = self.options.path_root.as_deref();
        let resolved = match send::resolve_task(
            self.package,
            exec,
            &self.scope,
            path_root,
            self.options.ca_file.as_deref(),
        ) {
            Ok(t) => t,
            Err(e) => {
                r.errors.push(e);
                return false;
            }
        };
        let resolver = PackageResolver {
            package: self.package,
            scope: &self.scope,
            path_root,
        };
        let prepared = match resolved
            .task
            .prepare(resolved.connection.as_ref(), &resolver)
        {
            Ok(p) => p,
            Err(e) => {
                r.errors.push(RunErrorEntry::task(self.package, exec, &e));
                return false;
            }
        };
        let Some(cm) = resolved.connection else {
            // prepare() fails without a connection; this only guards the invariant.
            r.errors.push(RunErrorEntry::plain(format!(
                "{}: no SMTP connection manager",
                exec.path
            )));
            return false;
        };
        if self.options.validate_only {
            r.status = ExecStatus::Validated;
            return true;
        }
        if let Some(deliver) = &self.options.deliver {
            return match deliver.0.deliver(&cm, &prepared).await {
                Ok(line) => {
                    r.messages.push(MessageSent {
                        connection: cm.name.clone(),
                        subject: resolved.task.subject.clone(),
                        recipients: Vec::new(),
                        reply: line,
                        bytes: prepared.size(),
                    });
                    true
                }
                Err(e) => {
                    r.errors
                        .push(RunErrorEntry::plain(format!("{}: {e}", exec.path)));
                    false
                }
            };
        }
        match cm.send(&prepared).await {
            Ok(sent) => {
                let mut recipients: Vec<RecipientOutcome> = sent
                    .accepted
                    .iter()
                    .map(|a| RecipientOutcome {
                        recipient: a.clone(),
                        accepted: true,
                        reply: None,
                    })
                    .collect();
                recipients.extend(sent.rejected.iter().map(|rej| RecipientOutcome {
                    recipient: rej.recipient.clone(),
                    accepted: false,
                    reply: Some(rej.reply.to_string()),
                }));
                let rejected = sent.rejected.len();
                r.messages.push(MessageSent {
                    connection: cm.name.clone(),
                    subject: resolved.task.subject.clone(),
                    recipients,
                    reply: sent.reply.to_string(),
                    bytes: sent.bytes,
                });
                if rejected > 0 {
                    // System.Net.Mail throws SmtpFailedRecipientException for a refused
                    // recipient, which fails the SSIS task even though others got the mail.
                    r.errors.push(RunErrorEntry::plain(format!(
                        "{}: {rejected} recipient(s) refused: {}",
                        exec.path,
                        sent.rejected
                            .iter()
                            .map(|x| x.to_string())
                            .collect::<Vec<_>>()
                            .join("; ")
                    )));
                    return false;
                }
                true
            }
            Err(e) => {
                r.errors.push(RunErrorEntry::task(
                    self.package,
                    exec,
                    &TaskError::Connection(e),
                ));
                false
            }
        }
    }
}

/// Checks one Send Mail task without sending: expressions, references, body, attachments.
pub(crate) fn validate_task(
    package: &Package,
    exec: &Executable,
    scope: &PackageScope<'_>,
    options: &RunOptions,
) -> Result<SendMailTask, RunErrorEntry> {
    let path_root: Option<&Path> = options.path_root.as_deref();
    let resolved = send::resolve_task(package, exec, scope, path_root, options.ca_file.as_deref())?;
    let resolver = PackageResolver {
        package,
        scope,
        path_root,
    };
    resolved
        .task
        .prepare(resolved.connection.as_ref(), &resolver)
        .map_err(|e| RunErrorEntry::task(package, exec, &e))?;
    Ok(resolved.task)
}

/// Parses (without running) the expressions a container or constraint would evaluate.
pub(crate) fn check_expression(owner: &str, what: &str, text: &str) -> Result<(), RunErrorEntry> {
    if text.trim().is_empty() {
        return Ok(());
    }
    let body = split_assignment(text).map(|(_, v)| v).unwrap_or(text);
    expr::parse(body)
        .map(|_| ())
        .map_err(|e| RunErrorEntry::plain(format!("{owner}: {what} {text:?} does not parse: {e}")))
}

#[cfg(test)]
mod tests {
    use super::split_assignment;

    #[test]
    fn assignment_splits_only_single_equals() {
        assert_eq!(
            split_assignment("@[User::i] = @[User::i] + 1"),
            Some(("User::i", " @[User::i] + 1"))
        );
        assert_eq!(split_assignment("@[User::i] == 1"), None);
        assert_eq!(split_assignment("1 + 2"), None);
    }
}
