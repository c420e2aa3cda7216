//! The PostgreSQL test server (scripts/servers/postgres.sh), and a fresh database per test.
#![allow(dead_code)]

use std::path::PathBuf;

/// `POSTGRES_URL` from the environment, else from the test servers' env file
/// (`SMTPCM_TEST_ENV`, else `<repo>/.test-servers/env`). `None` (said on stderr) when
/// PostgreSQL is not running; with `CI=true` that is a failure.
pub fn server_url() -> Option<String> {
    if let Ok(url) = std::env::var("POSTGRES_URL") {
        return Some(url);
    }
    let file = std::env::var_os("SMTPCM_TEST_ENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.test-servers/env")
        });
    let found = std::fs::read_to_string(&file).ok().and_then(|text| {
        text.lines()
            .find_map(|l| l.strip_prefix("POSTGRES_URL=").map(str::to_owned))
    });
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "CI=true but no POSTGRES_URL (environment or {})",
                file.display()
            );
        }
        eprintln!(
            "skipped: PostgreSQL not running (no POSTGRES_URL in the environment or {})",
            file.display()
        );
    }
    found
}

/// A new empty database on the test server; dropped by [`drop_database`].
pub async fn fresh_database(server: &str, label: &str) -> (String, String) {
    let (client, conn) = tokio_postgres::connect(server, tokio_postgres::NoTls)
        .await
        .expect("connect to the PostgreSQL test server");
    tokio::spawn(conn);
    let name = format!(
        "t_{label}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create a test database");
    let base = server.rsplit_once('/').map_or(server, |(b, _)| b);
    (format!("{base}/{name}"), name)
}

/// Drop a database made by [`fresh_database`] (best effort).
pub async fn drop_database(server: &str, name: &str) {
    if let Ok((client, conn)) = tokio_postgres::connect(server, tokio_postgres::NoTls).await {
        tokio::spawn(conn);
        let _ = client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    }
}
