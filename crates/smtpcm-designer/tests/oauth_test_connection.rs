//! Test connection in the designer with an OAuth2 connection string (issue 13, point 4): the
//! designer fetches a token from the real oidc-provider (client credentials, by token URL and
//! by discovery), authenticates to Dovecot submission with XOAUTH2 / OAUTHBEARER, and neither
//! its answer nor the connection manager's view ever holds the client secret.
//!
//! Skips with a message when the servers are not running; fails when CI=true.

#[path = "../../smtpcm/tests/support/servers.rs"]
mod servers;

use serde_json::{Value, json};
use smtpcm_designer::{Designer, DesignerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use servers::TestServers;

/// Only this test binary reads it, and this file's one test sets it before any request.
const SECRET_VAR: &str = "SMTPCM_DESIGNER_TEST_OAUTH_SECRET";
const TOKEN: &str = "designer-oauth-token";

/// The servers with the OAuth provider and Dovecot, or `None` (said plainly) when absent.
fn oauth_servers() -> Option<TestServers> {
    let servers = TestServers::load()?;
    let needed = [
        "DOVECOT_SUBMISSION_PORT",
        "OIDC_TOKEN_URL",
        "OIDC_ISSUER",
        "OIDC_CLIENT_ID",
        "OIDC_CLIENT_SECRET",
    ];
    if let Some(missing) = needed.iter().find(|k| servers.get(k).is_none()) {
        let message = format!(
            "{missing} is not in the test-server env file (Dovecot / oidc-provider not running; \
             restart scripts/test-servers.sh)"
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true: {message}");
        }
        eprintln!("skipped: {message}");
        return None;
    }
    Some(servers)
}

/// One HTTP/1.1 request with the designer's token; returns the status, the raw body text and
/// the parsed JSON.
async fn call(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, String, Value) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nX-Smtpcm-Token: {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status: u16 = text[9..12].parse().unwrap();
    let (_, raw) = text.split_once("\r\n\r\n").unwrap();
    let v = serde_json::from_str(raw).unwrap_or(Value::Null);
    (status, raw.to_owned(), v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_connection_acquires_a_token_and_authenticates_without_showing_the_secret() {
    let Some(s) = oauth_servers() else { return };
    let secret = s.get("OIDC_CLIENT_SECRET").unwrap().to_owned();
    // SAFETY: the only test in this binary; nothing else reads the environment yet.
    unsafe { std::env::set_var(SECRET_VAR, &secret) };
    let dir = tempfile::tempdir().unwrap();
    let d = Designer::bind(DesignerOptions {
        paths: vec![dir.path().to_path_buf()],
        token: Some(TOKEN.into()),
        ca_file: Some(s.ca_file()),
        ..DesignerOptions::default()
    })
    .await
    .unwrap();
    let addr = d.local_addr();
    tokio::spawn(d.serve());

    let port = s.get("DOVECOT_SUBMISSION_PORT").unwrap();
    let user = s.get("OIDC_USER_EMAIL").unwrap_or("alice@test.local");
    let client = s.get("OIDC_CLIENT_ID").unwrap();
    let base = format!("SmtpServer=localhost;Port={port};EnableSsl=True;UserName={user};");
    let cases = [
        (
            "XOAUTH2",
            format!(
                "AuthMechanism=XOAUTH2;OAuthTokenUrl={};OAuthClientId={client};\
                 OAuthClientSecretEnv={SECRET_VAR};OAuthScope=smtp",
                s.get("OIDC_TOKEN_URL").unwrap()
            ),
        ),
        (
            "OAUTHBEARER",
            format!(
                "AuthMechanism=OAUTHBEARER;OAuthIssuer={};OAuthClientId={client};\
                 OAuthClientSecretEnv={SECRET_VAR};OAuthScope=smtp",
                s.get("OIDC_ISSUER").unwrap()
            ),
        ),
    ];
    for (mechanism, oauth) in &cases {
        let cs = format!("{base}{oauth}");
        let (st, raw, v) = call(
            addr,
            "POST",
            "/api/test-connection",
            Some(json!({ "connection_string": cs })),
        )
        .await;
        assert_eq!(st, 200, "{raw}");
        assert_eq!(v["ok"], true, "{mechanism}: {raw}");
        assert_eq!(v["mechanism"], *mechanism, "{raw}");
        assert!(
            v["identity"].as_str().is_some_and(|i| i.contains(user)),
            "{raw}"
        );
        assert!(!raw.contains(&secret), "client secret in the answer: {raw}");
    }

    // A wrong secret is an answer (not ok) naming the failure, again without the secret.
    let wrong = format!("{secret}-wrong");
    unsafe { std::env::set_var(SECRET_VAR, &wrong) };
    let cs = format!("{base}{}", cases[0].1);
    let (st, raw, v) = call(
        addr,
        "POST",
        "/api/test-connection",
        Some(json!({ "connection_string": cs })),
    )
    .await;
    assert_eq!(st, 200, "{raw}");
    assert_eq!(v["ok"], false, "a wrong client secret authenticated: {raw}");
    assert!(!raw.contains(&wrong) && !raw.contains(&secret), "{raw}");
    unsafe { std::env::set_var(SECRET_VAR, &secret) };

    // The connection manager's view shows the OAuth settings, never the secret value.
    let file = dir.path().join("Mail.conmgr");
    let (st, raw, v) = call(addr, "POST", "/api/conmgr", Some(json!({ "path": file }))).await;
    assert_eq!(st, 200, "{raw}");
    let id = v["id"].as_u64().unwrap();
    let cm = v["connection"]
        .as_str()
        .unwrap()
        .replace('{', "%7B")
        .replace('}', "%7D");
    let cm_path = format!("/api/files/{id}/connections/{cm}");
    let (st, raw, _) = call(
        addr,
        "PUT",
        &cm_path,
        Some(json!({"fields": {
            "SmtpServer": "localhost",
            "Port": port,
            "UserName": user,
            "AuthMechanism": "XOAUTH2",
            "OAuthTokenUrl": s.get("OIDC_TOKEN_URL").unwrap(),
            "OAuthClientId": client,
            "OAuthClientSecretEnv": SECRET_VAR,
            "OAuthScope": "smtp",
        }})),
    )
    .await;
    assert_eq!(st, 200, "{raw}");
    assert!(!raw.contains(&secret), "{raw}");
    let (st, raw, _) = call(addr, "GET", &cm_path, None).await;
    assert_eq!(st, 200, "{raw}");
    assert!(
        raw.contains(SECRET_VAR) && raw.contains("OAuthClientId"),
        "the view shows the OAuth settings: {raw}"
    );
    assert!(!raw.contains(&secret), "client secret in the view: {raw}");
}
