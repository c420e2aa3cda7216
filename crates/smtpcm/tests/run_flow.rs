//! The runner against a loopback capture server: precedence constraints, event handlers,
//! disabled and unsupported tasks, run-time errors, validation and exit codes.

use std::time::Duration;

use mail_parser::MessageParser;
use smtpcm::dtsx;
use smtpcm::run::{self, ExecStatus, ExitCode, Override, RunOptions, RunReport, Runner};
use smtpcm_sink::{Sink, SinkConfig, SinkHandle};

const CM_ID: &str = "{11111111-2222-3333-4444-555555555555}";
const SEND_MAIL: &str = "Microsoft.SendMailTask";

/// A format-8 Send Mail task; `attrs` are extra `SendMailTask:` attributes, `inner` extra children.
fn mail(name: &str, subject: &str, attrs: &str, inner: &str) -> String {
    format!(
        r#"<DTS:Executable DTS:refId="Package\{name}" DTS:CreationName="{SEND_MAIL}" DTS:DTSID="{{{id}}}" DTS:ExecutableType="{SEND_MAIL}" DTS:ObjectName="{name}" {disabled}>
  {inner}
  <DTS:ObjectData>
    <SendMailTask:SendMailTaskData SendMailTask:SMTPServer="{CM_ID}" SendMailTask:From="etl@corp.example" SendMailTask:To="ops@corp.example" SendMailTask:Subject="{subject}" SendMailTask:MessageSource="body of {name}" {attrs} xmlns:SendMailTask="www.microsoft.com/sqlserver/dts/tasks/sendmailtask" />
  </DTS:ObjectData>
</DTS:Executable>"#,
        id = uuid_for(name),
        disabled = if attrs.contains("DISABLED") {
            "DTS:Disabled=\"True\""
        } else {
            ""
        },
        attrs = attrs.replace("DISABLED", ""),
    )
}

fn uuid_for(name: &str) -> String {
    let n = name
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    format!(
        "{:08X}-0000-0000-0000-{:012X}",
        n as u32,
        n & 0xFFFF_FFFF_FFFF
    )
}

fn constraint(n: usize, from: &str, to: &str, extra: &str) -> String {
    format!(
        r#"<DTS:PrecedenceConstraint DTS:refId="Package.PrecedenceConstraints[C{n}]" DTS:CreationName="" DTS:DTSID="{{{id}}}" DTS:From="Package\{from}" DTS:To="Package\{to}" DTS:LogicalAnd="True" DTS:ObjectName="C{n}" {extra} />"#,
        id = uuid_for(&format!("c{n}{from}{to}")),
    )
}

fn package(
    variables: &str,
    executables: &[String],
    constraints: &[String],
    handlers: &str,
) -> String {
    format!(
        r#"<?xml version="1.0"?>
<DTS:Executable xmlns:DTS="www.microsoft.com/SqlServer/Dts" DTS:refId="Package" DTS:CreationName="Microsoft.Package" DTS:DTSID="{{AAAAAAAA-0000-0000-0000-000000000001}}" DTS:ExecutableType="Microsoft.Package" DTS:ObjectName="RunTest">
  <DTS:Property DTS:Name="PackageFormatVersion">8</DTS:Property>
  <DTS:ConnectionManagers>
    <DTS:ConnectionManager DTS:refId="Package.ConnectionManagers[Mail]" DTS:CreationName="SMTP" DTS:DTSID="{CM_ID}" DTS:ObjectName="Mail">
      <DTS:ObjectData><SmtpConnectionManager ConnectionString="SmtpServer=mail.invalid;UseWindowsAuthentication=False;EnableSsl=False;" /></DTS:ObjectData>
    </DTS:ConnectionManager>
    <DTS:ConnectionManager DTS:refId="Package.ConnectionManagers[Kingsway]" DTS:CreationName="SMTP (KingswaySoft)" DTS:DTSID="{{99999999-2222-3333-4444-555555555555}}" DTS:ObjectName="Kingsway">
      <DTS:ObjectData><KSConnection /></DTS:ObjectData>
    </DTS:ConnectionManager>
  </DTS:ConnectionManagers>
  <DTS:Variables>{variables}</DTS:Variables>
  <DTS:Executables>{execs}</DTS:Executables>
  <DTS:PrecedenceConstraints>{cons}</DTS:PrecedenceConstraints>
  {handlers}
</DTS:Executable>"#,
        execs = executables.join("\n"),
        cons = constraints.join("\n"),
    )
}

