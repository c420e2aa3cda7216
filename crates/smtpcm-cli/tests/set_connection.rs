//! `smtpcm set-connection` as one unit over many files: nothing is written unless every file
//! can be, saves are atomic, and the report says exactly what changed.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use smtpcm::package::Package;

const BIN: &str = env!("CARGO_BIN_EXE_smtpcm");
const OLD: &str = "SmtpServer=old-relay;UseWindowsAuthentication=False;EnableSsl=False;";
const NEW: &str = "SmtpServer=new-relay;UseWindowsAuthentication=False;EnableSsl=True;";

/// A package with one SMTP connection manager named `Mail` pointing at `old-relay`.
fn package(dir: &Path, file: &str) -> PathBuf {
    let mut pkg = Package::new("P");
    let cm = pkg.connections.add("SMTP");
    cm.name = "Mail".into();
    cm.connection_string = OLD.into();
    let bytes = pkg.to_bytes().unwrap();
    let path = dir.join(file);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn set_connection(files: &[&Path], extra: &[&str]) -> Output {
    Command::new(BIN)
        .arg("set-connection")
        .args(files)
        .args(extra)
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn temp_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".smtpcm-tmp"))
        .collect()
}

#[test]
fn one_broken_file_means_no_file_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let good = package(dir.path(), "good.dtsx");
    let broken = dir.path().join("broken.dtsx");
    std::fs::write(&broken, "<not xml").unwrap();
    let before = std::fs::read(&good).unwrap();
    let out = set_connection(&[&good, &broken], &["--name", "Mail", "--conn", NEW]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("broken.dtsx"), "{stderr}");
    assert!(stderr.contains("no file was written"), "{stderr}");
    assert!(
        !stdout.contains("->"),
        "nothing is reported as changed: {stdout}"
    );
    assert_eq!(std::fs::read(&good).unwrap(), before);
    assert_eq!(std::fs::read(&broken).unwrap(), b"<not xml");
}

#[test]
fn changes_are_reported_per_file_and_unchanged_files_are_not_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let a = package(dir.path(), "a.dtsx");
    let b = package(dir.path(), "b.dtsx");
    let other = dir.path().join("other.dtsx");
    std::fs::write(&other, Package::new("Other").to_bytes().unwrap()).unwrap();
    // b already has the new string.
    let out = set_connection(&[&b], &["--name", "mail", "--conn", NEW]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let b_inode = std::fs::metadata(&b).unwrap().ino();
    let b_bytes = std::fs::read(&b).unwrap();
    std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o640)).unwrap();

    let out = set_connection(&[&a, &b, &other], &["--name", "Mail", "--conn", NEW]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("a.dtsx: \"Mail\": {OLD} -> {NEW}")),
        "{stdout}"
    );
    assert!(stdout.contains("b.dtsx: \"Mail\": unchanged"), "{stdout}");
    assert!(
        stdout.contains("other.dtsx: no connection manager named \"Mail\""),
        "{stdout}"
    );
    assert!(
        String::from_utf8(std::fs::read(&a).unwrap())
            .unwrap()
            .contains(NEW)
    );
    assert_eq!(
        std::fs::metadata(&a).unwrap().permissions().mode() & 0o777,
        0o640,
        "the file's mode is kept"
    );
    assert_eq!(
        std::fs::metadata(&b).unwrap().ino(),
        b_inode,
        "b not rewritten"
    );
    assert_eq!(std::fs::read(&b).unwrap(), b_bytes);
    assert!(temp_files(dir.path()).is_empty());
}

#[test]
fn dry_run_prints_the_change_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let a = package(dir.path(), "a.dtsx");
    let before = std::fs::read(&a).unwrap();
    let out = set_connection(&[&a], &["--name", "Mail", "--conn", NEW, "--dry-run"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("{OLD} -> {NEW} (dry run: would change)")),
        "{stdout}"
    );
    assert!(stdout.contains("nothing was written"), "{stdout}");
    assert_eq!(std::fs::read(&a).unwrap(), before);
}

#[test]
fn a_name_that_matches_nothing_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let a = package(dir.path(), "a.dtsx");
    let before = std::fs::read(&a).unwrap();
    let out = set_connection(&[&a], &["--name", "Typo", "--conn", NEW]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("no connection manager named \"Typo\" in any of the 1 file(s)"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&a).unwrap(), before);
}

