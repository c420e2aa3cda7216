//! Issue 5's fault matrix, against the in-repo scripted server: every stage
//! (connect, greeting, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA start, mid-data,
//! after the final dot) gets every fault (4xx, 5xx, disconnect, TCP reset, stall
//! past the timeout). In each case the error names the stage (and the code, for
//! replies); a permanent error is never retried; a transient one is retried
//! exactly as often as the policy says; and a loss after the final dot is
//! "delivery status unknown" and never retried, so nothing is sent twice.
//!
//! Mid-data disconnects, resets and stalls stop the sink from reading, so the
//! client meets them while it is still writing the body: a connection error,
//! retried, never "unknown" (issue 8.5).

use std::time::Duration;

use smtpcm::connection_manager::SmtpConnectionManager;
use smtpcm::send_mail::{NoPackage, SendMailTask};
use smtpcm_engine::SendError;
use smtpcm_engine::mime::PreparedMessage;
use smtpcm_engine::pool::{Pool, PoolConfig, RetryPolicy};
use smtpcm_sink::{Fault, FaultScript, FaultStage, Sink, SinkAuth, SinkConfig};

const PASSWORD_ENV: &str = "SMTPCM_FAULT_MATRIX_PASSWORD";
const RETRIES: u32 = 2;
/// Every stage's timeout, so a stall costs little.
const TIMEOUT_MS: u32 = 1500;
/// Bigger than loopback socket buffers, so a server that stops reading mid-data is
/// noticed while the message is still being written.
const ATTACHMENT: usize = 12 * 1024 * 1024;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Transient,
    Permanent,
    Disconnect,
    Reset,
    Stall,
}

fn fault(stage: FaultStage, kind: Kind) -> Fault {
    let auth = matches!(stage, FaultStage::Auth);
    match kind {
        Kind::Transient if auth => {
            Fault::Reply(454, "4.7.0 Temporary authentication failure".into())
        }
        Kind::Permanent if auth => {
            Fault::Reply(535, "5.7.8 Authentication credentials invalid".into())
        }
        Kind::Transient => Fault::Reply(451, "4.3.0 Scripted transient fault".into()),
        Kind::Permanent => Fault::Reply(554, "5.3.0 Scripted permanent fault".into()),
        Kind::Disconnect => Fault::Disconnect,
        Kind::Reset => Fault::Reset,
        Kind::Stall => Fault::Stall,
    }
}

/// Words the error must contain to name the stage.
fn stage_words(stage: FaultStage) -> &'static [&'static str] {
    match stage {
        // A reset before any byte of the greeting can only be blamed on the connection.
        FaultStage::Connect | FaultStage::Greeting => {
            &["greeting", "connection rejected", "connect"]
        }
        FaultStage::Ehlo => &["EHLO", "HELO"],
        FaultStage::StartTls => &["STARTTLS"],
        FaultStage::Auth => &["AUTH", "authentication"],
        FaultStage::Mail => &["MAIL FROM"],
        FaultStage::Rcpt => &["RCPT TO"],
        FaultStage::DataStart => &["DATA"],
        FaultStage::MidData { .. } => &["message transfer", "end of data"],
        FaultStage::AfterDot => &["end of data", "delivery status unknown"],
    }
}

/// Transcript lines (client side) that mark one attempt at the stage.
fn attempt_marker(stage: FaultStage) -> Option<&'static str> {
    match stage {
        FaultStage::Mail => Some("MAIL FROM"),
        FaultStage::Rcpt => Some("RCPT TO"),
        FaultStage::DataStart | FaultStage::MidData { .. } | FaultStage::AfterDot => Some("DATA"),
        // Earlier stages fail the whole connection: count connections instead.
        _ => None,
    }
}

/// Attempts when the outcome is known not to be a delivery: one for a permanent
/// failure, one plus every retry for a transient one.
fn expected_attempts(kind: Kind) -> u32 {
    match kind {
        Kind::Permanent => 1,
        _ => 1 + RETRIES,
    }
}

async fn prepared(dir: &std::path::Path) -> PreparedMessage {
    let path = dir.join("payload.bin");
    if !path.exists() {
        std::fs::write(&path, vec![b'x'; ATTACHMENT]).unwrap();
    }
    let task = SendMailTask {
        from_line: "etl@sender.test".into(),
        to_line: "ops@receiver.test".into(),
        subject: "fault matrix".into(),
        message_source: "body".into(),
        file_attachments: path.display().to_string(),
        ..SendMailTask::default()
    };
    task.build_message(&NoPackage).unwrap().prepare().unwrap()
}

