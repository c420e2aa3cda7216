//! `smtpcm run` options as a user meets them (issue 9 point 10): Ctrl-C cancels at once with
//! code 3, a `/Par` value of the wrong type is a command-line error (6) on stderr, a bad value
//! in `Project.params` fails `--validate`, and `--path-root` is a root.

use std::net::TcpListener as StdListener;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_smtpcm");
const COMMAND_LINE_INVALID: &str = "DTExec: The command line is not valid";

/// A package with an Int32 and a Boolean parameter, one SMTP connection manager and one
/// Send Mail task with `attachments` (`|`-separated, may be empty).
fn package(connection_string: &str, attachments: &str) -> String {
    format!(
        r#"<?xml version="1.0"?>
<DTS:Executable xmlns:DTS="www.microsoft.com/SqlServer/Dts"
  DTS:refId="Package"
  DTS:CreationName="Microsoft.Package"
  DTS:DTSID="{{5A468C0B-5CFA-4747-9A38-1A8BC0D5A03D}}"
  DTS:ExecutableType="Microsoft.Package"
  DTS:ObjectName="Options"
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
  <DTS:PackageParameters>
    <DTS:PackageParameter
      DTS:CreationName=""
      DTS:DataType="3"
      DTS:DTSID="{{F5230E65-34AE-463A-9E9A-6499BE18C455}}"
      DTS:ObjectName="Retries">
      <DTS:Property
        DTS:DataType="3"
        DTS:Name="ParameterValue">3</DTS:Property>
    </DTS:PackageParameter>
    <DTS:PackageParameter
      DTS:CreationName=""
      DTS:DataType="11"
      DTS:DTSID="{{F5230E65-34AE-463A-9E9A-6499BE18C456}}"
      DTS:ObjectName="Urgent">
      <DTS:Property
        DTS:DataType="11"
        DTS:Name="ParameterValue">0</DTS:Property>
    </DTS:PackageParameter>
  </DTS:PackageParameters>
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
          SendMailTask:Subject="options"
          SendMailTask:FileAttachments="{attachments}"
          SendMailTask:MessageSource="done" xmlns:SendMailTask="www.microsoft.com/sqlserver/dts/tasks/sendmailtask" />
      </DTS:ObjectData>
    </DTS:Executable>
  </DTS:Executables>
</DTS:Executable>
"#
    )
}

/// A listener nobody answers on, and the connection string that points at it.
fn silent_server() -> (StdListener, String) {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    // Timeout=600000: if Ctrl-C waited for the SMTP timeout, the test would notice.
    let cs = format!(
        "SmtpServer=127.0.0.1;UseWindowsAuthentication=False;EnableSsl=False;Port={};Timeout=600000;",
        listener.local_addr().unwrap().port()
    );
    (listener, cs)
}

fn write_package(dir: &Path, cs: &str, attachments: &str) -> std::path::PathBuf {
    let path = dir.join("Options.dtsx");
    std::fs::write(&path, package(cs, attachments)).unwrap();
    path
}