#[test]
fn two_managers_with_the_same_name_are_an_error_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let mut pkg = Package::new("P");
    let first = pkg.connections.add("SMTP").dtsid.clone();
    let cm = pkg.connections.add("SMTP");
    let second = cm.dtsid.clone();
    cm.name = "smtp connection manager".into();
    let path = dir.path().join("dup.dtsx");
    std::fs::write(&path, pkg.to_bytes().unwrap()).unwrap();
    let before = std::fs::read(&path).unwrap();
    let out = set_connection(
        &[&path],
        &["--name", "SMTP Connection Manager", "--conn", NEW],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("2 connection managers match"), "{stderr}");
    assert!(
        stderr.contains(&first) && stderr.contains(&second),
        "{stderr}"
    );
    assert!(stderr.contains("#1 ") && stderr.contains("#2 "), "{stderr}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn conn_with_characters_xml_cannot_hold_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = package(dir.path(), "a.dtsx");
    let before = std::fs::read(&a).unwrap();
    for (bad, code) in [
        ("SmtpServer=a\u{1}b;", "U+0001"),
        ("SmtpServer=h;X=\u{FFFE};", "U+FFFE"),
        ("SmtpServer=h;X=\u{1B}[31m;", "U+001B"),
    ] {
        let out = set_connection(&[&a], &["--name", "Mail", "--conn", bad]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {stdout}{stderr}");
        assert!(
            stderr.contains(code) && stderr.contains("cannot be stored in an XML file"),
            "{stderr}"
        );
    }
    assert_eq!(std::fs::read(&a).unwrap(), before);
}

#[test]
fn writes_through_a_symlink_and_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let real = package(dir.path(), "real.dtsx");
    let link = dir.path().join("link.dtsx");
    std::os::unix::fs::symlink("real.dtsx", &link).unwrap();
    let out = set_connection(&[&link], &["--name", "Mail", "--conn", NEW]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        String::from_utf8(std::fs::read(&real).unwrap())
            .unwrap()
            .contains(NEW)
    );
}

/// A file size limit (RLIMIT_FSIZE, set with `ulimit -f` in a shell that then execs the tool,
/// with SIGXFSZ ignored so the write fails with EFBIG instead of killing the process) stands
/// in for a full disk: the original files stay intact and nothing claims otherwise.
#[test]
fn a_write_error_leaves_every_original_intact() {
    let dir = tempfile::tempdir().unwrap();
    let small = package(dir.path(), "a-small.dtsx");
    // A package bigger than the limit: its new content cannot be written.
    let mut pkg = Package::new("P");
    let cm = pkg.connections.add("SMTP");
    cm.name = "Mail".into();
    cm.connection_string = OLD.into();
    cm.description = "x".repeat(256 * 1024);
    let big = dir.path().join("b-big.dtsx");
    std::fs::write(&big, pkg.to_bytes().unwrap()).unwrap();
    let small_before = std::fs::read(&small).unwrap();
    let big_before = std::fs::read(&big).unwrap();
    let big_inode = std::fs::metadata(&big).unwrap().ino();
    let out = Command::new("sh")
        .arg("-c")
        // 64 blocks: 32 KiB in dash, 64 KiB in bash; either way far below the big file.
        .arg("trap '' XFSZ; ulimit -f 64 && exec \"$@\"")
        .arg("sh")
        .arg(BIN)
        .arg("set-connection")
        .arg(&small)
        .arg(&big)
        .args(["--name", "Mail", "--conn", NEW])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("b-big.dtsx"), "{stderr}");
    assert!(
        stderr.contains("File too large") || stderr.contains("os error 27"),
        "{stderr}"
    );
    assert!(stdout.contains("b-big.dtsx: FAILED"), "{stdout}");
    assert!(
        stdout.contains("a-small.dtsx: not written, left untouched"),
        "the small file, though writable, is not written alone: {stdout}"
    );
    assert!(!stdout.contains("->"), "{stdout}");
    assert_eq!(std::fs::read(&small).unwrap(), small_before);
    assert_eq!(std::fs::read(&big).unwrap(), big_before);
    assert_eq!(std::fs::metadata(&big).unwrap().ino(), big_inode);
    assert!(
        temp_files(dir.path()).is_empty(),
        "temporary files are removed"
    );
}

