//! Issue 8 point 4: one table of Send Mail properties, used by `/Set` (package paths),
//! property expressions at run time, and `inspect`. The three agree on the property set, on
//! how a value parses (through the task's own `FromStr` impls) and on the errors.

use std::time::Duration;

use smtpcm::dtsx;
use smtpcm::package::{Package, PropertyType, SEND_MAIL_PROPERTIES, send_mail_property};
use smtpcm::run::{self, ExitCode, RunOptions, Runner};
use smtpcm_sink::{Sink, SinkConfig};

const TASK: &str = r"\Package\Send Mail Task";

/// A package with two SMTP connection managers, `Dead` (what the task names) and `Live`,
/// and one Send Mail task with the given property expressions (`(property, expression)`).
fn package(live_port: u16, expressions: &[(&str, &str)]) -> Package {
    let exprs: String = expressions
        .iter()
        .map(|(p, e)| {
            format!(
                r#"<DTS:PropertyExpression DTS:Name="{p}">{}</DTS:PropertyExpression>"#,
                e.replace('&', "&amp;")
                    .replace('"', "&quot;")
                    .replace('<', "&lt;")
            )
        })
        .collect();
    let xml = format!(
        r#"<?xml version="1.0"?>
<DTS:Executable xmlns:DTS="www.microsoft.com/SqlServer/Dts" DTS:refId="Package" DTS:CreationName="Microsoft.Package" DTS:DTSID="{{AAAAAAAA-0000-0000-0000-000000000001}}" DTS:ExecutableType="Microsoft.Package" DTS:ObjectName="Props">
  <DTS:Property DTS:Name="PackageFormatVersion">8</DTS:Property>
  <DTS:ConnectionManagers>
    <DTS:ConnectionManager DTS:refId="Package.ConnectionManagers[Dead]" DTS:CreationName="SMTP" DTS:DTSID="{{11111111-0000-0000-0000-000000000001}}" DTS:ObjectName="Dead">
      <DTS:ObjectData><SmtpConnectionManager ConnectionString="SmtpServer=127.0.0.1;Port=9;UseWindowsAuthentication=False;EnableSsl=False;" /></DTS:ObjectData>
    </DTS:ConnectionManager>
    <DTS:ConnectionManager DTS:refId="Package.ConnectionManagers[Live]" DTS:CreationName="SMTP" DTS:DTSID="{{11111111-0000-0000-0000-000000000002}}" DTS:ObjectName="Live">
      <DTS:ObjectData><SmtpConnectionManager ConnectionString="SmtpServer=127.0.0.1;Port={live_port};UseWindowsAuthentication=False;EnableSsl=False;" /></DTS:ObjectData>
    </DTS:ConnectionManager>
  </DTS:ConnectionManagers>
  <DTS:Executables>
    <DTS:Executable DTS:refId="Package\Send Mail Task" DTS:CreationName="Microsoft.SendMailTask" DTS:DTSID="{{22222222-0000-0000-0000-000000000001}}" DTS:ExecutableType="Microsoft.SendMailTask" DTS:ObjectName="Send Mail Task">
      {exprs}
      <DTS:ObjectData>
        <SendMailTask:SendMailTaskData SendMailTask:SMTPServer="{{11111111-0000-0000-0000-000000000001}}" SendMailTask:From="etl@corp.example" SendMailTask:To="ops@corp.example" SendMailTask:Subject="stored" SendMailTask:MessageSource="body" xmlns:SendMailTask="www.microsoft.com/sqlserver/dts/tasks/sendmailtask" />
      </DTS:ObjectData>
    </DTS:Executable>
  </DTS:Executables>
</DTS:Executable>"#
    );
    dtsx::load_str(&xml, "props.dtsx").expect("test package loads")
}

fn path(property: &str) -> String {
    format!("{TASK}.Properties[{property}]")
}

async fn validate(pkg: Package) -> run::RunReport {
    let options = RunOptions {
        validate_only: true,
        ..RunOptions::default()
    };
    Runner::new(pkg, options).run().await
}

fn sample(ty: PropertyType) -> (&'static str, &'static str) {
    // (value given, value stored)
    match ty {
        PropertyType::Text => ("x@corp.example", "x@corp.example"),
        PropertyType::Connection => ("Live", "Live"),
        PropertyType::MessageSourceType => ("0", "DirectInput"),
        PropertyType::Priority => ("5", "Low"),
        PropertyType::Attachments => ("a.txt||b.txt|", "a.txt|b.txt"),
    }
}

