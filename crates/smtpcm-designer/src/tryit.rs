//! Routes that try a package: Validate, Test connection, Send test message.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};
use smtpcm::connection_manager::SmtpConnectionManager;
use smtpcm::connection_string::redact;
use smtpcm::package::Package;
use smtpcm::run::{LocatedField, LocatedObject, RunErrorEntry, RunOptions, RunReport, Runner};

use crate::AppState;
use crate::api::{ApiResult, optional_body};
use crate::model::{self, ApiError};
use crate::workspace::Doc;

/// A finding of Validate: the run's error, with where it points as the page names fields:
/// `task` or `connection` (DTSID) and `field` (`ToLine`, `SmtpServer`, `expr:Subject`,
/// `html:BodyFormat`, `Name`), from the error's typed [`Location`], never from its text.
fn finding(severity: &str, e: &RunErrorEntry, path: Option<&str>, task: Option<&str>) -> Value {
    let mut v = json!({
        "severity": severity,
        "message": e.message,
        "code": e.code,
        "path": path,
        "task": task,
        "connection": null,
        "field": null,
        "location": e.location,
    });
    if let Some(loc) = &e.location {
        match &loc.object {
            LocatedObject::Task { dtsid, .. } => v["task"] = json!(dtsid),
            LocatedObject::Connection { dtsid, .. } => {
                v["task"] = Value::Null;
                v["connection"] = json!(dtsid);
            }
        }
        v["field"] = json!(loc.field.as_ref().map(|f| match f {
            LocatedField::Property(p) | LocatedField::Key(p) => p.clone(),
            LocatedField::Expression(p) => format!("expr:{p}"),
            LocatedField::Variable(n) => format!("html:{n}"),
        }));
    }
    v
}

async fn package_copy(s: &AppState, f: usize) -> Result<Package, ApiError> {
    let ws = s.workspace.lock().await;
    match ws.files.get(f).and_then(|x| x.doc.as_ref()) {
        Some(Doc::Package(p)) => Ok((**p).clone()),
        _ => Err(ApiError::not_found(format!("no package #{f}"))),
    }
}

/// Runs a package on a blocking thread: the runner's future holds the expression scope (not
/// `Send`) across awaits, so it cannot be a task of the multi-threaded server.
async fn run_package(p: Package, options: RunOptions) -> Result<RunReport, ApiError> {
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || handle.block_on(Runner::new(p, options).run()))
        .await
        .map_err(|e| ApiError::bad(format!("run failed: {e}")))
}

pub(crate) async fn validate(State(s): State<Arc<AppState>>, Path(f): Path<usize>) -> ApiResult {
    let p = package_copy(&s, f).await?;
    let ids: BTreeMap<String, String> = p
        .all_executables()
        .iter()
        .map(|e| (e.path.clone(), e.dtsid.clone()))
        .collect();
    let report = run_package(
        p,
        RunOptions {
            validate_only: true,
            ca_file: s.ca_file.clone(),
            ..RunOptions::default()
        },
    )
    .await?;
    let mut findings = Vec::new();
    for e in &report.errors {
        findings.push(finding("error", e, None, None));
    }
    for w in &report.warnings {
        findings.push(json!({"severity": "warning", "message": w, "field": null}));
    }
    for x in &report.executables {
        let task = ids.get(&x.path).map(String::as_str);
        for e in &x.errors {
            findings.push(finding("error", e, Some(&x.path), task));
        }
        for w in &x.warnings {
            findings.push(json!({"severity": "warning", "task": task, "path": x.path, "message": w, "field": null}));
        }
    }
    Ok(Json(
        json!({ "exit_code": report.exit_code.code(), "findings": findings }),
    ))
}

#[derive(Deserialize)]
pub(crate) struct TestBody {
    connection_string: String,
}