async fn run_case(stage: FaultStage, kind: Kind, dir: std::path::PathBuf) -> Result<(), String> {
    let label = format!("{stage:?} × {kind:?}");
    let config = SinkConfig {
        auth: Some(SinkAuth::new("matrix", "matrix-password")),
        chunking: false,
        faults: FaultScript::new().always(stage, fault(stage, kind)),
        ..SinkConfig::default()
    };
    let sink = Sink::start(config)
        .await
        .map_err(|e| format!("{label}: sink: {e}"))?;
    let ca = dir.join(format!("ca-{}.pem", sink.local_addr().port()));
    sink.write_ca_file(&ca).map_err(|e| e.to_string())?;
    let cs = format!(
        "SmtpServer=localhost;UseWindowsAuthentication=False;EnableSsl=True;Timeout={TIMEOUT_MS};Port={};UserName=matrix;PasswordEnv={PASSWORD_ENV};",
        sink.local_addr().port()
    );
    let mut cm =
        SmtpConnectionManager::with_connection_string("SMTP", &cs).map_err(|e| e.to_string())?;
    cm.set_extra_ca_file(Some(ca));
    let retry = RetryPolicy {
        max_retries: RETRIES,
        initial_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(20),
    };
    let pool = Pool::new(
        cm.endpoint().map_err(|e| format!("{label}: {e}"))?,
        PoolConfig {
            max_connections: 1,
            retry,
            ..PoolConfig::default()
        },
    );
    let message = prepared(&dir).await;

    let outcome = tokio::time::timeout(Duration::from_secs(60), pool.send(&message))
        .await
        .map_err(|_| format!("{label}: the send hung"))?;
    pool.close().await;
    let err = match outcome {
        Ok(report) => return Err(format!("{label}: expected a failure, got {}", report.reply)),
        Err(e) => e,
    };
    let text = err.to_string();
    let mut problems = Vec::new();
    if !stage_words(stage)
        .iter()
        .any(|w| text.to_ascii_lowercase().contains(&w.to_ascii_lowercase()))
    {
        problems.push(format!("does not name the stage {:?}", stage_words(stage)));
    }
    if let Fault::Reply(code, _) = fault(stage, kind)
        && !matches!(stage, FaultStage::MidData { .. })
        && !text.contains(&code.to_string())
    {
        problems.push(format!("does not name the code {code}"));
    }
    let unknown = matches!(&err, SendError::Smtp(e) if e.is_delivery_unknown());
    // Only a loss after the whole message and the dot were written is "unknown" (never
    // retried). Mid-data the sink stops reading, so the client fails while still writing:
    // that is a connection error like any other, and retried.
    let after_dot_loss = matches!(kind, Kind::Disconnect | Kind::Reset | Kind::Stall)
        && matches!(stage, FaultStage::AfterDot);
    if after_dot_loss != unknown {
        problems.push(format!(
            "delivery-unknown is {unknown}, expected {after_dot_loss}"
        ));
    }
    if matches!(kind, Kind::Permanent) && err.is_retryable() {
        problems.push("a permanent failure is classed retryable".into());
    }
    let attempts = match attempt_marker(stage) {
        Some(marker) => sink
            .transcript()
            .iter()
            .filter(|l| {
                l.contains("] C: ") && l.to_ascii_uppercase().contains(&format!("C: {marker}"))
            })
            .count() as u32,
        None => sink.connections() as u32,
    };
    let expected = if after_dot_loss {
        1
    } else {
        expected_attempts(kind)
    };
    if attempts != expected {
        problems.push(format!("{attempts} attempts, expected {expected}"));
    }
    sink.shutdown().await;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{label}: {} — error was: {text}",
            problems.join("; ")
        ))
    }
}

/// Runs every stage × kind pair side by side and returns the failures, sorted.
async fn run_matrix(stages: &[FaultStage], kinds: &[Kind]) -> Vec<String> {
    // SAFETY: set before any other thread of this test binary reads the environment, and
    // always to the same value.
    unsafe { std::env::set_var(PASSWORD_ENV, "matrix-password") };
    let dir = tempfile::tempdir().unwrap();
    // Write the shared attachment once, before cases run side by side.
    let _ = prepared(dir.path()).await;
    let mut cases = tokio::task::JoinSet::new();
    for &stage in stages {
        for &kind in kinds {
            cases.spawn(run_case(stage, kind, dir.path().to_path_buf()));
        }
    }
    let mut failures = Vec::new();
    let mut ran = 0;
    while let Some(result) = cases.join_next().await {
        ran += 1;
        if let Err(e) = result.expect("case panicked") {
            failures.push(e);
        }
    }
    assert_eq!(ran, stages.len() * kinds.len());
    failures.sort();
    failures
}

const MID_DATA: FaultStage = FaultStage::MidData {
    after_bytes: 64 * 1024,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stage_times_every_fault() {
    let stages = [
        FaultStage::Connect,
        FaultStage::Greeting,
        FaultStage::Ehlo,
        FaultStage::StartTls,
        FaultStage::Auth,
        FaultStage::Mail,
        FaultStage::Rcpt,
        FaultStage::DataStart,
        FaultStage::AfterDot,
    ];
    let kinds = [
        Kind::Transient,
        Kind::Permanent,
        Kind::Disconnect,
        Kind::Reset,
        Kind::Stall,
    ];
    let mut failures = run_matrix(&stages, &kinds).await;
    // Mid-data replies are read after the client wrote the rest: the write path is not at stake.
    failures.extend(run_matrix(&[MID_DATA], &[Kind::Transient, Kind::Permanent]).await);
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        stages.len() * kinds.len() + 2,
        failures.join("\n")
    );
}

/// Issue 8.5: a disconnect, reset or stall while the body is being written is a connection
/// error, retried by the pool. Today the client flattens the failed write into an I/O error
/// that is never retried ("writing the message: ... Broken pipe").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mid_body_losses_are_retried_connection_errors() {
    let kinds = [Kind::Disconnect, Kind::Reset, Kind::Stall];
    let failures = run_matrix(&[MID_DATA], &kinds).await;
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        kinds.len(),
        failures.join("\n")
    );
}