fn variable(name: &str, data_type: u16, value: &str) -> String {
    format!(
        r#"<DTS:Variable DTS:CreationName="" DTS:DTSID="{{{id}}}" DTS:Namespace="User" DTS:ObjectName="{name}"><DTS:VariableValue DTS:DataType="{data_type}">{value}</DTS:VariableValue></DTS:Variable>"#,
        id = uuid_for(name)
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

fn conn_to(sink: &SinkHandle) -> Override {
    Override::Conn {
        target: "Mail".into(),
        connection_string: format!(
            "SmtpServer=127.0.0.1;UseWindowsAuthentication=False;EnableSsl=False;Port={};",
            sink.local_addr().port()
        ),
    }
}

async fn run_xml(xml: &str, mut options: RunOptions, sink: &SinkHandle) -> RunReport {
    let pkg = dtsx::load_str(xml, "test.dtsx").expect("test package loads");
    options.overrides.insert(0, conn_to(sink));
    tokio::time::timeout(Duration::from_secs(60), Runner::new(pkg, options).run())
        .await
        .expect("run finishes")
}

fn subjects(sink: &SinkHandle) -> Vec<String> {
    sink.messages()
        .iter()
        .map(|m| {
            let data = m.data.as_deref().expect("message kept in memory");
            MessageParser::default()
                .parse(data)
                .expect("parses")
                .subject()
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

fn status(report: &RunReport, name: &str) -> ExecStatus {
    report
        .executable(&format!("Package\\{name}"))
        .unwrap_or_else(|| panic!("{name} in report: {report:#?}"))
        .status
}

#[tokio::test]
async fn success_failure_completion_and_expression_constraints() {
    let s = sink().await;
    let xml = package(
        &variable("Go", 3, "0"),
        &[
            mail("A", "a", "", ""),
            mail("OnSuccess", "after success", "", ""),
            mail("OnFailure", "after failure", "", ""),
            mail("OnCompletion", "after completion", "", ""),
            mail("WhenGo", "expression true", "", ""),
        ],
        &[
            constraint(1, "A", "OnSuccess", ""),
            constraint(2, "A", "OnFailure", r#"DTS:Value="1""#),
            constraint(3, "A", "OnCompletion", r#"DTS:Value="2""#),
            constraint(
                4,
                "A",
                "WhenGo",
                r#"DTS:EvalOp="3" DTS:Expression="@[User::Go] == 1""#,
            ),
        ],
        "",
    );
    let report = run_xml(&xml, RunOptions::default(), &s).await;
    assert_eq!(report.exit_code, ExitCode::Success, "{report:#?}");
    assert_eq!(status(&report, "OnFailure"), ExecStatus::NotRun);
    assert_eq!(status(&report, "WhenGo"), ExecStatus::NotRun);
    assert_eq!(subjects(&s), ["a", "after success", "after completion"]);
    assert_eq!(report.messages().count(), 3);
    let first = report.messages().next().unwrap();
    assert_eq!(first.recipients[0].recipient, "ops@corp.example");
    assert!(first.recipients[0].accepted);

    // /Set makes the expression true on the next run.
    let s2 = sink().await;
    let options = RunOptions {
        overrides: vec![
            Override::set(r"\Package.Variables[User::Go].Properties[Value];1").unwrap(),
        ],
        ..RunOptions::default()
    };
    let report = run_xml(&xml, options, &s2).await;
    assert_eq!(status(&report, "WhenGo"), ExecStatus::Succeeded);
    assert!(subjects(&s2).contains(&"expression true".to_owned()));
}

#[tokio::test]
async fn failure_runs_failure_path_and_on_error_handler_sees_error_description() {
    let s = sink().await;
    let handler = format!(
        r#"<DTS:EventHandlers><DTS:EventHandler DTS:refId="Package.EventHandlers[OnError]" DTS:CreationName="OnError" DTS:DTSID="{{BBBBBBBB-0000-0000-0000-000000000001}}" DTS:EventID="0" DTS:EventName="OnError">
  <DTS:Executables>{}</DTS:Executables></DTS:EventHandler></DTS:EventHandlers>"#,
        mail(
            "Notify",
            "error",
            "",
            r#"<DTS:PropertyExpression DTS:Name="MessageSource">@[System::ErrorDescription]</DTS:PropertyExpression>
               <DTS:PropertyExpression DTS:Name="Subject">"Error " + (DT_WSTR, 12) @[System::ErrorCode] + " in " + @[System::SourceName]</DTS:PropertyExpression>"#
        )
        .replace(r"Package\Notify", r"Package.EventHandlers[OnError]\Notify")
    );
    let xml = package(
        "",
        &[
            mail("Broken", "never", "", "")
                .replace(CM_ID, "{DEADBEEF-0000-0000-0000-000000000000}"),
            mail("Recover", "recovered", "", ""),
        ],
        &[constraint(1, "Broken", "Recover", r#"DTS:Value="1""#)],
        &handler,
    );
    let report = run_xml(&xml, RunOptions::default(), &s).await;
    assert_eq!(report.exit_code, ExitCode::Failure);
    let broken = report.executable(r"Package\Broken").unwrap();
    assert_eq!(broken.status, ExecStatus::Failed);
    assert_eq!(broken.errors[0].code.as_deref(), Some("0xC00291D3"));
    assert_eq!(status(&report, "Recover"), ExecStatus::Succeeded);
    let messages = s.messages();
    assert_eq!(messages.len(), 2, "handler mail and recovery mail");
    let parsed: Vec<_> = messages
        .iter()
        .map(|m| {
            MessageParser::default()
                .parse(m.data.as_deref().unwrap())
                .unwrap()
                .into_owned()
        })
        .collect();
    let notify = parsed
        .iter()
        .find(|m| m.subject().unwrap_or("").starts_with("Error "))
        .expect("OnError mail");
    assert_eq!(notify.subject(), Some("Error -1073573421 in Broken"));
    let body = notify.body_text(0).unwrap();
    assert!(
        body.contains("NOCONNMNGR") && body.contains("DEADBEEF"),
        "{body}"
    );
}

#[tokio::test]
async fn disabled_task_is_skipped_and_counts_as_success() {
    let s = sink().await;
    let xml = package(
        "",
        &[
            mail("Off", "off", "DISABLED", ""),
            mail("Next", "next", "", ""),
        ],
        &[constraint(1, "Off", "Next", "")],
        "",
    );
    let report = run_xml(&xml, RunOptions::default(), &s).await;
    assert_eq!(status(&report, "Off"), ExecStatus::Disabled);
    assert_eq!(subjects(&s), ["next"]);
    assert_eq!(report.exit_code, ExitCode::Success);
}

fn with_unsupported() -> String {
    let sql = r#"<DTS:Executable DTS:refId="Package\Load rows" DTS:CreationName="Microsoft.ExecuteSQLTask" DTS:DTSID="{CCCCCCCC-0000-0000-0000-000000000001}" DTS:ExecutableType="Microsoft.ExecuteSQLTask" DTS:ObjectName="Load rows"><DTS:ObjectData /></DTS:Executable>"#;
    package(
        "",
        &[mail("First", "first", "", ""), sql.to_owned()],
        &[constraint(1, "First", "Load rows", "")],
        "",
    )
}

#[tokio::test]
async fn unsupported_task_blocks_the_run_before_any_mail() {
    let s = sink().await;
    let report = run_xml(&with_unsupported(), RunOptions::default(), &s).await;
    assert_eq!(report.exit_code, ExitCode::Failure);
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.message.contains(r"Package\Load rows")
                && e.message.contains("Microsoft.ExecuteSQLTask"))
    );
    assert!(report.executables.is_empty());
    assert_eq!(s.connections(), 0, "nothing may be sent");

    let options = RunOptions {
        skip_unsupported: true,
        ..RunOptions::default()
    };
    let report = run_xml(&with_unsupported(), options, &s).await;
    assert_eq!(report.exit_code, ExitCode::Success);
    assert_eq!(status(&report, "Load rows"), ExecStatus::SkippedUnsupported);
    assert_eq!(subjects(&s), ["first"]);
}

#[tokio::test]
async fn unknown_variable_fails_the_task_naming_variable_and_column() {
    let s = sink().await;
    let xml = package(
        "",
        &[mail(
            "T",
            "x",
            "",
            r#"<DTS:PropertyExpression DTS:Name="Subject">"Load: " + @[User::Nope]</DTS:PropertyExpression>"#,
        )],
        &[],
        "",
    );
    let report = run_xml(&xml, RunOptions::default(), &s).await;
    assert_eq!(report.exit_code, ExitCode::Failure);
    let msg = &report.executable(r"Package\T").unwrap().errors[0].message;
    assert!(
        msg.contains("@[User::Nope]") && msg.contains("column 12") && msg.contains("Subject"),
        "{msg}"
    );
    assert_eq!(s.connections(), 0);
}

#[tokio::test]
async fn connection_type_and_variable_type_errors_carry_ssis_codes() {
    let s = sink().await;
    let xml = package(
        &variable("Count", 3, "7"),
        &[
            mail("Wrong CM", "x", "", "").replace(CM_ID, "Kingsway"),
            mail(
                "Int body",
                "x",
                r#"SendMailTask:MessageSourceType="Variable""#,
                "",
            )
            .replace("body of Int body", "User::Count"),
        ],
        &[],
        "",
    );
    let report = run_xml(&xml, RunOptions::default(), &s).await;
    let code = |n: &str| {
        report.executable(&format!("Package\\{n}")).unwrap().errors[0]
            .code
            .clone()
    };
    assert_eq!(code("Wrong CM").as_deref(), Some("0xC00291D1"));
    assert_eq!(code("Int body").as_deref(), Some("0xC00291D0"));
    assert_eq!(s.connections(), 0);
}

#[tokio::test]
async fn for_loop_runs_its_body_per_iteration() {
    let s = sink().await;
    let body = mail("Each", "x", "", r#"<DTS:PropertyExpression DTS:Name="Subject">"n=" + (DT_WSTR, 4) @[User::i]</DTS:PropertyExpression>"#)
        .replace(r"Package\Each", r"Package\Loop\Each");
    let lp = format!(
        r#"<DTS:Executable DTS:refId="Package\Loop" DTS:CreationName="STOCK:FORLOOP" DTS:DTSID="{{EEEEEEEE-0000-0000-0000-000000000001}}" DTS:ExecutableType="STOCK:FORLOOP" DTS:ObjectName="Loop" DTS:InitExpression="@[User::i] = 0" DTS:EvalExpression="@[User::i] &lt; 3" DTS:AssignExpression="@[User::i] = @[User::i] + 1"><DTS:Executables>{body}</DTS:Executables></DTS:Executable>"#
    );
    let xml = package(&variable("i", 3, "0"), &[lp], &[], "");
    let report = run_xml(&xml, RunOptions::default(), &s).await;
    assert_eq!(report.exit_code, ExitCode::Success, "{report:#?}");
    assert_eq!(subjects(&s), ["n=0", "n=1", "n=2"]);

    let s2 = sink().await;
    let options = RunOptions {
        max_loop_iterations: 2,
        ..RunOptions::default()
    };
    let report = run_xml(&xml, options, &s2).await;
    assert_eq!(report.exit_code, ExitCode::Failure);
    assert!(
        report.executable(r"Package\Loop").unwrap().errors[0]
            .message
            .contains("2 iterations")
    );
}

#[tokio::test]
async fn validate_only_checks_but_sends_nothing() {
    let s = sink().await;
    let xml = package(
        "",
        &[mail("A", "a", "", ""), mail("B", "b", "", "")],
        &[],
        "",
    );
    let options = RunOptions {
        validate_only: true,
        ..RunOptions::default()
    };
    let report = run_xml(&xml, options, &s).await;
    assert_eq!(report.exit_code, ExitCode::Success);
    assert!(
        report
            .executables
            .iter()
            .all(|e| e.status == ExecStatus::Validated)
    );
    assert_eq!(s.connections(), 0);

    // A dangling reference is found by validation too.
    let broken = package(
        "",
        &[mail("A", "a", "", "").replace(CM_ID, "Nowhere")],
        &[],
        "",
    );
    let report = run_xml(
        &broken,
        RunOptions {
            validate_only: true,
            ..RunOptions::default()
        },
        &s,
    )
    .await;
    assert_eq!(report.exit_code, ExitCode::Failure);
    assert_eq!(s.connections(), 0);
}

#[tokio::test]
async fn command_line_and_load_errors_map_to_dtexec_exit_codes() {
    let s = sink().await;
    let xml = package("", &[mail("A", "a", "", "")], &[], "");
    for bad in [
        Override::set(r"\Package.Variables[User::Missing].Properties[Value];1").unwrap(),
        Override::conn("NoSuchCM;SmtpServer=x;").unwrap(),
        Override::par("$Package::Nope;1").unwrap(),
    ] {
        let report = run_xml(
            &xml,
            RunOptions {
                overrides: vec![bad.clone()],
                ..RunOptions::default()
            },
            &s,
        )
        .await;
        assert_eq!(report.exit_code, ExitCode::CommandLine, "{bad:?}");
        assert_eq!(report.exit_code.code(), 6);
    }
    assert_eq!(s.connections(), 0);

    let dir = tempfile::tempdir().unwrap();
    let missing = run::load_target(&dir.path().join("none.dtsx"), None, None).unwrap_err();
    assert_eq!(missing.exit_code().code(), 4);
    let bad = dir.path().join("bad.dtsx");
    std::fs::write(
        &bad,
        "<DTS:Executable xmlns:DTS=\"www.microsoft.com/SqlServer/Dts\">\n<oops>",
    )
    .unwrap();
    let err = run::load_target(&bad, None, None).unwrap_err();
    assert_eq!(err.exit_code().code(), 5);
    assert!(
        err.to_string().contains("bad.dtsx:") && err.to_string().contains("malformed XML"),
        "{err}"
    );
}
