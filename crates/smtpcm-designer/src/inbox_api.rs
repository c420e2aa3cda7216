//! Routes of the Inbox page: the capture server's messages.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;
use crate::api::{ApiResult, to_json};
use crate::model::ApiError;

pub(crate) async fn inbox_list(State(s): State<Arc<AppState>>) -> ApiResult {
    let addr = s
        .inbox
        .addr()
        .await
        .map_err(|e| ApiError::bad(e.to_string()))?;
    let list = s.inbox.list().await;
    Ok(Json(
        json!({ "capture": addr.to_string(), "messages": list }),
    ))
}

pub(crate) async fn inbox_message(
    State(s): State<Arc<AppState>>,
    Path(id): Path<usize>,
) -> ApiResult {
    let v = s
        .inbox
        .view(id)
        .await
        .ok_or_else(|| ApiError::not_found(format!("no message {id}")))?;
    to_json(&v)
}

pub(crate) async fn inbox_raw(State(s): State<Arc<AppState>>, Path(id): Path<usize>) -> Response {
    match s.inbox.raw(id).await {
        Some(raw) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], raw).into_response(),
        None => ApiError::not_found(format!("no message {id}")).into_response(),
    }
}

pub(crate) async fn inbox_attachment(
    State(s): State<Arc<AppState>>,
    Path((id, n)): Path<(usize, usize)>,
) -> Response {
    match s.inbox.attachment(id, n).await {
        Some((name, _ctype, bytes)) => {
            let safe: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || ".-_ ".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            (
                [
                    // Served as a download, never rendered in the designer's origin.
                    (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{safe}\""),
                    ),
                ],
                bytes,
            )
                .into_response()
        }
        None => ApiError::not_found(format!("no attachment {n} in message {id}")).into_response(),
    }
}

/// The HTML body on its own, for the page's `<iframe sandbox>`; the CSP `sandbox` directive
/// keeps it script-less and in an opaque origin even if opened directly.
pub(crate) async fn inbox_html(State(s): State<Arc<AppState>>, Path(id): Path<usize>) -> Response {
    match s.inbox.view(id).await.and_then(|m| m.html) {
        Some(html) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:",
                ),
            ],
            html,
        )
            .into_response(),
        None => ApiError::not_found(format!("no HTML body in message {id}")).into_response(),
    }
}
