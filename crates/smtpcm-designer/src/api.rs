//! Routes: the embedded page and the JSON API (documented in the README, "Designer and its
//! HTTP API").

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use smtpcm::package::{ConnectionKind, Package, SEND_MAIL_PROPERTIES};

use crate::AppState;
use crate::model::{self, ApiError, ConnectionEdit, TaskEdit};
use crate::workspace::{Doc, SaveError};

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        (
            status,
            Json(json!({ "error": self.message, "field": self.field })),
        )
            .into_response()
    }
}

pub(crate) type ApiResult = Result<Json<Value>, ApiError>;

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> ApiResult {
    serde_json::to_value(v)
        .map(Json)
        .map_err(|e| ApiError::bad(e.to_string()))
}

/// The router with the token check in front of everything.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
        .route("/api/keys", get(keys))
        .route("/api/properties", get(properties))
        .route("/api/files", get(list_files))
        .route("/api/files/{f}/save", post(save))
        .route("/api/files/{f}/reload", post(reload))
        .route("/api/files/{f}/validate", post(crate::tryit::validate))
        .route("/api/files/{f}/preview", post(preview))
        .route("/api/files/{f}/connections", post(add_connection))
        .route(
            "/api/files/{f}/connections/{cm}",
            get(get_connection)
                .put(put_connection)
                .delete(delete_connection),
        )
        .route("/api/files/{f}/tasks", post(add_task))
        .route("/api/files/{f}/variables", post(add_variable))
        .route(
            "/api/files/{f}/tasks/{t}",
            get(get_task).put(put_task).delete(delete_task),
        )
        .route(
            "/api/files/{f}/tasks/{t}/send-test",
            post(crate::tryit::send_test),
        )
        .route("/api/connection-string", post(connection_string))
        .route("/api/test-connection", post(crate::tryit::test_connection))
        .route("/api/packages", post(new_package))
        .route("/api/conmgr", post(new_conmgr))
        .route("/api/inbox", get(crate::inbox_api::inbox_list))
        .route("/api/inbox/{id}", get(crate::inbox_api::inbox_message))
        .route("/api/inbox/{id}/raw", get(crate::inbox_api::inbox_raw))
        .route("/api/inbox/{id}/html", get(crate::inbox_api::inbox_html))
        .route(
            "/api/inbox/{id}/attachments/{n}",
            get(crate::inbox_api::inbox_attachment),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::require_token,
        ))
        .with_state(state)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
            // The page loads nothing from elsewhere; captured HTML runs in a sandboxed frame.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; frame-src 'self' blob:; img-src 'self' data:; style-src 'self'",
            ),
        ],
        body,
    )
        .into_response()
}

async fn keys() -> ApiResult {
    to_json(&smtpcm::connection_string::KEYS)
}

async fn properties() -> ApiResult {
    let list: Vec<Value> = SEND_MAIL_PROPERTIES
        .iter()
        .map(|p| json!({ "name": p.name, "aliases": p.aliases, "type": format!("{:?}", p.ty) }))
        .collect();
    Ok(Json(Value::Array(list)))
}

async fn list_files(State(s): State<Arc<AppState>>) -> ApiResult {
    let ws = s.workspace.lock().await;
    let views: Vec<_> = ws
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| model::file_view(i, f, ws.changed_on_disk(i)))
        .collect();
    to_json(&views)
}

/// A JSON body that may be left out (`curl -X POST` with no data).
pub(crate) fn optional_body<T: serde::de::DeserializeOwned + Default>(
    body: &[u8],
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad(format!("request body: {e}")))
}

#[derive(Deserialize, Default)]
struct SaveBody {
    #[serde(default)]
    force: bool,
}

async fn save(
    State(s): State<Arc<AppState>>,
    Path(f): Path<usize>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let force = optional_body::<SaveBody>(&body)?.force;
    let mut ws = s.workspace.lock().await;
    match ws.save(f, force) {
        Ok(()) => Ok(Json(json!({ "saved": true }))),
        Err(e @ SaveError::Conflict(_)) => Err(ApiError {
            status: 409,
            message: e.to_string(),
            field: None,
        }),
        Err(e) => Err(ApiError::bad(e.to_string())),
    }
}

