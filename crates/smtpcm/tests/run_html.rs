//! Packages: HTML mail settings as task-scoped `smtpcm::` variables, applied by the runner
//! and shown by `inspect`, against a loopback capture server.

use std::time::Duration;

use mail_parser::{MessageParser, MimeHeaders};
use smtpcm::dtsx;
use smtpcm::run::{self, ExitCode, Override, RunOptions, RunReport, Runner};
use smtpcm_sink::{Sink, SinkConfig, SinkHandle};

const CM_ID: &str = "{11111111-2222-3333-4444-555555555555}";

fn var(namespace: &str, name: &str, data_type: u16, value: &str) -> String {
    let id = name
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    format!(
        r#"<DTS:Variable DTS:CreationName="" DTS:DTSID="{{{:08X}-0000-0000-0000-000000000001}}" DTS:Namespace="{namespace}" DTS:ObjectName="{name}"><DTS:VariableValue DTS:DataType="{data_type}">{value}</DTS:VariableValue></DTS:Variable>"#,
        id as u32
    )
}

/// A format-8 package with one Send Mail task carrying `task_vars`; the body is `body`
/// (XML-escaped by the caller) as direct input.
fn package(package_vars: &str, task_vars: &str, subject: &str, body: &str) -> String {
    format!(
        r#"<?xml version="1.0"?>
<DTS:Executable xmlns:DTS="www.microsoft.com/SqlServer/Dts" DTS:refId="Package" DTS:CreationName="Microsoft.Package" DTS:DTSID="{{AAAAAAAA-0000-0000-0000-000000000001}}" DTS:ExecutableType="Microsoft.Package" DTS:ObjectName="Nightly">
  <DTS:Property DTS:Name="PackageFormatVersion">8</DTS:Property>
  <DTS:ConnectionManagers>
    <DTS:ConnectionManager DTS:refId="Package.ConnectionManagers[Mail]" DTS:CreationName="SMTP" DTS:DTSID="{CM_ID}" DTS:ObjectName="Mail">
      <DTS:ObjectData><SmtpConnectionManager ConnectionString="SmtpServer=mail.invalid;UseWindowsAuthentication=False;EnableSsl=False;" /></DTS:ObjectData>
    </DTS:ConnectionManager>
  </DTS:ConnectionManagers>
  <DTS:Variables>{package_vars}</DTS:Variables>
  <DTS:Executables>
    <DTS:Executable DTS:refId="Package\Report" DTS:CreationName="Microsoft.SendMailTask" DTS:DTSID="{{BBBBBBBB-0000-0000-0000-000000000001}}" DTS:ExecutableType="Microsoft.SendMailTask" DTS:ObjectName="Report">
      <DTS:Variables>{task_vars}</DTS:Variables>
      <DTS:ObjectData>
        <SendMailTask:SendMailTaskData SendMailTask:SMTPServer="{CM_ID}" SendMailTask:From="etl@corp.example" SendMailTask:To="ops@corp.example" SendMailTask:Subject="{subject}" SendMailTask:MessageSource="{body}" xmlns:SendMailTask="www.microsoft.com/sqlserver/dts/tasks/sendmailtask" />
      </DTS:ObjectData>
    </DTS:Executable>
  </DTS:Executables>
</DTS:Executable>"#
    )
}

async fn sink() -> SinkHandle {
    Sink::start(SinkConfig {
        starttls: false,
        keep_messages: true,
        ..SinkConfig::default()
    })
    .await
    .expect("sink starts")
}

async fn run_xml(xml: &str, sink: &SinkHandle) -> RunReport {
    let pkg = dtsx::load_str(xml, "test.dtsx").expect("test package loads");
    let mut options = RunOptions::default();
    options.overrides.insert(
        0,
        Override::Conn {
            target: "Mail".into(),
            connection_string: format!(
                "SmtpServer=127.0.0.1;UseWindowsAuthentication=False;EnableSsl=False;Port={};",
                sink.local_addr().port()
            ),
        },
    );
    tokio::time::timeout(Duration::from_secs(60), Runner::new(pkg, options).run())
        .await
        .expect("run finishes")
}