/// Issue 9 point 11: a `Password=` in a package's connection string is never printed by
/// `inspect` (human or JSON) or `set-connection`, and the file keeps what the user wrote.
#[test]
fn secrets_in_packages_are_redacted_in_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let mut pkg = Package::new("P");
    let cm = pkg.connections.add("SMTP");
    cm.name = "Mail".into();
    cm.connection_string = "SmtpServer=old-relay;Password=hunter2;".into();
    let other = pkg.connections.add("SMTP (KingswaySoft)");
    other.connection_string = "Server=x;User=u;ClientSecret='s3;cr3t';AccessToken=tok3n".into();
    let path = dir.path().join("secret.dtsx");
    std::fs::write(&path, pkg.to_bytes().unwrap()).unwrap();
    let secrets = ["hunter2", "s3;cr3t", "cr3t", "tok3n"];
    let all_output = |o: &Output| {
        let (a, b) = text(o);
        for s in secrets {
            assert!(!a.contains(s) && !b.contains(s), "{s} printed:\n{a}\n{b}");
        }
        a
    };
    let human = Command::new(BIN)
        .arg("inspect")
        .arg(&path)
        .output()
        .unwrap();
    let stdout = all_output(&human);
    assert!(stdout.contains("Password=***"), "{stdout}");
    assert!(
        stdout.contains("ClientSecret=***;AccessToken=***"),
        "{stdout}"
    );
    let json = Command::new(BIN)
        .arg("inspect")
        .arg(&path)
        .arg("--json")
        .output()
        .unwrap();
    let stdout = all_output(&json);
    assert!(stdout.contains("Password=***"), "{stdout}");

    let out = set_connection(&[&path], &["--name", "Mail", "--conn", NEW, "--dry-run"]);
    let stdout = all_output(&out);
    assert!(stdout.contains("Password=***; ->"), "{stdout}");
    let out = set_connection(&[&path], &["--name", "Mail", "--conn", NEW]);
    let stdout = all_output(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let saved = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
    assert!(!saved.contains("hunter2"), "the edited string was replaced");
    assert!(
        saved.contains("ClientSecret='s3;cr3t';AccessToken=tok3n"),
        "the other manager's string is kept as written"
    );
}

const CONMGR: &str = "\u{feff}<?xml version=\"1.0\"?>\r\n<DTS:ConnectionManager xmlns:DTS=\"www.microsoft.com/SqlServer/Dts\"\r\n  DTS:ObjectName=\"SMTP\"\r\n  DTS:DTSID=\"{DF17110E-14D9-4F59-AAC4-AFB7AD480629}\"\r\n  DTS:CreationName=\"SMTP\">\r\n  <DTS:ObjectData>\r\n    <SmtpConnectionManager\r\n      ConnectionString=\"SmtpServer=10.1.100.85;UseWindowsAuthentication=False;EnableSsl=False;\" />\r\n  </DTS:ObjectData>\r\n</DTS:ConnectionManager>";

/// Issue 9 point 9: a `.conmgr` is accepted on its own, outside a project folder.
#[test]
fn a_conmgr_on_its_own_can_be_inspected_and_edited() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("SMTP.conmgr");
    std::fs::write(&path, CONMGR).unwrap();

    let out = Command::new(BIN)
        .arg("inspect")
        .arg(&path)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("SMTP.conmgr: project connection manager"),
        "{stdout}"
    );
    assert!(stdout.contains("connection \"SMTP\" {DF17110E"), "{stdout}");
    assert!(
        stdout.contains("ConnectionString: SmtpServer=10.1.100.85;"),
        "{stdout}"
    );

    let out = Command::new(BIN)
        .arg("inspect")
        .arg(&path)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["connection"]["smtp_server"], "10.1.100.85");
    assert_eq!(v[0]["connection"]["scope"], "project");

    let out = set_connection(&[&path], &["--name", "smtp", "--conn", NEW]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("SMTP.conmgr: \"SMTP\": SmtpServer=10.1.100.85;"),
        "{stdout}"
    );
    let expected = CONMGR.replace(
        "SmtpServer=10.1.100.85;UseWindowsAuthentication=False;EnableSsl=False;",
        NEW,
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
}