async fn reload(State(s): State<Arc<AppState>>, Path(f): Path<usize>) -> ApiResult {
    let mut ws = s.workspace.lock().await;
    let path = ws
        .files
        .get(f)
        .map(|x| x.path.clone())
        .ok_or_else(|| ApiError::not_found(format!("no open file #{f}")))?;
    ws.open_file(&path);
    Ok(Json(json!({ "reloaded": true })))
}

/// Runs `body` on the package of file `f` and marks the file dirty when it succeeds.
async fn with_package<T>(
    s: &AppState,
    f: usize,
    edit: impl FnOnce(&mut Package) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let mut ws = s.workspace.lock().await;
    let file = ws
        .files
        .get_mut(f)
        .ok_or_else(|| ApiError::not_found(format!("no open file #{f}")))?;
    let Some(Doc::Package(p)) = &mut file.doc else {
        return Err(ApiError::bad(format!(
            "{}: not a loaded package",
            file.path.display()
        )));
    };
    // Edit a copy, so a failing edit leaves the document as it was.
    let mut copy = (**p).clone();
    let out = edit(&mut copy)?;
    if copy != **p {
        **p = copy;
        file.dirty = true;
    }
    Ok(out)
}

async fn get_connection(
    State(s): State<Arc<AppState>>,
    Path((f, cm)): Path<(usize, String)>,
) -> ApiResult {
    let ws = s.workspace.lock().await;
    let file = ws
        .files
        .get(f)
        .ok_or_else(|| ApiError::not_found(format!("no open file #{f}")))?;
    let c = match &file.doc {
        Some(Doc::Package(p)) => p.connection(&cm),
        Some(Doc::Conmgr(c)) => Some(&c.connection).filter(|c| c.matches(&cm)),
        None => None,
    }
    .ok_or_else(|| ApiError::not_found(format!("no connection manager {cm:?}")))?;
    to_json(&model::connection_view(c))
}

async fn put_connection(
    State(s): State<Arc<AppState>>,
    Path((f, cm)): Path<(usize, String)>,
    Json(edit): Json<ConnectionEdit>,
) -> ApiResult {
    let mut ws = s.workspace.lock().await;
    let file = ws
        .files
        .get_mut(f)
        .ok_or_else(|| ApiError::not_found(format!("no open file #{f}")))?;
    let c = match &mut file.doc {
        Some(Doc::Package(p)) => p.connections.get_mut(&cm),
        Some(Doc::Conmgr(c)) => Some(&mut c.connection).filter(|c| c.matches(&cm)),
        None => None,
    }
    .ok_or_else(|| {
        ApiError::not_found(format!(
            "no connection manager {cm:?} in this file (a project connection manager is edited in its .conmgr)"
        ))
    })?;
    let before = c.clone();
    model::apply_connection_edit(c, &edit)?;
    let view = model::connection_view(c);
    if *c != before {
        file.dirty = true;
    }
    to_json(&view)
}

#[derive(Deserialize)]
struct NewConnection {
    name: Option<String>,
}

async fn add_connection(
    State(s): State<Arc<AppState>>,
    Path(f): Path<usize>,
    Json(body): Json<NewConnection>,
) -> ApiResult {
    let view = with_package(&s, f, |p| {
        let taken: Vec<String> = p
            .connections
            .iter()
            .map(|c| c.name.to_lowercase())
            .collect();
        let c = p.connections.add("SMTP");
        if let Some(n) = body.name.filter(|n| !n.trim().is_empty()) {
            if taken.contains(&n.to_lowercase()) {
                return Err(ApiError::field(
                    "name",
                    format!("a connection manager named {n:?} exists"),
                ));
            }
            c.name = n;
        }
        Ok(model::connection_view(c))
    })
    .await?;
    to_json(&view)
}

