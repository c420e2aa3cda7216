//! Issue 8.8 against real servers that offer DSN: `DsnNotify`/`DsnRet` from the connection
//! string and the ENVID from the task reach Postfix, which reports the delivery to the
//! sender quoting them; the dumping smtp-sink shows the exact parameters on the wire, with
//! `DisableExtensions` honoured.

#[path = "support/servers.rs"]
mod servers;

use std::time::Duration;

use servers::TestServers;
use smtpcm::connection_manager::SmtpConnectionManager;
use smtpcm::send_mail::{NoPackage, SendMailTask};
use smtpcm_engine::smtp::{Dsn, DsnRet, Extension};

const DELIVERY: Duration = Duration::from_secs(30);

fn task(from: &str, to: &str) -> SendMailTask {
    SendMailTask {
        from_line: from.into(),
        to_line: to.into(),
        subject: "dsn".into(),
        message_source: "Please report.".into(),
        ..SendMailTask::default()
    }
}

#[tokio::test]
async fn postfix_reports_success_quoting_envid_and_original_recipient() {
    let Some(servers) = TestServers::load() else {
        return;
    };
    let sender = servers.unique_recipient("dsn-sender");
    let rcpt = servers.unique_recipient("dsn-rcpt");
    let cs = format!(
        "SmtpServer={};UseWindowsAuthentication=False;EnableSsl=True;Port={};\
         DsnNotify=SUCCESS;DsnRet=HDRS;DisableExtensions=PIPELINING,CHUNKING;",
        servers.tls_server_name(),
        servers.starttls_port()
    );
    let mut cm = SmtpConnectionManager::with_connection_string("SMTP", &cs).unwrap();
    cm.set_extra_ca_file(Some(servers.ca_file()));
    let cfg = cm.client_config().unwrap();
    assert_eq!(
        cfg.disabled_extensions,
        [Extension::Pipelining, Extension::Chunking]
    );
    let envid = format!("smtpcm-{}", rcpt.split('@').next().unwrap());
    let mut t = task(&sender, &rcpt);
    t.dsn = Dsn {
        envid: Some(envid.clone()),
        ..Dsn::default()
    };
    let report = t.execute(&cm, &NoPackage).await.expect("sent");
    assert_eq!(report.accepted, std::slice::from_ref(&rcpt));

    servers
        .wait_for_maildir_message(&rcpt, DELIVERY)
        .expect("the message was delivered");
    let dsn = servers
        .wait_for_maildir_message(&sender, DELIVERY)
        .expect("Postfix sent the success notification to the sender");
    let dsn = String::from_utf8_lossy(&dsn);
    assert!(dsn.contains("Action: delivered"), "{dsn}");
    assert!(
        dsn.contains(&format!("Original-Envelope-Id: {envid}")),
        "{dsn}"
    );
    assert!(
        dsn.contains(&format!("Original-Recipient: rfc822;{rcpt}")),
        "{dsn}"
    );
    // RET=HDRS: only the headers of the message come back.
    assert!(dsn.contains("text/rfc822-headers"), "{dsn}");
    assert!(!dsn.contains("Please report."), "{dsn}");
}

#[tokio::test]
async fn smtp_sink_sees_the_exact_dsn_parameters() {
    let Some(servers) = TestServers::load() else {
        return;
    };
    let rcpt = servers.unique_recipient("dsn-args");
    let cs = format!(
        "SmtpServer=127.0.0.1;UseWindowsAuthentication=False;EnableSsl=False;Port={};\
         DsnNotify=NEVER;DsnRet=HDRS;",
        servers.sink_dump_port()
    );
    let mut cm = SmtpConnectionManager::with_connection_string("SMTP", &cs).unwrap();
    // Set by a task or the command line: each setting wins over the connection string's.
    cm.set_dsn(Dsn {
        notify: Some("FAILURE,DELAY".parse().unwrap()),
        ret: Some(DsnRet::Full),
        envid: Some("run 7+x".into()),
    });
    let message = task("etl@sender.test", &rcpt)
        .prepare(Some(&cm), &NoPackage)
        .unwrap();
    cm.send(&message).await.expect("sent");
    let dump = servers
        .sink_dump_for(&rcpt)
        .expect("smtp-sink dumped the message");
    let text = std::fs::read_to_string(dump).unwrap();
    assert!(
        text.contains(&format!(
            "X-Rcpt-Args: <{rcpt}> NOTIFY=FAILURE,DELAY ORCPT=rfc822;{rcpt}"
        )),
        "{text}"
    );
    assert!(
        text.contains("RET=FULL ENVID=run+207+2Bx"),
        "ENVID is xtext-encoded: {text}"
    );
}
