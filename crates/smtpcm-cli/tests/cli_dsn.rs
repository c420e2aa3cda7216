//! `smtpcm send --dsn-notify/--dsn-ret/--dsn-envid` (issue 8.8): the parameters reach the
//! dumping smtp-sink (which offers DSN), and a bad value is a usage error (2).

#[path = "../../smtpcm/tests/support/servers.rs"]
mod servers;

use std::process::Output;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_smtpcm");

async fn smtpcm(args: &[&str]) -> Output {
    let child = tokio::process::Command::new(BIN)
        .args(args)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), child)
        .await
        .expect("smtpcm did not finish within 60 s")
        .expect("smtpcm could not be started")
}

fn send_args<'a>(connection: &'a str, to: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "send",
        "-c",
        connection,
        "--from",
        "a@b.test",
        "--to",
        to,
        "--subject",
        "s",
        "--body",
        "b",
    ];
    args.extend_from_slice(extra);
    args
}

#[tokio::test]
async fn dsn_flags_reach_the_server() {
    let Some(servers) = servers::TestServers::load() else {
        return;
    };
    let rcpt = servers.unique_recipient("cli-dsn");
    let cs = format!(
        "SmtpServer=127.0.0.1;UseWindowsAuthentication=False;EnableSsl=False;Port={};",
        servers.sink_dump_port()
    );
    let out = smtpcm(&send_args(
        &cs,
        &rcpt,
        &[
            "--dsn-notify",
            "success,failure",
            "--dsn-ret",
            "hdrs",
            "--dsn-envid",
            "nightly=1",
        ],
    ))
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dump = servers.sink_dump_for(&rcpt).expect("dumped");
    let text = std::fs::read_to_string(dump).unwrap();
    assert!(
        text.contains(&format!(
            "<{rcpt}> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;{rcpt}"
        )),
        "{text}"
    );
    assert!(text.contains("RET=HDRS ENVID=nightly+3D1"), "{text}");
}

#[tokio::test]
async fn bad_dsn_values_are_usage_errors_before_connecting() {
    // Port 9 on loopback: nothing listens, so only a check before connecting gives 2.
    let cs = "SmtpServer=127.0.0.1;UseWindowsAuthentication=False;EnableSsl=False;Port=9;";
    for extra in [
        ["--dsn-notify", "always"],
        ["--dsn-ret", "body"],
        ["--dsn-envid", "caf\u{e9}"],
    ] {
        let out = smtpcm(&send_args(cs, "c@d.test", &extra)).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains("dsn"), "{extra:?} names the flag: {err}");
    }
}

/// `send --outbox` stores the DSN flags with the message; the worker sends them later,
/// after the process that queued it is gone.
#[tokio::test]
async fn dsn_flags_are_queued_with_the_message() {
    let Some(servers) = servers::TestServers::load() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outbox.sqlite");
    let db = db.to_str().unwrap();
    let rcpt = servers.unique_recipient("cli-dsn-outbox");
    let cs = format!(
        "SmtpServer=127.0.0.1;UseWindowsAuthentication=False;EnableSsl=False;Port={};",
        servers.sink_dump_port()
    );
    let out = smtpcm(&send_args(
        &cs,
        &rcpt,
        &[
            "--dsn-notify",
            "failure",
            "--dsn-ret",
            "full",
            "--dsn-envid",
            "queued=1",
            "--outbox",
            db,
        ],
    ))
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(servers.sink_dump_for(&rcpt).is_none(), "queued, not sent");
    let out = smtpcm(&["outbox", "worker", "--db", db, "--until-empty"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dump = servers
        .sink_dump_for(&rcpt)
        .expect("delivered by the worker");
    let text = std::fs::read_to_string(dump).unwrap();
    assert!(
        text.contains(&format!("<{rcpt}> NOTIFY=FAILURE ORCPT=rfc822;{rcpt}")),
        "{text}"
    );
    assert!(text.contains("RET=FULL ENVID=queued+3D1"), "{text}");
}