async fn delete_connection(
    State(s): State<Arc<AppState>>,
    Path((f, cm)): Path<(usize, String)>,
) -> ApiResult {
    with_package(&s, f, |p| {
        p.connections.remove(&cm).map(|_| ()).ok_or_else(|| {
            ApiError::not_found(format!("no connection manager {cm:?} in this package"))
        })
    })
    .await?;
    Ok(Json(json!({ "deleted": true })))
}

#[derive(Deserialize)]
struct NewTask {
    /// DTSID of the container; the package when absent.
    container: Option<String>,
    name: Option<String>,
}

async fn add_task(
    State(s): State<Arc<AppState>>,
    Path(f): Path<usize>,
    Json(body): Json<NewTask>,
) -> ApiResult {
    let id = with_package(&s, f, |p| {
        let name = body
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "Send Mail Task".into());
        let smtp = p
            .connections
            .iter()
            .chain(p.project_connections.iter())
            .find(|c| c.kind == ConnectionKind::Smtp)
            .map(|c| c.dtsid.clone());
        let t = p
            .add_send_mail_task(body.container.as_deref(), &name)
            .map_err(|e| ApiError::field("name", e))?;
        // Like the SSIS editor, a new task starts on the first SMTP connection manager.
        if let (Some(id), Some(d)) = (smtp, t.send_mail_mut()) {
            d.smtp_server_ref = id;
        }
        Ok(t.dtsid.clone())
    })
    .await?;
    Ok(Json(json!({ "id": id })))
}

#[derive(Deserialize)]
struct NewVariable {
    name: String,
    #[serde(default)]
    value: String,
}

/// "New variable…": a `User::` string variable at package scope.
async fn add_variable(
    State(s): State<Arc<AppState>>,
    Path(f): Path<usize>,
    Json(body): Json<NewVariable>,
) -> ApiResult {
    let name = with_package(&s, f, |p| {
        let n = body.name.trim().trim_start_matches("User::").to_owned();
        let valid = !n.is_empty()
            && n.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
            && n.chars().all(|c| c.is_alphanumeric() || c == '_' || c == ' ');
        if !valid {
            return Err(ApiError::field(
                "name",
                format!("name: {:?} is not a variable name (a letter or _, then letters, digits, _ or spaces)", body.name),
            ));
        }
        if p.variable(&format!("User::{n}")).is_some() {
            return Err(ApiError::field("name", format!("name: User::{n} exists already")));
        }
        let v = smtpcm::package::Variable::new(
            "User",
            &n,
            smtpcm::package::vartype::STRING,
            &body.value,
        );
        let q = v.qualified_name();
        p.variables.push(v);
        Ok(q)
    })
    .await?;
    Ok(Json(json!({ "name": name })))
}

async fn delete_task(
    State(s): State<Arc<AppState>>,
    Path((f, t)): Path<(usize, String)>,
) -> ApiResult {
    with_package(&s, f, |p| p.remove_executable(&t).map_err(ApiError::bad)).await?;
    Ok(Json(json!({ "deleted": true })))
}

#[derive(Deserialize)]
struct ComposeBody {
    connection_string: String,
    #[serde(default)]
    fields: BTreeMap<String, String>,
}