/// What `smtpcm check` does: connect, TLS, EHLO, AUTH; report capabilities and mechanism.
pub(crate) async fn test_connection(
    State(s): State<Arc<AppState>>,
    Json(body): Json<TestBody>,
) -> ApiResult {
    let mut cm = SmtpConnectionManager::new("SMTP Connection Manager");
    if let Err(e) = cm.set_connection_string(&body.connection_string) {
        return Err(ApiError::field("connection_string", e.to_string()));
    }
    cm.set_extra_ca_file(s.ca_file.clone());
    let fail = |e: smtpcm::connection_manager::ConnectionError| {
        let stage = e
            .smtp()
            .map(|x| x.stage().to_string())
            .or_else(|| e.auth().map(|_| "auth".to_owned()));
        let code = e
            .smtp()
            .and_then(|x| x.reply().map(|r| r.code))
            .or_else(|| match e.auth() {
                Some(smtpcm::engine::auth::AuthError::Rejected { code, .. }) => Some(*code),
                _ => None,
            });
        Json(json!({ "ok": false, "stage": stage, "code": code, "error": e.to_string() }))
    };
    let conn = match cm.acquire().await {
        Ok(c) => c,
        Err(e) => return Ok(fail(e)),
    };
    let client = &conn.client;
    let out = json!({
        "ok": true,
        "connection_string": redact(&cm.connection_string()),
        "greeting": client.greeting(),
        "tls": client.tls_info(),
        "mechanism": conn.auth.as_ref().map(|a| a.mechanism.to_string()),
        "identity": conn.auth.as_ref().map(|a| a.identity.to_string()),
        "capabilities": client.capabilities().lines,
    });
    if let Err(e) = conn.client.quit().await {
        tracing::debug!("QUIT failed: {e}");
    }
    Ok(Json(out))
}

#[derive(Deserialize, Default)]
struct SendTestBody {
    /// Send to the task's real server instead of the built-in capture server.
    #[serde(default)]
    real: bool,
}

/// Runs one Send Mail task, expressions resolved, into the capture server (or the real one).
pub(crate) async fn send_test(
    State(s): State<Arc<AppState>>,
    Path((f, t)): Path<(usize, String)>,
    body: axum::body::Bytes,
) -> ApiResult {
    let real = optional_body::<SendTestBody>(&body)?.real;
    let mut p = package_copy(&s, f).await?;
    let task = model::find_exec_mut(&mut p, &t)
        .ok_or_else(|| ApiError::not_found(format!("no task {t}")))?
        .clone();
    let Some(d) = task.send_mail() else {
        return Err(ApiError::bad(format!(
            "{:?} is not a Send Mail task",
            task.name
        )));
    };
    let cm_ref = d.smtp_server_ref.clone();
    // Only this task runs: no siblings, constraints or handlers.
    p.executables = vec![task];
    p.precedence_constraints.clear();
    p.event_handlers.clear();
    let mut capture = None;
    if !real {
        let addr = s
            .inbox
            .addr()
            .await
            .map_err(|e| ApiError::bad(format!("capture server: {e}")))?;
        let cs = format!(
            "SmtpServer={}:{};UseWindowsAuthentication=False;EnableSsl=False;TlsMode=None;",
            addr.ip(),
            addr.port()
        );
        let target = p
            .connections
            .get_mut(&cm_ref)
            .or_else(|| p.project_connections.get_mut(&cm_ref))
            .ok_or_else(|| {
                ApiError::field(
                    "SmtpConnection",
                    format!("SmtpConnection: no connection manager {cm_ref:?}"),
                )
            })?;
        target.connection_string = cs;
        target.property_expressions.clear();
        capture = Some(addr.to_string());
    }
    let report = run_package(
        p,
        RunOptions {
            ca_file: s.ca_file.clone(),
            ..RunOptions::default()
        },
    )
    .await?;
    let mut v = serde_json::to_value(&report).map_err(|e| ApiError::bad(e.to_string()))?;
    v["capture"] = json!(capture);
    v["ok"] = json!(report.exit_code.code() == 0);
    Ok(Json(v))
}