fn run(args: &[&str], pkg: &Path) -> Output {
    Command::new(BIN)
        .arg("run")
        .arg(pkg)
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// True when nothing connected to `listener` (checked after the child exited).
fn nobody_connected(listener: &StdListener) -> bool {
    listener.set_nonblocking(true).unwrap();
    matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

#[cfg(unix)]
#[tokio::test]
async fn ctrl_c_cancels_a_run_waiting_on_a_silent_server_with_code_3() {
    let dir = tempfile::tempdir().unwrap();
    let (listener, cs) = silent_server();
    let pkg = write_package(dir.path(), &cs, "");
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let child = tokio::process::Command::new(BIN)
        .arg("run")
        .arg(&pkg)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Once the server has the connection, the client is waiting for a greeting that never
    // comes: exactly where it used to sit until the SMTP timeout.
    let (_conn, _) = tokio::time::timeout(Duration::from_secs(60), listener.accept())
        .await
        .expect("smtpcm run never connected")
        .unwrap();
    let pid = child.id().expect("child is running");
    let status = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Generous: a cancel that waited for the 600 s SMTP timeout would blow through it.
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("smtpcm run did not stop after SIGINT")
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "stderr: {stderr}");
    assert!(stderr.contains("canceled"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
}

#[test]
fn par_value_of_the_wrong_type_is_a_command_line_error_and_nothing_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (listener, cs) = silent_server();
    let pkg = write_package(dir.path(), &cs, "");
    for (par, name) in [
        ("$Package::Urgent;maybe", "$Package::Urgent"),
        ("$Package::Retries;forty-two", "$Package::Retries"),
        ("$Package::Retries;", "$Package::Retries"),
        ("Retries(Int32);1.5", "$Package::Retries"),
    ] {
        let out = run(&["/Par", par], &pkg);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(6), "{par}: {stdout}{stderr}");
        assert!(
            stderr.contains(name),
            "{par}: names the parameter: {stderr}"
        );
        assert!(
            stderr.contains("Int32") || stderr.contains("Boolean"),
            "{stderr}"
        );
        assert!(stderr.contains(COMMAND_LINE_INVALID), "{stderr}");
        assert!(
            stdout.is_empty(),
            "{par}: code 6 goes to stderr only: {stdout}"
        );
        assert!(!stderr.contains("DTSER_FAILURE"), "{stderr}");
    }
    // Values that fit are accepted (validate only: nothing is sent).
    let out = run(
        &[
            "/Par",
            "$Package::Urgent;True",
            "/Par",
            "Retries;-7",
            "--validate",
        ],
        &pkg,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(nobody_connected(&listener), "mail went out");
}

#[test]
fn code_6_errors_go_to_stderr_with_a_command_line_final_line() {
    let dir = tempfile::tempdir().unwrap();
    let (_listener, cs) = silent_server();
    let pkg = write_package(dir.path(), &cs, "");
    for args in [
        &["/Conn", "no-separator"][..],
        &["/Conn", "Nope;SmtpServer=x;"][..],
        &["/Set", r"\Package.Variables[User::Missing].Value;1"][..],
    ] {
        let out = run(args, &pkg);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(6), "{args:?}: {stdout}{stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        assert!(
            stderr.trim_end().ends_with(
                "DTExec: The command line is not valid: syntactic or semantic errors in the command line (6)."
            ),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("DTSER_FAILURE"), "{stderr}");
    }
}

fn project_params(value: &str) -> String {
    format!(
        r#"<?xml version="1.0"?>
<SSIS:Parameters xmlns:SSIS="www.microsoft.com/SqlServer/SSIS">
  <SSIS:Parameter
    SSIS:Name="BatchSize">
    <SSIS:Properties>
      <SSIS:Property
        SSIS:Name="ID">{{00000000-0000-0000-0000-000000000001}}</SSIS:Property>
      <SSIS:Property
        SSIS:Name="DataType">9</SSIS:Property>
      <SSIS:Property
        SSIS:Name="Value">{value}</SSIS:Property>
    </SSIS:Properties>
  </SSIS:Parameter>
</SSIS:Parameters>
"#
    )
}

#[test]
fn project_params_value_that_does_not_fit_fails_validate_naming_parameter_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let (listener, cs) = silent_server();
    let pkg = write_package(dir.path(), &cs, "");
    std::fs::write(dir.path().join("Project.params"), project_params("lots")).unwrap();
    for extra in [&["--validate"][..], &[][..]] {
        let mut args = vec!["--project", dir.path().to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = run(&args, &pkg);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
        assert!(
            stdout.contains("Project.params: parameter $Project::BatchSize is Int32"),
            "{stdout}"
        );
        assert!(stdout.contains(r#""lots""#), "{stdout}");
    }
    assert!(nobody_connected(&listener), "mail went out");
    // A /Par with a good value replaces the bad one, and the package validates.
    let out = run(
        &[
            "--project",
            dir.path().to_str().unwrap(),
            "--validate",
            "/Par",
            "$Project::BatchSize;500",
        ],
        &pkg,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn path_root_cannot_be_climbed_out_of() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("ok.txt"), "fine").unwrap();
    std::fs::write(dir.path().join("outside.txt"), "secret").unwrap();
    let (listener, cs) = silent_server();
    let root_arg = root.to_str().unwrap();
    let pkg = write_package(dir.path(), &cs, r"C:\ok.txt");
    let out = run(&["--validate", "--path-root", root_arg], &pkg);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    for attachment in [
        r"C:\..\outside.txt",
        r"..\outside.txt",
        r"C:\a\..\..\outside.txt",
    ] {
        let pkg = write_package(dir.path(), &cs, attachment);
        let out = run(&["--validate", "--path-root", root_arg], &pkg);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{attachment}: {stdout}");
        assert!(stdout.contains("climbs out of the path root"), "{stdout}");
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(dir.path().join("outside.txt"), root.join("link.txt")).unwrap();
        let pkg = write_package(dir.path(), &cs, r"C:\link.txt");
        let out = run(&["--validate", "--path-root", root_arg], &pkg);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{stdout}");
        assert!(stdout.contains("symbolic link"), "{stdout}");
    }
    assert!(nobody_connected(&listener));
}