/// Field edits → string, string → fields: the live two-way view of the editor.
async fn connection_string(Json(body): Json<ComposeBody>) -> ApiResult {
    let cs = model::compose(&body.connection_string, &body.fields)?;
    let (warnings, error) = match model::check_connection_string(&cs) {
        Ok(w) => (w, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    Ok(Json(json!({
        "connection_string": cs,
        "fields": model::fields_of(&cs),
        "warnings": warnings,
        "error": error,
    })))
}

async fn get_task(
    State(s): State<Arc<AppState>>,
    Path((f, t)): Path<(usize, String)>,
) -> ApiResult {
    let ws = s.workspace.lock().await;
    let Some(Doc::Package(p)) = ws.files.get(f).and_then(|x| x.doc.as_ref()) else {
        return Err(ApiError::not_found(format!("no package #{f}")));
    };
    let e = p
        .all_executables()
        .into_iter()
        .find(|e| e.dtsid == t || smtpcm::package::same_guid(&e.dtsid, &t))
        .ok_or_else(|| ApiError::not_found(format!("no task {t}")))?;
    let view = model::task_view(p, e)
        .ok_or_else(|| ApiError::bad(format!("{:?} is not a Send Mail task", e.name)))?;
    let mut v = serde_json::to_value(&view).map_err(|e| ApiError::bad(e.to_string()))?;
    v["connections"] = json!(p
        .connections
        .iter()
        .chain(p.project_connections.iter())
        .map(|c| json!({"id": c.dtsid, "name": c.name, "kind": c.creation_name, "smtp": c.kind == ConnectionKind::Smtp, "file": c.kind == ConnectionKind::File}))
        .collect::<Vec<_>>());
    v["variables"] = json!(
        p.variables
            .iter()
            .map(|x| x.qualified_name())
            .collect::<Vec<_>>()
    );
    Ok(Json(v))
}

async fn put_task(
    State(s): State<Arc<AppState>>,
    Path((f, t)): Path<(usize, String)>,
    Json(edit): Json<TaskEdit>,
) -> ApiResult {
    with_package(&s, f, |p| model::apply_task_edit(p, &t, &edit)).await?;
    get_task(State(s), Path((f, t))).await
}

#[derive(Deserialize)]
struct PreviewBody {
    expression: String,
}

async fn preview(
    State(s): State<Arc<AppState>>,
    Path(f): Path<usize>,
    Json(body): Json<PreviewBody>,
) -> ApiResult {
    let ws = s.workspace.lock().await;
    let Some(Doc::Package(p)) = ws.files.get(f).and_then(|x| x.doc.as_ref()) else {
        return Err(ApiError::not_found(format!("no package #{f}")));
    };
    to_json(&model::preview(p, &body.expression))
}

#[derive(Deserialize)]
struct NewPackageBody {
    path: PathBuf,
    name: Option<String>,
}

/// Checks the path of a file to create (it must not exist and must end in `.EXT`) and picks
/// its object name: the one given, else the file stem, else `default`.
fn new_file_name(
    body: &NewPackageBody,
    ext: &str,
    what: &str,
    default: &str,
) -> Result<String, ApiError> {
    if body.path.exists() {
        return Err(ApiError {
            status: 409,
            message: format!("{}: exists already", body.path.display()),
            field: Some("path".into()),
        });
    }
    if !body
        .path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
    {
        return Err(ApiError::field(
            "path",
            format!("path: {what} file name ends in .{ext}"),
        ));
    }
    Ok(body
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| {
            body.path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| default.into())
        }))
}

async fn new_package(
    State(s): State<Arc<AppState>>,
    Json(body): Json<NewPackageBody>,
) -> ApiResult {
    let name = new_file_name(&body, "dtsx", "a package", "Package")?;
    let pkg = Package::new(&name);
    let mut ws = s.workspace.lock().await;
    let id = ws.add_new(body.path, pkg);
    Ok(Json(json!({ "id": id })))
}

/// A new project connection manager: a `.conmgr` file (written on save) next to the packages.
async fn new_conmgr(State(s): State<Arc<AppState>>, Json(body): Json<NewPackageBody>) -> ApiResult {
    let name = new_file_name(
        &body,
        "conmgr",
        "a project connection manager",
        "SMTP Connection Manager",
    )?;
    let file =
        smtpcm::dtsx::new_smtp_conmgr(&name).map_err(|e| ApiError::field("name", e.to_string()))?;
    let mut ws = s.workspace.lock().await;
    let id = ws.add_new_doc(body.path, Doc::Conmgr(Box::new(file)));
    Ok(Json(json!({ "id": id, "connection": file_cm_id(&ws, id) })))
}

fn file_cm_id(ws: &crate::workspace::Workspace, id: usize) -> Option<String> {
    match ws.files.get(id).and_then(|f| f.doc.as_ref()) {
        Some(Doc::Conmgr(c)) => Some(c.connection.dtsid.clone()),
        _ => None,
    }
}
