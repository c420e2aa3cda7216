//! `smtpcm run` with `/Par` and a project folder: a package whose Send Mail task reads
//! its recipient from a package parameter and its server from a project `.conmgr`
//! whose connection string comes from a project parameter, delivered to the capture server.

use std::time::Duration;

use smtpcm_sink::{Sink, SinkConfig};

const BIN: &str = env!("CARGO_BIN_EXE_smtpcm");
const CM_ID: &str = "{3C051037-4D22-43A3-88E0-895932089CAC}";

fn package() -> String {
    format!(
        r#"<?xml version="1.0"?>
<DTS:Executable xmlns:DTS="www.microsoft.com/SqlServer/Dts"
  DTS:refId="Package"
  DTS:CreationName="Microsoft.Package"
  DTS:DTSID="{{5A468C0B-5CFA-4747-9A38-1A8BC0D5A03D}}"
  DTS:ExecutableType="Microsoft.Package"
  DTS:LocaleID="1033"
  DTS:ObjectName="Nightly"
  DTS:PackageType="5">
  <DTS:Property
    DTS:Name="PackageFormatVersion">8</DTS:Property>
  <DTS:PackageParameters>
    <DTS:PackageParameter
      DTS:CreationName=""
      DTS:DataType="8"
      DTS:DTSID="{{F5230E65-34AE-463A-9E9A-6499BE18C455}}"
      DTS:ObjectName="EmailTo">
      <DTS:Property
        DTS:DataType="8"
        DTS:Name="ParameterValue">default@receiver.test</DTS:Property>
    </DTS:PackageParameter>
  </DTS:PackageParameters>
  <DTS:Variables />
  <DTS:Executables>
    <DTS:Executable
      DTS:refId="Package\Send Mail Task"
      DTS:CreationName="Microsoft.SendMailTask"
      DTS:DTSID="{{1783E794-082C-4613-BBB2-AB1BD83D2E2B}}"
      DTS:ExecutableType="Microsoft.SendMailTask"
      DTS:LocaleID="-1"
      DTS:ObjectName="Send Mail Task">
      <DTS:Variables />
      <DTS:PropertyExpression
        DTS:Name="ToLine">@[$Package::EmailTo]</DTS:PropertyExpression>
      <DTS:PropertyExpression
        DTS:Name="Subject">"Load of " + @[System::PackageName] + " in " + @[$Project::Env]</DTS:PropertyExpression>
      <DTS:ObjectData>
        <SendMailTask:SendMailTaskData
          SendMailTask:SMTPServer="{CM_ID}"
          SendMailTask:From="etl@sender.test"
          SendMailTask:To="default@receiver.test"
          SendMailTask:Subject="placeholder"
          SendMailTask:MessageSource="done" xmlns:SendMailTask="www.microsoft.com/sqlserver/dts/tasks/sendmailtask" />
      </DTS:ObjectData>
    </DTS:Executable>
  </DTS:Executables>
</DTS:Executable>
"#
    )
}

fn conmgr() -> String {
    format!(
        r#"<?xml version="1.0"?>
<DTS:ConnectionManager xmlns:DTS="www.microsoft.com/SqlServer/Dts"
  DTS:ObjectName="SMTP Connection Manager"
  DTS:DTSID="{CM_ID}"
  DTS:CreationName="SMTP">
  <DTS:PropertyExpression
    DTS:Name="ConnectionString">@[$Project::SmtpConn]</DTS:PropertyExpression>
  <DTS:ObjectData>
    <SmtpConnectionManager
      ConnectionString="SmtpServer=unreachable.invalid;UseWindowsAuthentication=False;EnableSsl=False;" />
  </DTS:ObjectData>
</DTS:ConnectionManager>
"#
    )
}

fn params(smtp_conn: &str) -> String {
    let param = |name: &str, value: &str| {
        format!(
            r#"  <SSIS:Parameter
    SSIS:Name="{name}">
    <SSIS:Properties>
      <SSIS:Property
        SSIS:Name="ID">{{00000000-0000-0000-0000-00000000000{n}}}</SSIS:Property>
      <SSIS:Property
        SSIS:Name="DataType">18</SSIS:Property>
      <SSIS:Property
        SSIS:Name="Value">{value}</SSIS:Property>
    </SSIS:Properties>
  </SSIS:Parameter>
"#,
            n = name.len() % 10
        )
    };
    format!(
        "<?xml version=\"1.0\"?>\n<SSIS:Parameters xmlns:SSIS=\"www.microsoft.com/SqlServer/SSIS\">\n{}{}</SSIS:Parameters>\n",
        param("SmtpConn", smtp_conn),
        param("Env", "Test")
    )
}

#[tokio::test]
async fn project_parameters_and_par_override_drive_a_delivered_message() {
    let mut sink = Sink::start(SinkConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(project.join("Nightly.dtsx"), package()).unwrap();
    std::fs::write(project.join("SMTP Connection Manager.conmgr"), conmgr()).unwrap();
    let cs = format!(
        "SmtpServer=127.0.0.1;UseWindowsAuthentication=False;EnableSsl=False;Port={};",
        sink.local_addr().port()
    );
    std::fs::write(project.join("Project.params"), params(&cs)).unwrap();

    let run = tokio::process::Command::new(BIN)
        .arg("run")
        .arg(project.join("Nightly.dtsx"))
        .arg("--project")
        .arg(&project)
        .args(["/Par", "$Package::EmailTo;ops@receiver.test"])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    let got = sink
        .next_message(Duration::from_secs(5))
        .await
        .expect("no message arrived");
    assert_eq!(got.mail_from, "etl@sender.test");
    assert_eq!(
        got.rcpt_to,
        vec!["ops@receiver.test".to_string()],
        "/Par did not set the recipient"
    );
    let data = String::from_utf8_lossy(got.data.as_deref().unwrap_or_default()).into_owned();
    assert!(
        data.contains("Subject: Load of Nightly in Test"),
        "project parameter not used:\n{data}"
    );
}
