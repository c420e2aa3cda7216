//! `smtpcm run`, `inspect` and `set-connection` as a user runs them.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_smtpcm");

fn corpus_file(name: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/dtsx");
    let dir = if dir.is_dir() {
        dir
    } else {
        Path::new("../shared/corpus/dtsx").to_path_buf()
    };
    if dir.is_dir() {
        return Some(dir.join(name));
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("corpus not found at ../shared/corpus/dtsx and CI=true");
    }
    eprintln!("skipped: ../shared not found");
    None
}

const F13: &str =
    "roanokecollege__ODS-PopulateDatamartStaging_Sandbox__PeopleSearchDirectoryRestore.dtsx";

#[test]
fn set_connection_changes_only_the_attribute_bytes_and_reports_per_file() {
    let Some(src) = corpus_file(F13) else { return };
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("p.dtsx");
    std::fs::copy(&src, &pkg).unwrap();
    let before = std::fs::read(&pkg).unwrap();
    let old = "SmtpServer=199.111.154.146;UseWindowsAuthentication=True;EnableSsl=False;";
    let new = "SmtpServer=relay.example;UseWindowsAuthentication=False;EnableSsl=True;";
    let out = Command::new(BIN)
        .args(["set-connection"])
        .arg(&pkg)
        .args(["--name", "SMTP Connection Manager", "--conn", new])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains(&format!("{old} -> {new}")), "{stdout}");
    let after = std::fs::read(&pkg).unwrap();
    let at = before
        .windows(old.len())
        .position(|w| w == old.as_bytes())
        .unwrap();
    let mut expected = before[..at].to_vec();
    expected.extend_from_slice(new.as_bytes());
    expected.extend_from_slice(&before[at + old.len()..]);
    assert_eq!(after, expected, "only the connection string's bytes change");
}

#[test]
fn inspect_json_lists_connections_and_tasks() {
    let Some(src) = corpus_file(F13) else { return };
    let out = Command::new(BIN)
        .arg("inspect")
        .arg(&src)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let report = &v[0]["report"];
    assert_eq!(report["format_version"], 8);
    let cm = &report["connections"][0];
    assert_eq!(cm["name"], "SMTP Connection Manager");
    assert_eq!(cm["smtp_server"], "199.111.154.146");
    assert_eq!(cm["use_windows_authentication"], true);
    let task = &report["tasks"][0];
    assert_eq!(task["smtp_connection"], "SMTP Connection Manager");
    assert!(task["warnings"].as_array().unwrap().is_empty());
    for key in [
        "path",
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "priority",
        "message_source",
        "attachments",
    ] {
        assert!(task.get(key).is_some(), "task has {key}");
    }
}

#[test]
fn run_accepts_dtexec_options_and_returns_dtexec_exit_codes() {
    let Some(src) = corpus_file(F13) else { return };
    // /VALIDATE with a dtexec-style /Conn: checks and sends nothing; the SQL task is skipped.
    let out = Command::new(BIN)
        .args(["run", "/F"])
        .arg(&src)
        .args([
            "/CONN",
            "SMTP Connection Manager;SmtpServer=127.0.0.1;Port=9;",
            "-va",
            "--skip-unsupported",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("DTSER_SUCCESS (0)"), "{stdout}");
    // Without --skip-unsupported the SQL task blocks the run.
    let out = Command::new(BIN)
        .args(["run"])
        .arg(&src)
        .arg("/Validate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    // A malformed /Conn is a command-line error.
    let out = Command::new(BIN)
        .args(["run"])
        .arg(&src)
        .args(["/Conn", "no-separator"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6));
    // A missing package.
    let out = Command::new(BIN)
        .args(["run", "/nonexistent/p.dtsx"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
}

/// `run /dev/zero` and `inspect /dev/zero` read a capped amount and fail with a clear error
/// instead of reading until memory runs out.
#[test]
fn dev_zero_is_refused_by_size_not_by_running_out_of_memory() {
    let out = Command::new(BIN)
        .args(["inspect", "/dev/zero"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("/dev/zero: larger than 268435456 bytes")
            && stderr.contains("SMTPCM_MAX_FILE_BYTES"),
        "{stderr}"
    );
    // The cap is configurable; a small one keeps this second process cheap.
    let out = Command::new(BIN)
        .args(["run", "/dev/zero"])
        .env("SMTPCM_MAX_FILE_BYTES", "65536")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.status.code(),
        Some(5),
        "dtexec's 'could not load': {text}"
    );
    assert!(
        text.contains("/dev/zero: larger than 65536 bytes"),
        "{text}"
    );
}