fn errors(report: &RunReport) -> String {
    report
        .executable("Package\\Report")
        .map(|e| {
            e.errors
                .iter()
                .map(|x| x.message.clone())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn smtpcm_variables_make_an_html_template_with_an_inline_image() {
    let dir = tempfile::tempdir().unwrap();
    let logo = dir.path().join("logo.png");
    std::fs::write(&logo, b"\x89PNG\r\n\x1a\nlogo").unwrap();
    let xml = package(
        &var("User", "Region", 8, "EMEA &amp; APAC"),
        &[
            var("smtpcm", "BodyFormat", 8, "Html"),
            var("smtpcm", "Template", 11, "True"),
            var(
                "smtpcm",
                "InlineImages",
                8,
                &format!("logo@corp={}", logo.display()),
            ),
            var("smtpcm", "TextBody", 8, "Loaded for {{ Region }}."),
        ]
        .concat(),
        "{{ System.PackageName }}: {{ User.Region }}",
        "&lt;p&gt;Region {{ User.Region }} to {{ Task.ToLine }}&lt;/p&gt;&lt;img src=&quot;cid:logo@corp&quot;&gt;",
    );
    let s = sink().await;
    let report = run_xml(&xml, &s).await;
    assert_eq!(report.exit_code, ExitCode::Success, "{report:#?}");
    let messages = s.messages();
    assert_eq!(messages.len(), 1);
    let data = messages[0].data.as_deref().unwrap();
    let parsed = MessageParser::default().parse(data).unwrap();
    assert_eq!(parsed.subject(), Some("Nightly: EMEA & APAC"));
    let html = parsed.body_html(0).unwrap();
    assert!(
        html.contains("<p>Region EMEA &amp; APAC to ops@corp.example</p>"),
        "{html}"
    );
    assert_eq!(
        parsed.body_text(0).unwrap().trim_end(),
        "Loaded for EMEA & APAC."
    );
    let image = parsed
        .parts
        .iter()
        .find(|p| p.content_id() == Some("logo@corp"))
        .expect("inline part");
    assert_eq!(image.contents(), std::fs::read(&logo).unwrap());

    // inspect shows the settings, from the same table.
    let pkg = dtsx::load_str(&xml, "test.dtsx").unwrap();
    let inspected = run::inspect(&pkg);
    let settings = &inspected.tasks[0].smtpcm;
    assert!(
        settings.contains(&("BodyFormat".into(), "Html".into())),
        "{settings:?}"
    );
    assert!(
        settings.contains(&("Template".into(), "True".into())),
        "{settings:?}"
    );
    assert!(
        settings
            .iter()
            .any(|(k, v)| k == "InlineImages" && v.starts_with("logo@corp=")),
        "{settings:?}"
    );
    assert!(
        inspected.tasks[0].warnings.is_empty(),
        "{:?}",
        inspected.tasks[0].warnings
    );
}

#[tokio::test]
async fn bad_settings_and_templates_fail_the_task_and_send_nothing() {
    let cases = [
        (
            var("smtpcm", "Colour", 8, "Blue"),
            "{{ x }}",
            "unknown variable smtpcm::Colour",
        ),
        (
            var("smtpcm", "BodyFormat", 8, "Markdown"),
            "x",
            "smtpcm::BodyFormat",
        ),
        (
            [
                var("smtpcm", "BodyFormat", 8, "Html"),
                var("smtpcm", "Template", 11, "True"),
            ]
            .concat(),
            "&lt;p&gt;&#10;{{ User.Missing }}&lt;/p&gt;",
            "MessageSource:2:4",
        ),
        (
            [
                var("smtpcm", "BodyFormat", 8, "Html"),
                var("smtpcm", "Template", 11, "True"),
            ]
            .concat(),
            "{% if %}",
            "syntax error",
        ),
        (
            var("smtpcm", "BodyFormat", 8, "Html"),
            "&lt;img src=&quot;cid:nope&quot;&gt;",
            "cid:nope refers to no inline part",
        ),
    ];
    for (task_vars, body, expected) in cases {
        let s = sink().await;
        let xml = package("", &task_vars, "s", body);
        let report = run_xml(&xml, &s).await;
        assert_eq!(
            report.exit_code,
            ExitCode::Failure,
            "{expected}: {report:#?}"
        );
        let e = errors(&report);
        assert!(e.contains(expected), "{expected:?} not in {e:?}");
        assert_eq!(s.connections(), 0, "{expected}: nothing may be sent");
    }
    // inspect reports an unknown name as a warning instead.
    let xml = package("", &var("smtpcm", "Colour", 8, "Blue"), "s", "x");
    let inspected = run::inspect(&dtsx::load_str(&xml, "t.dtsx").unwrap());
    assert!(
        inspected.tasks[0]
            .warnings
            .iter()
            .any(|w| w.contains("smtpcm::Colour")),
        "{:?}",
        inspected.tasks[0].warnings
    );
}
