//! `smtpcm send --outbox` and `smtpcm outbox …`: durability, operations, and faults
//! (corrupt, locked and full databases, unreachable PostgreSQL).

#[path = "support/outbox.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

fn send_outbox(db: &str, port: u16, extra: &[&str]) -> std::process::Output {
    let conn = connection(port);
    let mut args = vec![
        "send",
        "-c",
        &conn,
        "--from",
        "etl@x.test",
        "--to",
        "ops@x.test",
        "--subject",
        "queued",
        "--body",
        "hello",
        "--outbox",
        db,
    ];
    args.extend_from_slice(extra);
    smtpcm(&args, &[])
}

fn status_json(db: &str) -> serde_json::Value {
    let out = smtpcm(&["outbox", "status", "--db", db, "--json"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Exit 0 means committed: the message (attachment included) survives the source file's
/// deletion and is delivered by a later worker process, byte for byte.
#[test]
fn send_outbox_is_durable_and_a_worker_delivers_it_after_the_source_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let Some(sink) = PostfixSink::start(24820, &dir.path().join("sink")) else {
        return;
    };
    let db = dir.path().join("o.sqlite");
    let db = db.to_str().unwrap();
    let attachment = dir.path().join("report.csv");
    std::fs::write(&attachment, "id,value\n1,forty-two\n".repeat(1000)).unwrap();
    let out = send_outbox(db, sink.port, &["--attach", attachment.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("queued  1  <"), "{stdout}");
    let message_id = stdout.split_whitespace().nth(2).unwrap().to_owned();
    std::fs::remove_file(&attachment).unwrap();

    assert_eq!(status_json(db)["counts"]["queued"], 1);
    let out = smtpcm(&["outbox", "worker", "--db", db, "--until-empty"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("outbox worker: sent 1,"),
        "{}",
        text(&out.stderr)
    );
    let got = sink.message_ids();
    assert_eq!(got.get(&message_id), Some(&1), "{got:?}");
    // The attachment travelled inside the stored message.
    let files: Vec<_> = walk(&sink.dir);
    let body = std::fs::read_to_string(&files[0]).unwrap();
    assert!(body.contains("filename=\"report.csv\""), "{body}");

    let show = smtpcm(&["outbox", "show", "1", "--db", db, "--json"], &[]);
    let show: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(show["state"], "sent");
    assert_eq!(show["message_id"], message_id.as_str());
    assert_eq!(show["recipients"][0]["state"], "accepted");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

/// `kill -9` at random moments during and right after enqueues: every enqueue that
/// returned 0 is there after the crash, whole, and the database stays intact.
#[test]
fn kill_9_around_enqueues_loses_nothing_that_was_reported_queued() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("o.sqlite");
    let db = db.to_str().unwrap().to_owned();
    // Big enough (3 MiB) that a kill often lands inside the enqueue transaction.
    let attachment = dir.path().join("big.bin");
    std::fs::write(&attachment, vec![b'x'; 3 << 20]).unwrap();
    let conn = connection(9);
    let mut reported = Vec::new();
    let mut killed = 0;
    for round in 0..16 {
        let child = Command::new(BIN)
            .args([
                "send",
                "-c",
                &conn,
                "--from",
                "etl@x.test",
                "--to",
                "ops@x.test",
                "--subject",
                "crash",
                "--body",
                "x",
                "--attach",
                attachment.to_str().unwrap(),
                "--outbox",
                &db,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        // Half the rounds are killed at a random early moment, the others right after exit.
        if round % 2 == 0 {
            std::thread::sleep(Duration::from_millis(fastrand::u64(5..120)));
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        let out = child.wait_with_output().unwrap();
        if out.status.code() == Some(0) {
            let s = text(&out.stdout);
            reported.push(s.split_whitespace().nth(2).unwrap().to_owned());
        } else {
            assert_eq!(out.status.code(), None, "not a kill: {}", text(&out.stderr));
            killed += 1;
        }
    }
    eprintln!(
        "{} enqueues reported queued, {killed} killed",
        reported.len()
    );
    assert!(!reported.is_empty());
    // A fresh process (a "restart") sees every reported message, with all its bytes.
    let list = smtpcm(
        &["outbox", "list", "--db", &db, "--json", "--limit", "1000"],
        &[],
    );
    assert!(list.status.success(), "{}", text(&list.stderr));
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let list = list.as_array().unwrap();
    for id in &reported {
        let m = list
            .iter()
            .find(|m| m["message_id"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} was reported queued but is gone"));
        assert_eq!(m["state"], "queued");
    }
    let c = rusqlite::Connection::open(&db).unwrap();
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    // No half-stored message: each row's chunks add up to its size.
    let torn: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM messages m WHERE size != \
             (SELECT COALESCE(SUM(LENGTH(data)), 0) FROM body_chunks WHERE message = m.id)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(torn, 0);
}

#[test]
fn operations_change_state_and_print_json() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("o.sqlite");
    let db = db.to_str().unwrap();
    let out = send_outbox(db, 9, &["--count", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("queued 2 message(s)"));
    let hold = smtpcm(&["outbox", "hold", "1", "--db", db, "--json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&hold.stdout).unwrap();
    assert_eq!(v["state"], "held");
    let s = status_json(db);
    assert_eq!(s["counts"]["held"], 1);
    assert_eq!(s["counts"]["queued"], 1);
    assert!(s["oldest_pending_age_secs"].is_u64(), "{s}");
    assert_eq!(s["unknown_policy"], "hold");
    // Hold twice is refused, naming the state: usage error.
    let again = smtpcm(&["outbox", "hold", "1", "--db", db], &[]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again.stderr).contains("message 1 is held"),
        "{}",
        text(&again.stderr)
    );
    let release = smtpcm(&["outbox", "release", "1", "--db", db], &[]);
    assert!(text(&release.stdout).contains("release 1: now queued"));
    let list = smtpcm(&["outbox", "list", "--db", db, "--state", "queued"], &[]);
    assert_eq!(text(&list.stdout).lines().count(), 2);
    let missing = smtpcm(&["outbox", "show", "77", "--db", db], &[]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("no message with id 77"));
    let purge = smtpcm(
        &[
            "outbox",
            "purge",
            "--older-than",
            "0s",
            "--db",
            db,
            "--json",
        ],
        &[],
    );
    let v: serde_json::Value = serde_json::from_slice(&purge.stdout).unwrap();
    assert_eq!(v["purged"], 0, "queued messages are never purged");
    let cfg = smtpcm(
        &[
            "outbox",
            "config",
            "--db",
            db,
            "--unknown-policy",
            "resend",
            "--max-age",
            "2d",
        ],
        &[],
    );
    assert!(text(&cfg.stdout).contains("unknown-policy resend\nmax-age 172800s"));
    // A status of an outbox that does not exist does not create one.
    let nowhere = dir.path().join("nowhere.sqlite");
    let out = smtpcm(
        &["outbox", "status", "--db", nowhere.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(!nowhere.exists());
}

fn one_line_error(out: &std::process::Output, code: i32, needle: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(needle), "{needle:?} in {err}");
}

#[test]
fn a_corrupt_database_is_a_clear_error_and_nothing_is_queued() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("o.sqlite");
    std::fs::write(&db, vec![0x5a; 8192]).unwrap();
    let db = db.to_str().unwrap();
    let out = send_outbox(db, 9, &[]);
    one_line_error(&out, 11, "the database is corrupt or not an outbox");
    assert!(text(&out.stderr).contains("nothing was queued"));
    assert!(text(&out.stdout).is_empty());
    one_line_error(
        &smtpcm(&["outbox", "status", "--db", db], &[]),
        11,
        "corrupt",
    );
}

#[test]
fn a_locked_database_is_a_clear_error_and_what_was_queued_stays() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("o.sqlite");
    let db = db.to_str().unwrap();
    assert_eq!(send_outbox(db, 9, &[]).status.code(), Some(0));
    let holder = rusqlite::Connection::open(db).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let env = [("SMTPCM_OUTBOX_BUSY_TIMEOUT_MS", "300")];
    let conn = connection(9);
    let out = smtpcm(
        &[
            "send",
            "-c",
            &conn,
            "--from",
            "a@x.test",
            "--to",
            "b@x.test",
            "--subject",
            "s",
            "--body",
            "b",
            "--outbox",
            db,
        ],
        &env,
    );
    one_line_error(&out, 11, "locked by another process");
    assert!(text(&out.stderr).contains("nothing was queued"));
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    assert_eq!(status_json(db)["counts"]["queued"], 1);
}

/// A full disk: a 1 MiB tmpfs (needs root to mount; otherwise the library's
/// `max_page_count` test covers SQLITE_FULL).
#[test]
fn a_full_disk_is_a_clear_error_and_what_was_queued_stays() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=1m",
            "tmpfs",
            mnt.to_str().unwrap(),
        ])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here (not root); see sqlite_full_commits_nothing");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let db = mnt.join("o.sqlite");
    let db = db.to_str().unwrap();
    for _ in 0..3 {
        assert_eq!(send_outbox(db, 9, &[]).status.code(), Some(0));
    }
    let big = dir.path().join("big.bin");
    std::fs::write(&big, vec![7u8; 2 << 20]).unwrap();
    let out = send_outbox(db, 9, &["--attach", big.to_str().unwrap()]);
    one_line_error(&out, 11, "the disk or database is full");
    assert!(text(&out.stderr).contains("nothing was queued"));
    let s = status_json(db);
    assert_eq!(s["counts"]["queued"], 3, "{s}");
}

#[test]
fn an_unreachable_postgresql_is_a_clear_error() {
    // Port 24849 is in this issue's range and never listened on.
    let out = send_outbox("postgres://smtpcm:secret-pw@127.0.0.1:24849/outbox", 9, &[]);
    one_line_error(&out, 11, "cannot reach the PostgreSQL server");
    let err = text(&out.stderr);
    assert!(err.contains("nothing was queued"), "{err}");
    assert!(
        !err.contains("secret-pw"),
        "the password is never shown: {err}"
    );
    let out = smtpcm(
        &[
            "outbox",
            "status",
            "--db",
            "postgres://smtpcm@127.0.0.1:24849/outbox",
        ],
        &[],
    );
    one_line_error(&out, 11, "cannot reach the PostgreSQL server");
}

/// A minimal package: one SMTP connection manager, one Send Mail task with an attachment.
fn package(connection_string: &str, attachment: &str) -> String {
    format!(
        r#"<?xml version="1.0"?>
<DTS:Executable xmlns:DTS="www.microsoft.com/SqlServer/Dts"
  DTS:refId="Package"
  DTS:CreationName="Microsoft.Package"
  DTS:DTSID="{{5A468C0B-5CFA-4747-9A38-1A8BC0D5A03D}}"
  DTS:ExecutableType="Microsoft.Package"
  DTS:ObjectName="Outbox"
  DTS:PackageType="5">
  <DTS:Property
    DTS:Name="PackageFormatVersion">8</DTS:Property>
  <DTS:ConnectionManagers>
    <DTS:ConnectionManager
      DTS:refId="Package.ConnectionManagers[SMTP Connection Manager]"
      DTS:CreationName="SMTP"
      DTS:DTSID="{{5C4DE7E2-1296-49D7-B436-4DEC3C5D4F2B}}"
      DTS:ObjectName="SMTP Connection Manager">
      <DTS:ObjectData>
        <SmtpConnectionManager
          ConnectionString="{connection_string}" />
      </DTS:ObjectData>
    </DTS:ConnectionManager>
  </DTS:ConnectionManagers>
  <DTS:Variables />
  <DTS:Executables>
    <DTS:Executable
      DTS:refId="Package\Send Mail Task"
      DTS:CreationName="Microsoft.SendMailTask"
      DTS:DTSID="{{1783E794-082C-4613-BBB2-AB1BD83D2E2B}}"
      DTS:ExecutableType="Microsoft.SendMailTask"
      DTS:ObjectName="Send Mail Task">
      <DTS:Variables />
      <DTS:ObjectData>
        <SendMailTask:SendMailTaskData
          SendMailTask:SMTPServer="{{5C4DE7E2-1296-49D7-B436-4DEC3C5D4F2B}}"
          SendMailTask:From="etl@sender.test"
          SendMailTask:To="ops@receiver.test"
          SendMailTask:Subject="from the package"
          SendMailTask:FileAttachments="{attachment}"
          SendMailTask:MessageSource="done" xmlns:SendMailTask="www.microsoft.com/sqlserver/dts/tasks/sendmailtask" />
      </DTS:ObjectData>
    </DTS:Executable>
  </DTS:Executables>
</DTS:Executable>
"#
    )
}

/// `run --outbox` queues each Send Mail message instead of sending it (the relay is not
/// even reachable), the run succeeds, and a worker delivers it later.
#[test]
fn run_outbox_queues_the_package_messages() {
    let dir = tempfile::tempdir().unwrap();
    let Some(sink) = PostfixSink::start(24821, &dir.path().join("sink")) else {
        return;
    };
    let attachment = dir.path().join("data.csv");
    std::fs::write(&attachment, "a,b\n1,2\n").unwrap();
    let pkg = dir.path().join("p.dtsx");
    std::fs::write(
        &pkg,
        package(&connection(sink.port), attachment.to_str().unwrap()),
    )
    .unwrap();
    let db = dir.path().join("o.sqlite");
    let db = db.to_str().unwrap();
    let outbox_arg = format!("--outbox={db}");
    let out = smtpcm(&["run", pkg.to_str().unwrap(), &outbox_arg], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("queued 1 <"), "{stdout}");
    std::fs::remove_file(&attachment).unwrap();
    let out = smtpcm(&["outbox", "worker", "--db", db, "--until-empty"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(sink.message_ids().len(), 1);
    let files = walk(&sink.dir);
    let body = std::fs::read_to_string(&files[0]).unwrap();
    assert!(body.contains("Subject: from the package"), "{body}");
    assert!(body.contains("filename=\"data.csv\""), "{body}");

    // An outbox that cannot be opened fails the run (dtexec's 1) and says nothing was queued.
    let bad = dir.path().join("bad.sqlite");
    std::fs::write(&bad, vec![1u8; 4096]).unwrap();
    let out = smtpcm(
        &[
            "run",
            pkg.to_str().unwrap(),
            &format!("--outbox={}", bad.display()),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("nothing was queued"),
        "{}",
        text(&out.stderr)
    );
}

/// Peak RSS in MiB of `smtpcm ARGS`, measured by GNU time (`None` when it is missing).
fn peak_rss_mib(args: &[&str]) -> Option<(std::process::Output, u64)> {
    if !std::path::Path::new("/usr/bin/time").exists() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI=true but /usr/bin/time is missing (apt-get install time)"
        );
        eprintln!("skipped: /usr/bin/time not installed (Debian package time)");
        return None;
    }
    let out = Command::new("/usr/bin/time")
        .args(["-f", "maxrss_kib=%M", BIN])
        .args(args)
        .output()
        .unwrap();
    let err = text(&out.stderr);
    let kib: u64 = err
        .lines()
        .find_map(|l| l.strip_prefix("maxrss_kib="))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    Some((out, kib / 1024))
}

/// A 256 MiB attachment is queued and delivered at bounded memory: it is rendered through
/// a temporary file, stored and read back in 1 MiB chunks, never held whole.
#[test]
fn a_large_attachment_is_queued_and_delivered_at_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let Some(sink) = PostfixSink::start(24822, &dir.path().join("sink")) else {
        return;
    };
    let big = dir.path().join("big.bin");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&big).unwrap();
        let block = vec![0xA5u8; 1 << 20];
        for _ in 0..256 {
            f.write_all(&block).unwrap();
        }
    }
    let db = dir.path().join("o.sqlite");
    let db = db.to_str().unwrap();
    let conn = connection(sink.port);
    let Some((out, rss)) = peak_rss_mib(&[
        "send",
        "-c",
        &conn,
        "--from",
        "etl@x.test",
        "--to",
        "ops@x.test",
        "--subject",
        "big",
        "--body",
        "see attachment",
        "--attach",
        big.to_str().unwrap(),
        "--outbox",
        db,
    ]) else {
        return;
    };
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    eprintln!("enqueue of 256 MiB: peak RSS {rss} MiB");
    assert!(rss < 64, "enqueue peak RSS {rss} MiB");
    std::fs::remove_file(&big).unwrap();
    let (out, rss) = peak_rss_mib(&["outbox", "worker", "--db", db, "--until-empty"]).unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    eprintln!("delivery of 256 MiB: peak RSS {rss} MiB");
    assert!(rss < 64, "worker peak RSS {rss} MiB");
    let got = sink.message_ids();
    assert_eq!(got.len(), 1, "{got:?}");
    let file = walk(&sink.dir).pop().unwrap();
    // base64 of 256 MiB is about 346 MiB; the dump holds all of it.
    assert!(std::fs::metadata(file).unwrap().len() > 340 << 20);
}
