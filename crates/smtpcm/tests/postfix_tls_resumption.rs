//! Issue 8.7 against real Postfix: every connection of a connection manager (and of a
//! pool, which connects through the same endpoint) shares one rustls configuration per CA
//! set, so a later STARTTLS or implicit TLS session resumes an earlier one instead of a
//! full handshake.
//!
//! Postfix issues one TLS 1.3 ticket per full handshake and none on resumption, and
//! rustls uses a ticket once: each full handshake below pays for exactly one resumption.
//! Tickets are stored per server name, not per port, so the cases run in one test, in order.

#[path = "support/servers.rs"]
mod servers;

use servers::TestServers;
use smtpcm::connection_manager::SmtpConnectionManager;

fn manager(servers: &TestServers, extra: String) -> SmtpConnectionManager {
    let cs = format!(
        "SmtpServer={};UseWindowsAuthentication=False;{extra}",
        servers.tls_server_name()
    );
    let mut cm =
        SmtpConnectionManager::with_connection_string("SMTP Connection Manager", &cs).unwrap();
    cm.set_extra_ca_file(Some(servers.ca_file()));
    cm
}

/// Connects with `cm`, checks TLS, and says whether the handshake resumed.
async fn resumed(cm: &SmtpConnectionManager) -> bool {
    let conn = cm.acquire().await.expect("connect");
    assert!(conn.client.is_tls());
    let resumed = conn.client.tls_resumed();
    // A TLS 1.3 ticket arrives after the handshake; reading the EHLO reply inside TLS
    // took it in, before QUIT.
    conn.client.quit().await.expect("quit");
    resumed
}

#[tokio::test]
async fn later_tls_connections_resume_the_session() {
    let Some(servers) = TestServers::load() else {
        return;
    };
    let starttls = format!("EnableSsl=True;Port={};", servers.starttls_port());
    let cm = manager(&servers, starttls.clone());
    assert!(!resumed(&cm).await, "nothing to resume yet");
    assert!(
        resumed(&cm).await,
        "same manager: the second connection resumes"
    );

    // Another manager (or a pool built from its endpoint) with the same CA file shares
    // the configuration, and so the session store.
    let first = manager(&servers, starttls.clone());
    assert!(!resumed(&first).await, "the ticket above was used up");
    let second = manager(&servers, starttls);
    let conn = second
        .endpoint()
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    assert!(conn.client.tls_resumed(), "same CA set, same session store");
    conn.client.quit().await.expect("quit");

    let implicit = manager(
        &servers,
        format!(
            "EnableSsl=False;TlsMode=Implicit;Port={};",
            servers.implicit_port()
        ),
    );
    assert!(!resumed(&implicit).await, "no ticket left");
    assert!(resumed(&implicit).await, "implicit TLS resumes too");
}