/// Every property and alias of the table is reachable through `/Set` and through a property
/// expression (seen by `inspect`), and both store the same canonical value.
#[test]
fn set_and_expressions_cover_the_same_properties_with_the_same_values() {
    for prop in &SEND_MAIL_PROPERTIES {
        let (given, stored) = sample(prop.ty);
        for name in std::iter::once(prop.name).chain(prop.aliases.iter().copied()) {
            let mut pkg = package(9, &[]);
            pkg.set_property(&path(name), given)
                .unwrap_or_else(|e| panic!("/Set {name}: {e}"));
            assert_eq!(
                pkg.get_property(&path(name)).unwrap(),
                stored,
                "/Set {name}"
            );
            let expr = format!("\"{given}\"");
            let pkg = package(9, &[(name, &expr)]);
            let report = run::inspect(&pkg);
            let task = &report.tasks[0];
            let seen = match prop.name {
                "SmtpConnection" => task.smtp_connection.clone().unwrap_or_default(),
                "FromLine" => task.from.clone(),
                "ToLine" => task.to.clone(),
                "CCLine" => task.cc.clone(),
                "BCCLine" => task.bcc.clone(),
                "Subject" => task.subject.clone(),
                "MessageSourceType" => task.message_source_type.clone(),
                "MessageSource" => task.message_source.clone(),
                "Priority" => task.priority.clone(),
                "FileAttachments" => task.attachments.join("|"),
                other => panic!("property {other} is not covered by this test"),
            };
            assert_eq!(seen, stored, "expression on {name}: {:?}", task.warnings);
            assert!(task.warnings.is_empty(), "{name}: {:?}", task.warnings);
        }
    }
    assert!(send_mail_property("Disable").is_none());
}

/// `/Set …[Priority];1` is High, as an expression yielding "1" is; a bad value gives the same
/// reason through `/Set`, through `inspect` and through a run.
#[tokio::test]
async fn priority_parses_and_fails_the_same_way_everywhere() {
    let mut pkg = package(9, &[]);
    pkg.set_property(&path("Priority"), "1").unwrap();
    assert_eq!(pkg.get_property(&path("Priority")).unwrap(), "High");
    let inspected = run::inspect(&package(9, &[("Priority", "\"1\"")]));
    assert_eq!(inspected.tasks[0].priority, "High");

    let reason = "unknown priority \"urgent\": expected High, Normal, Low, 1, 3 or 5";
    let set_err = package(9, &[])
        .set_property(&path("Priority"), "urgent")
        .unwrap_err()
        .to_string();
    assert!(set_err.contains(reason), "{set_err}");
    let bad = || package(9, &[("Priority", "\"urgent\"")]);
    let inspected = run::inspect(&bad());
    assert!(
        inspected.tasks[0]
            .warnings
            .iter()
            .any(|w| w.contains(reason)),
        "{:?}",
        inspected.tasks[0].warnings
    );
    let report = validate(bad()).await;
    assert_eq!(report.exit_code, ExitCode::Failure);
    let errors: Vec<&str> = report
        .executables
        .iter()
        .flat_map(|e| e.errors.iter().map(|x| x.message.as_str()))
        .collect();
    assert!(errors.iter().any(|m| m.contains(reason)), "{errors:?}");

    // The same for MessageSourceType, whose FromStr also takes SSIS's numbers.
    let mut pkg = package(9, &[]);
    pkg.set_property(&path("MessageSourceType"), "2").unwrap();
    assert_eq!(
        pkg.get_property(&path("MessageSourceType")).unwrap(),
        "Variable"
    );
    let err = pkg
        .set_property(&path("MessageSourceType"), "Email")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("expected DirectInput, FileConnection or Variable"),
        "{err}"
    );
}

/// An expression on SMTPConnection picks the connection manager, in a run and in `inspect`.
#[tokio::test]
async fn smtp_connection_set_by_expression_is_used_by_run_and_inspect() {
    let mut sink = Sink::start(SinkConfig::default()).await.unwrap();
    let port = sink.local_addr().port();
    let pkg = package(port, &[("SMTPConnection", "\"Live\"")]);
    let inspected = run::inspect(&pkg);
    assert_eq!(inspected.tasks[0].smtp_connection.as_deref(), Some("Live"));
    let report = Runner::new(pkg, RunOptions::default()).run().await;
    assert_eq!(report.exit_code, ExitCode::Success, "{report:?}");
    let got = sink
        .next_message(Duration::from_secs(10))
        .await
        .expect("the message went to the Live connection manager");
    assert_eq!(got.rcpt_to, vec!["ops@corp.example".to_string()]);
    // /Set on the same property does the same.
    let mut pkg = package(port, &[]);
    pkg.set_property(&path("SMTPConnection"), "Live").unwrap();
    let report = Runner::new(pkg, RunOptions::default()).run().await;
    assert_eq!(report.exit_code, ExitCode::Success, "{report:?}");
}

/// A blank FileAttachments (or blank entries in it) means no attachment, wherever it comes from.
#[tokio::test]
async fn blank_file_attachments_mean_no_attachment_everywhere() {
    for expr in ["\"\"", "\"|\"", "\" | \""] {
        let pkg = package(9, &[("FileAttachments", expr)]);
        let inspected = run::inspect(&pkg);
        assert!(
            inspected.tasks[0].attachments.is_empty(),
            "{expr}: {:?}",
            inspected.tasks[0].attachments
        );
        let report = validate(pkg).await;
        assert_eq!(report.exit_code, ExitCode::Success, "{expr}: {report:?}");
        let mut pkg = package(9, &[]);
        pkg.set_property(&path("FileAttachments"), expr.trim_matches('"'))
            .unwrap();
        assert_eq!(pkg.get_property(&path("FileAttachments")).unwrap(), "");
    }
}
