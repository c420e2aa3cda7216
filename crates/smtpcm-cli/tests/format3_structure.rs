//! Structural edits of a format-3 (SSIS 2008) package: an SMTP connection manager and a Send
//! Mail task added in the shape SSIS 2008 writes, seen by the library and by `smtpcm inspect`,
//! every other byte unchanged; deleting them again restores the file byte for byte.

use std::path::{Path, PathBuf};
use std::process::Command;

use smtpcm::dtsx;

const F2: &str = "avgrishin__Dts2008__RepInvDecl.dtsx";

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/dtsx");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("corpus not found at ../shared/corpus/dtsx and CI=true");
    }
    eprintln!("skipped: ../shared not found");
    None
}

fn inspect(path: &Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_smtpcm"))
        .args(["inspect", "--json"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v[0]["report"].clone()
}

#[test]
fn format_3_package_gets_a_connection_manager_and_a_task_and_loses_them_again() {
    let Some(dir) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("RepInvDecl.dtsx");
    std::fs::copy(dir.join(F2), &path).unwrap();
    let original = std::fs::read_to_string(&path).unwrap();
    let before = inspect(&path);
    let tasks_before = before["tasks"].as_array().unwrap().len();

    let mut pkg = dtsx::load_package(&path).unwrap();
    assert_eq!(pkg.format_version, 3);
    let cm = pkg.connections.add("SMTP");
    cm.name = "Relay".into();
    cm.connection_string =
        "SmtpServer=relay.example.com;UseWindowsAuthentication=False;EnableSsl=True;".into();
    let cm_id = cm.dtsid.clone();
    let task = pkg.add_send_mail_task(None, "Notify ops").unwrap();
    let task_id = task.dtsid.clone();
    let d = task.send_mail_mut().unwrap();
    d.smtp_server_ref = cm_id.clone();
    d.from = "etl@example.com".into();
    d.to = "ops@example.com".into();
    d.subject = "Declaration & check".into();
    d.message_source = "Line 1\nLine 2".into();
    d.attachments = vec![r"c:\tmp\report.xlsx".into()];
    pkg.save(&path).unwrap();

    // The library reads them back.
    let saved = std::fs::read_to_string(&path).unwrap();
    let again = dtsx::load_package(&path).unwrap();
    let c = again
        .connection(&cm_id)
        .expect("the new connection manager");
    assert_eq!(c.name, "Relay");
    assert_eq!(
        c.connection_string,
        "SmtpServer=relay.example.com;UseWindowsAuthentication=False;EnableSsl=True;"
    );
    let all = again.all_executables();
    let t = all
        .iter()
        .find(|e| e.dtsid == task_id)
        .expect("the new task");
    assert_eq!(t.name, "Notify ops");
    assert_eq!(t.path, "Package\\Notify ops");
    let data = t.send_mail().unwrap();
    assert_eq!(data.smtp_server_ref, cm_id);
    assert_eq!(data.to, "ops@example.com");
    assert_eq!(data.subject, "Declaration & check");
    assert_eq!(data.message_source, "Line 1\nLine 2");
    assert_eq!(data.attachments, [r"c:\tmp\report.xlsx"]);
    // The 2008 shape: property elements, the 2008 task type, every Send Mail attribute,
    // attachments as children, no 2012+ wrappers; each element on its own line.
    let cm_xml = format!(
        "\n<DTS:ConnectionManager>\n<DTS:Property DTS:Name=\"DelayValidation\">0</DTS:Property>\n<DTS:Property DTS:Name=\"ObjectName\">Relay</DTS:Property>\n<DTS:Property DTS:Name=\"DTSID\">{cm_id}</DTS:Property>\n<DTS:Property DTS:Name=\"Description\"></DTS:Property>\n<DTS:Property DTS:Name=\"CreationName\">SMTP</DTS:Property><DTS:ObjectData><SmtpConnectionManager ConnectionString=\"SmtpServer=relay.example.com;UseWindowsAuthentication=False;EnableSsl=True;\"/></DTS:ObjectData></DTS:ConnectionManager>"
    );
    let ty = "Microsoft.SqlServer.Dts.Tasks.SendMailTask.SendMailTask, Microsoft.SqlServer.SendMailTask, Version=10.0.0.0, Culture=neutral, PublicKeyToken=89845dcd8080cc91";
    let task_xml = format!(
        "\n<DTS:Executable DTS:ExecutableType=\"{ty}\">\n<DTS:Property DTS:Name=\"ExecutionLocation\">0</DTS:Property>\n<DTS:Property DTS:Name=\"ExecutionAddress\"></DTS:Property>\n<DTS:Property DTS:Name=\"TaskContact\">Send Mail Task; Microsoft Corporation; Microsoft SQL Server 2008; © 2007 Microsoft Corporation; All Rights Reserved;http://www.microsoft.com/sql/support/default.asp;1</DTS:Property>\n<DTS:Property DTS:Name=\"ForceExecValue\">0</DTS:Property>\n<DTS:Property DTS:Name=\"ExecValue\" DTS:DataType=\"3\">0</DTS:Property>\n<DTS:Property DTS:Name=\"ForceExecutionResult\">-1</DTS:Property>\n<DTS:Property DTS:Name=\"Disabled\">0</DTS:Property>\n<DTS:Property DTS:Name=\"FailPackageOnFailure\">0</DTS:Property>\n<DTS:Property DTS:Name=\"FailParentOnFailure\">0</DTS:Property>\n<DTS:Property DTS:Name=\"MaxErrorCount\">1</DTS:Property>\n<DTS:Property DTS:Name=\"ISOLevel\">1048576</DTS:Property>\n<DTS:Property DTS:Name=\"LocaleID\">-1</DTS:Property>\n<DTS:Property DTS:Name=\"TransactionOption\">1</DTS:Property>\n<DTS:Property DTS:Name=\"DelayValidation\">0</DTS:Property>\n<DTS:LoggingOptions>\n<DTS:Property DTS:Name=\"LoggingMode\">0</DTS:Property>\n<DTS:Property DTS:Name=\"FilterKind\">1</DTS:Property>\n<DTS:Property DTS:Name=\"EventFilter\" DTS:DataType=\"8\"></DTS:Property></DTS:LoggingOptions>\n<DTS:Property DTS:Name=\"ObjectName\">Notify ops</DTS:Property>\n<DTS:Property DTS:Name=\"DTSID\">{task_id}</DTS:Property>\n<DTS:Property DTS:Name=\"Description\">Send Mail Task</DTS:Property>\n<DTS:Property DTS:Name=\"CreationName\">{ty}</DTS:Property>\n<DTS:Property DTS:Name=\"DisableEventHandlers\">0</DTS:Property><DTS:ObjectData><SendMailTask:SendMailTaskData SendMailTask:SMTPServer=\"{cm_id}\" SendMailTask:From=\"etl@example.com\" SendMailTask:To=\"ops@example.com\" SendMailTask:CC=\"\" SendMailTask:BCC=\"\" SendMailTask:Subject=\"Declaration &amp; check\" SendMailTask:Priority=\"Normal\" SendMailTask:MessageSourceType=\"DirectInput\" SendMailTask:MessageSource=\"Line 1&#xA;Line 2\" xmlns:SendMailTask=\"www.microsoft.com/sqlserver/dts/tasks/sendmailtask\"><SendMailTask:Attachments SendMailTask:FileName=\"c:\\tmp\\report.xlsx\"/></SendMailTask:SendMailTaskData></DTS:ObjectData></DTS:Executable>"
    );
    assert_eq!(saved.matches(&cm_xml).count(), 1, "{saved}");
    assert_eq!(saved.matches(&task_xml).count(), 1, "{saved}");
    assert!(!saved.contains("<DTS:Executables>") && !saved.contains("<DTS:ConnectionManagers>"));
    // Only those two elements were added: without them the file is the original.
    let rest = saved.replacen(&cm_xml, "", 1).replacen(&task_xml, "", 1);
    assert_eq!(rest, original, "every other byte is unchanged");
    // The connection manager follows the last one, the task the last task of the package.
    let cm_at = saved.find(&cm_xml).unwrap();
    assert!(saved[..cm_at].ends_with("</DTS:ConnectionManager>"));
    assert!(saved[cm_at + cm_xml.len()..].starts_with("\n<DTS:Property"));
    let task_at = saved.find(&task_xml).unwrap();
    assert!(saved[..task_at].ends_with("</DTS:Executable>"));
    assert!(saved[task_at + task_xml.len()..].starts_with("\n<DTS:PrecedenceConstraint"));

    // `smtpcm inspect` shows them.
    let report = inspect(&path);
    let tasks = report["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), tasks_before + 1, "{report}");
    let new_task = tasks
        .iter()
        .find(|t| t["path"] == "Package\\Notify ops")
        .expect("inspect lists the new task");
    assert_eq!(new_task["to"], "ops@example.com", "{new_task}");
    assert_eq!(new_task["smtp_connection"], "Relay", "{new_task}");
    let new_cm = report["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Relay")
        .expect("inspect lists the new connection manager");
    assert_eq!(new_cm["smtp_server"], "relay.example.com", "{new_cm}");
    assert_eq!(new_cm["enable_ssl"], true, "{new_cm}");

    // Deleting both restores the original bytes.
    let mut pkg = dtsx::load_package(&path).unwrap();
    pkg.remove_executable(&task_id).unwrap();
    assert!(pkg.connections.remove(&cm_id).is_some());
    pkg.save(&path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), original);
}

#[test]
fn format_3_tasks_are_deleted_unless_a_precedence_constraint_names_them() {
    let Some(dir) = corpus() else { return };
    let bytes = std::fs::read(dir.join(F2)).unwrap();
    let pkg = dtsx::load_bytes(bytes, "f2.dtsx").unwrap();
    let named: Vec<usize> = pkg
        .precedence_constraints
        .iter()
        .flat_map(|c| [c.from, c.to])
        .collect();
    assert!(!named.is_empty());
    let mut refused = 0;
    for (i, e) in pkg.executables.iter().enumerate() {
        let mut copy = pkg.clone();
        match copy.remove_executable(&e.dtsid) {
            Err(err) => {
                assert!(named.contains(&i), "{}: {err}", e.name);
                assert!(err.contains("precedence constraints"), "{err}");
                refused += 1;
            }
            Ok(()) => {
                assert!(!named.contains(&i), "{} is named by a constraint", e.name);
                let out = copy.to_bytes().unwrap();
                let again = dtsx::load_bytes(out, "f2.dtsx").unwrap();
                assert!(again.executables.iter().all(|x| x.dtsid != e.dtsid));
                assert_eq!(again.executables.len(), pkg.executables.len() - 1);
                assert_eq!(
                    again.precedence_constraints.len(),
                    pkg.precedence_constraints.len()
                );
            }
        }
    }
    assert!(
        refused > 0,
        "some task of this package is named by a constraint"
    );
}
