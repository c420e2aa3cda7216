//! The token check in front of every route.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// Name of the cookie set on the first visit.
pub(crate) const COOKIE: &str = "smtpcm_designer";
/// Header scripts may send instead of the cookie.
pub(crate) const HEADER: &str = "x-smtpcm-token";

/// Compares without an early exit, so the time taken does not reveal a matching prefix.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn from_headers(headers: &HeaderMap, token: &str) -> bool {
    let header_token = headers.get(HEADER).and_then(|v| v.to_str().ok());
    if header_token.is_some_and(|v| same(v.trim(), token)) {
        return true;
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if bearer.is_some_and(|t| same(t.trim(), token)) {
        return true;
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .any(|(k, v)| k == COOKIE && same(v, token))
}

fn from_query(query: Option<&str>, token: &str) -> bool {
    query
        .unwrap_or("")
        .split('&')
        .filter_map(|p| p.split_once('='))
        .any(|(k, v)| k == "token" && same(v, token))
}

/// Admits a request that carries the token; a first visit with `?token=` also gets the cookie.
pub(crate) async fn require_token(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let token = state.token.as_str();
    if from_headers(request.headers(), token) {
        return next.run(request).await;
    }
    if from_query(request.uri().query(), token) {
        let mut response = next.run(request).await;
        let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/");
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
        return response;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "401 Unauthorized: open the URL the designer printed (it carries the token)\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_sources() {
        let mut h = HeaderMap::new();
        assert!(!from_headers(&h, "abc"));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("x=1; smtpcm_designer=abc"),
        );
        assert!(from_headers(&h, "abc"));
        assert!(!from_headers(&h, "abd"));
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert!(from_headers(&h, "abc"));
        assert!(from_query(Some("a=b&token=abc"), "abc"));
        assert!(!from_query(Some("token=ab"), "abc"));
        assert!(!from_query(None, "abc"));
    }
}
