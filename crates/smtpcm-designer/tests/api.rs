//! The designer's JSON API without a browser: token, validation with the CLI's messages,
//! lossless save, conflicts, new packages with a task, the capture server.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use smtpcm_designer::{Designer, DesignerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PACKAGE: &str = "\u{FEFF}<?xml version=\"1.0\"?>\r\n<DTS:Executable xmlns:DTS=\"www.microsoft.com/SqlServer/Dts\"\r\n  DTS:refId=\"Package\"\r\n  DTS:CreationName=\"Microsoft.Package\"\r\n  DTS:DTSID=\"{11111111-1111-1111-1111-111111111111}\"\r\n  DTS:ExecutableType=\"Microsoft.Package\"\r\n  DTS:ObjectName=\"P\">\r\n  <DTS:Property\r\n    DTS:Name=\"PackageFormatVersion\">8</DTS:Property>\r\n  <DTS:ConnectionManagers>\r\n    <DTS:ConnectionManager\r\n      DTS:refId=\"Package.ConnectionManagers[SMTP]\"\r\n      DTS:CreationName=\"SMTP\"\r\n      DTS:DTSID=\"{22222222-2222-2222-2222-222222222222}\"\r\n      DTS:ObjectName=\"SMTP\">\r\n      <DTS:ObjectData>\r\n        <SmtpConnectionManager\r\n          ConnectionString=\"SmtpServer=old;UseWindowsAuthentication=False;EnableSsl=False;\" />\r\n      </DTS:ObjectData>\r\n    </DTS:ConnectionManager>\r\n  </DTS:ConnectionManagers>\r\n  <DTS:Variables />\r\n  <DTS:Executables />\r\n</DTS:Executable>";

struct Server {
    addr: std::net::SocketAddr,
}

async fn start(paths: Vec<PathBuf>) -> Server {
    let d = Designer::bind(DesignerOptions {
        paths,
        token: Some("secret-token".into()),
        ..DesignerOptions::default()
    })
    .await
    .unwrap();
    let addr = d.local_addr();
    assert!(d.url().ends_with("/?token=secret-token"));
    tokio::spawn(d.serve());
    Server { addr }
}

impl Server {
    /// One HTTP/1.1 request; returns the status and the parsed JSON body (or the text).
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: bool,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut s = TcpStream::connect(self.addr).await.unwrap();
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let auth = if token {
            "X-Smtpcm-Token: secret-token\r\n"
        } else {
            ""
        };
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        let text = String::from_utf8_lossy(&out).into_owned();
        let status: u16 = text[9..12].parse().unwrap();
        let (_, raw_body) = text.split_once("\r\n\r\n").unwrap();
        // Bodies are small; axum sends them with Content-Length.
        let v = serde_json::from_str(raw_body).unwrap_or(Value::String(raw_body.to_owned()));
        (status, v)
    }
}

fn write_package(dir: &Path) -> PathBuf {
    let p = dir.join("P.dtsx");
    std::fs::write(&p, PACKAGE).unwrap();
    p
}

#[tokio::test]
async fn token_is_required_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(vec![write_package(dir.path())]).await;
    for (m, p) in [
        ("GET", "/"),
        ("GET", "/api/files"),
        ("POST", "/api/files/0/save"),
        ("GET", "/app.js"),
    ] {
        assert_eq!(s.call(m, p, false, None).await.0, 401, "{m} {p}");
    }
    assert_eq!(s.call("GET", "/api/files", true, None).await.0, 200);
    assert_eq!(
        s.call("GET", "/?token=secret-token", false, None).await.0,
        200
    );
    assert_eq!(
        s.call("GET", "/?token=secret-tokeN", false, None).await.0,
        401
    );
}

#[tokio::test]
async fn bad_input_is_a_400_with_the_cli_message_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_package(dir.path());
    let s = start(vec![path.clone()]).await;
    let cm = "/api/files/0/connections/SMTP";
    let (st, v) = s
        .call(
            "PUT",
            cm,
            true,
            Some(json!({"connection_string": "SmtpServer=a;Timeout=0;"})),
        )
        .await;
    assert_eq!(st, 400);
    let cli = smtpcm::connection_string::ConnectionString::parse("SmtpServer=a;Timeout=0;")
        .unwrap_err()
        .to_string();
    assert!(v["error"].as_str().unwrap().contains(&cli), "{v}");
    let (st, v) = s
        .call(
            "PUT",
            "/api/files/0/tasks/%7Bnope%7D",
            true,
            Some(json!({"properties": {"Priority": "urgent"}})),
        )
        .await;
    assert_eq!(st, 404, "{v}");
    let (_, files) = s.call("GET", "/api/files", true, None).await;
    assert_eq!(files[0]["dirty"], false, "a refused edit changes nothing");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), PACKAGE);
}

#[tokio::test]
async fn save_is_lossless_and_refuses_a_file_changed_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_package(dir.path());
    let s = start(vec![path.clone()]).await;
    let (st, v) = s
        .call(
            "PUT",
            "/api/files/0/connections/SMTP",
            true,
            Some(json!({"fields": {"SmtpServer": "new", "EnableSsl": "True"}})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["connection_string"],
        "SmtpServer=new;UseWindowsAuthentication=False;EnableSsl=True;"
    );
    // Someone else changes the file: the save is refused and the file is theirs.
    let theirs = PACKAGE.replace("ObjectName=\"P\"", "ObjectName=\"Q\"");
    std::fs::write(&path, &theirs).unwrap();
    let (st, v) = s.call("POST", "/api/files/0/save", true, None).await;
    assert_eq!(st, 409, "{v}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), theirs);
    // Keep mine: an explicit overwrite.
    let (st, _) = s
        .call(
            "POST",
            "/api/files/0/save",
            true,
            Some(json!({"force": true})),
        )
        .await;
    assert_eq!(st, 200);
    let expected = PACKAGE.replace(
        "SmtpServer=old;UseWindowsAuthentication=False;EnableSsl=False;",
        "SmtpServer=new;UseWindowsAuthentication=False;EnableSsl=True;",
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        expected,
        "only those bytes changed"
    );
    // Saved again without edits: byte-identical, no conflict.
    assert_eq!(s.call("POST", "/api/files/0/save", true, None).await.0, 200);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
}

#[tokio::test]
async fn new_package_with_task_sends_into_the_capture_server() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(vec![dir.path().to_path_buf()]).await;
    let file = dir.path().join("New.dtsx");
    let (st, v) = s
        .call(
            "POST",
            "/api/packages",
            true,
            Some(json!({"path": file, "name": "New"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let id = v["id"].as_u64().unwrap();
    let (st, cm) = s
        .call(
            "POST",
            &format!("/api/files/{id}/connections"),
            true,
            Some(json!({"name": "Mail"})),
        )
        .await;
    assert_eq!(st, 200, "{cm}");
    let (st, t) = s
        .call(
            "POST",
            &format!("/api/files/{id}/tasks"),
            true,
            Some(json!({"name": "Notify"})),
        )
        .await;
    assert_eq!(st, 200, "{t}");
    let task = format!(
        "/api/files/{id}/tasks/{}",
        t["id"]
            .as_str()
            .unwrap()
            .replace('{', "%7B")
            .replace('}', "%7D")
    );
    // Validate runs what `run --validate` runs: a task without recipients is a finding.
    let (st, v) = s
        .call("POST", &format!("/api/files/{id}/validate"), true, None)
        .await;
    assert_eq!(st, 200, "{v}");
    assert_ne!(v["exit_code"], 0, "{v}");
    assert!(!v["findings"].as_array().unwrap().is_empty(), "{v}");
    let (st, v) = s
        .call("PUT", &task, true, Some(json!({
            "properties": {"FromLine": "a@example.com", "ToLine": "b@example.com", "Subject": "Hi", "MessageSource": "Body"},
            "expressions": [{"property": "Subject", "expression": "\"Hi from \" + @[System::PackageName]"}]
        })))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["properties"]["SmtpConnection"], cm["id"]);
    // An expression that does not parse is refused, naming the column.
    let (st, v) = s
        .call(
            "PUT",
            &task,
            true,
            Some(json!({"expressions": [{"property": "Subject", "expression": "\"a\" +"}]})),
        )
        .await;
    assert_eq!(st, 400);
    assert!(v["error"].as_str().unwrap().contains("column"), "{v}");
    let cm_path = format!(
        "/api/files/{id}/connections/{}",
        cm["id"]
            .as_str()
            .unwrap()
            .replace('{', "%7B")
            .replace('}', "%7D")
    );
    let (st, _) = s
        .call(
            "PUT",
            &cm_path,
            true,
            Some(json!({"fields": {"SmtpServer": "relay.example"}})),
        )
        .await;
    assert_eq!(st, 200);
    let (st, v) = s
        .call("POST", &format!("/api/files/{id}/validate"), true, None)
        .await;
    assert_eq!(v["exit_code"], 0, "{v}");
    assert_eq!(st, 200);
    let (st, v) = s
        .call(
            "POST",
            &format!("/api/files/{id}/variables"),
            true,
            Some(json!({"name": "Body", "value": "x"})),
        )
        .await;
    assert_eq!((st, v["name"].as_str()), (200, Some("User::Body")), "{v}");
    let (st, _) = s
        .call(
            "POST",
            &format!("/api/files/{id}/variables"),
            true,
            Some(json!({"name": "1bad"})),
        )
        .await;
    assert_eq!(st, 400);
    let (st, v) = s
        .call("POST", &format!("/api/files/{id}/save"), true, None)
        .await;
    assert_eq!(st, 200, "{v}");
    let pkg = smtpcm::dtsx::load_package(&file).unwrap();
    assert_eq!(pkg.variable("User::Body").unwrap().value, "x");
    let t = pkg.all_executables()[0];
    assert_eq!(t.send_mail().unwrap().to, "b@example.com");
    assert_eq!(
        t.property_expression("Subject"),
        Some("\"Hi from \" + @[System::PackageName]")
    );
    let (st, r) = s
        .call("POST", &format!("{task}/send-test"), true, None)
        .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["ok"], true, "{r}");
    let (_, inbox) = s.call("GET", "/api/inbox", true, None).await;
    assert_eq!(inbox["messages"][0]["subject"], "Hi from New", "{inbox}");
    let (_, m) = s.call("GET", "/api/inbox/0", true, None).await;
    assert_eq!(m["text"].as_str().unwrap().trim_end(), "Body");
}

#[tokio::test]
async fn new_project_connection_manager_is_a_conmgr_file() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(vec![dir.path().to_path_buf()]).await;
    let file = dir.path().join("Mail.conmgr");
    let (st, v) = s
        .call("POST", "/api/conmgr", true, Some(json!({"path": file})))
        .await;
    assert_eq!(st, 200, "{v}");
    let id = v["id"].as_u64().unwrap();
    let cm = v["connection"]
        .as_str()
        .unwrap()
        .replace('{', "%7B")
        .replace('}', "%7D");
    let (st, v) = s
        .call(
            "PUT",
            &format!("/api/files/{id}/connections/{cm}"),
            true,
            Some(json!({"fields": {"SmtpServer": "relay.corp", "Port": "587"}})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        s.call("POST", &format!("/api/files/{id}/save"), true, None)
            .await
            .0,
        200
    );
    let loaded = smtpcm::dtsx::load_conmgr(&file).unwrap();
    assert_eq!(loaded.connection.name, "Mail");
    assert_eq!(
        loaded.connection.connection_string,
        "SmtpServer=relay.corp;UseWindowsAuthentication=False;EnableSsl=False;Port=587;"
    );
    let (st, _) = s
        .call("POST", "/api/conmgr", true, Some(json!({"path": file})))
        .await;
    assert_eq!(st, 409, "an existing file is never replaced");
}

/// A real SSIS 2012 package from the corpus (read-only: the test works on a copy).
const CORPUS_6: &str = "../../../shared/corpus/dtsx/lucmilot__SSIS_2014_Book__850879_c03_download__Chapter3__SendMailTask.dtsx";

#[tokio::test]
async fn html_settings_are_saved_as_task_scoped_variables() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(CORPUS_6);
    let Ok(original) = std::fs::read(&src) else {
        eprintln!("skipped: corpus not present at {}", src.display());
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("SendMailTask.dtsx");
    std::fs::write(&path, &original).unwrap();
    let task = smtpcm::dtsx::load_bytes(original.clone(), "c.dtsx")
        .unwrap()
        .all_executables()[0]
        .dtsid
        .clone();
    let s = start(vec![path.clone()]).await;
    let url = format!("/api/files/0/tasks/{task}");

    // The editor gets every row of the library's table, none set yet.
    let (st, v) = s.call("GET", &url, true, None).await;
    assert_eq!(st, 200, "{v}");
    let names: Vec<&str> = v["html_settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    let table: Vec<&str> = smtpcm::package::TASK_VARIABLES
        .iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, table);
    assert!(v["html_settings"][0]["value"].is_null());

    // A bad value is a 400 with the message `run` gives, and changes nothing.
    let (st, v) = s
        .call(
            "PUT",
            &url,
            true,
            Some(json!({"html": {"BodyFormat": "Html", "MaxHtmlBytes": "lots"}})),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(
        v["error"].as_str().unwrap_or_else(|| panic!("{v}")),
        "Package\\Send Mail Task: smtpcm::MaxHtmlBytes: \"lots\" is not a positive number of bytes"
    );
    let (st, v) = s
        .call("PUT", &url, true, Some(json!({"html": {"Colour": "Red"}})))
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("unknown variable smtpcm::Colour (smtpcm knows BodyFormat, TextBody"),
        "{v}"
    );
    let (_, v) = s.call("GET", &url, true, None).await;
    assert!(v["html_settings"][0]["value"].is_null(), "nothing applied");

    // Good values: an HTML template body.
    let (st, v) = s
        .call(
            "PUT",
            &url,
            true,
            Some(
                json!({"html": {"BodyFormat": "Html", "Template": "True", "TextBody": ""},
                        "properties": {"MessageSource": "<p>Hello {{ Task.Subject }}</p>"}}),
            ),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["html_settings"][0]["value"], "Html");
    assert_eq!(v["html_settings"][3]["value"], "True");
    assert!(
        v["html_settings"][1]["value"].is_null(),
        "empty adds nothing"
    );
    let (st, v) = s.call("POST", "/api/files/0/save", true, None).await;
    assert_eq!(st, 200, "{v}");

    // The library reads them back as the settings `run` and `inspect` use.
    let saved = std::fs::read(&path).unwrap();
    let pkg = smtpcm::dtsx::load_bytes(saved.clone(), "c.dtsx").unwrap();
    let exec = pkg.all_executables()[0];
    let scope = smtpcm::expr::PackageScope::new(&pkg);
    let settings: Vec<(&str, String)> = smtpcm::package::task_settings(exec, &scope)
        .into_iter()
        .map(|r| r.map(|(t, v)| (t.name, v)).unwrap())
        .collect();
    assert_eq!(
        settings,
        [
            ("BodyFormat", "Html".to_owned()),
            ("Template", "True".to_owned())
        ]
    );
    assert_eq!(
        exec.send_mail().unwrap().message_source,
        "<p>Hello {{ Task.Subject }}</p>"
    );

    // Outside the task's variables and its message source, every byte is the original's.
    let (orig, out) = (
        String::from_utf8(original).unwrap(),
        String::from_utf8(saved).unwrap(),
    );
    let empty = "      <DTS:Variables />";
    let at = orig
        .find(&format!("{empty}\r\n      <DTS:ObjectData>"))
        .or_else(|| orig.find(&format!("{empty}\n      <DTS:ObjectData>")))
        .unwrap();
    assert_eq!(&out[..at], &orig[..at]);
    let ms = "SendMailTask:MessageSource=\"";
    let tail_orig = &orig[orig.find(ms).unwrap() + ms.len()..];
    let tail_orig = &tail_orig[tail_orig.find('"').unwrap()..];
    assert!(out.ends_with(tail_orig));
    let inserted = &out[at..out.find(ms).unwrap()];
    assert!(inserted.contains("DTS:Namespace=\"smtpcm\""), "{inserted}");
    assert!(
        inserted.contains("DTS:ObjectName=\"Template\""),
        "{inserted}"
    );
    assert_eq!(
        inserted.matches("<DTS:Variable\r\n").count() + inserted.matches("<DTS:Variable\n").count(),
        2
    );
}

#[tokio::test]
async fn expression_added_to_a_task_that_has_one_is_saved_after_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../../../shared/corpus/dtsx/atorres16__SSIS-read-error-console-app-mail__SSIS__Package.dtsx",
    );
    let Ok(original) = std::fs::read(&src) else {
        eprintln!("skipped: corpus not present at {}", src.display());
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Package.dtsx");
    std::fs::write(&path, &original).unwrap();
    let pkg = smtpcm::dtsx::load_bytes(original.clone(), "c.dtsx").unwrap();
    let exec = pkg
        .all_executables()
        .into_iter()
        .find(|e| e.is_send_mail())
        .unwrap();
    let url = format!("/api/files/0/tasks/{}", exec.dtsid);
    let s = start(vec![path.clone()]).await;
    let (_, v) = s.call("GET", &url, true, None).await;
    let mut list = v["expressions"].as_array().unwrap().clone();
    assert_eq!(list.len(), 1, "{v}");
    list.push(
        json!({"property": "Subject", "expression": "\"Failed: \" + @[System::PackageName]"}),
    );
    let (st, v) = s
        .call("PUT", &url, true, Some(json!({ "expressions": list })))
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = s.call("POST", "/api/files/0/save", true, None).await;
    assert_eq!(st, 200, "{v}");
    let saved = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
    let orig = String::from_utf8(original).unwrap();
    let anchor = "@[User::StdOutput]</DTS:PropertyExpression>";
    let at = orig.find(anchor).unwrap() + anchor.len();
    let added = "\n      <DTS:PropertyExpression\n        DTS:Name=\"Subject\">\"Failed: \" + @[System::PackageName]</DTS:PropertyExpression>";
    assert_eq!(saved, format!("{}{added}{}", &orig[..at], &orig[at..]));
    let again = smtpcm::dtsx::load_str(&saved, "c.dtsx").unwrap();
    let e = again
        .all_executables()
        .into_iter()
        .find(|e| e.is_send_mail())
        .unwrap();
    let props: Vec<_> = e
        .property_expressions
        .iter()
        .map(|p| p.property.as_str())
        .collect();
    assert_eq!(props, ["MessageSource", "Subject"]);
}

/// `%7B...%7D` for a DTSID in a URL.
fn enc(id: &Value) -> String {
    id.as_str().unwrap().replace('{', "%7B").replace('}', "%7D")
}

/// The one error finding of a Validate answer.
fn only_error(v: &Value) -> Value {
    let errors: Vec<&Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{v}");
    errors[0].clone()
}

#[tokio::test]
async fn validate_findings_carry_the_field_they_concern() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(vec![dir.path().to_path_buf()]).await;
    let (_, v) = s
        .call(
            "POST",
            "/api/packages",
            true,
            Some(json!({"path": dir.path().join("V.dtsx"), "name": "V"})),
        )
        .await;
    let id = v["id"].as_u64().unwrap();
    let (_, cm) = s
        .call(
            "POST",
            &format!("/api/files/{id}/connections"),
            true,
            Some(json!({"name": "Mail"})),
        )
        .await;
    let (_, t) = s
        .call(
            "POST",
            &format!("/api/files/{id}/tasks"),
            true,
            Some(json!({"name": "Notify"})),
        )
        .await;
    let task = format!("/api/files/{id}/tasks/{}", enc(&t["id"]));
    let cm_path = format!("/api/files/{id}/connections/{}", enc(&cm["id"]));
    let validate = format!("/api/files/{id}/validate");
    let (st, v) = s
        .call("PUT", &task, true, Some(json!({
            "properties": {"FromLine": "a@example.com", "ToLine": "b@example.com", "Subject": "Hi", "MessageSource": "Body"}
        })))
        .await;
    assert_eq!(st, 200, "{v}");

    // A connection manager without SmtpServer: the connection's SmtpServer key, not the task.
    let (st, v) = s
        .call(
            "PUT",
            &cm_path,
            true,
            Some(json!({"connection_string": "UseWindowsAuthentication=False;EnableSsl=False;"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (_, v) = s.call("POST", &validate, true, None).await;
    let f = only_error(&v);
    assert_eq!(f["connection"], cm["id"], "{f}");
    assert_eq!(f["task"], Value::Null, "{f}");
    assert_eq!(f["field"], "SmtpServer", "{f}");
    assert_eq!(f["location"]["field"]["kind"], "key", "{f}");

    // A bad To recipient: the task's ToLine.
    s.call(
        "PUT",
        &cm_path,
        true,
        Some(json!({"fields": {"SmtpServer": "relay.example"}})),
    )
    .await;
    let (st, v) = s
        .call(
            "PUT",
            &task,
            true,
            Some(json!({"properties": {"ToLine": "ops@@example.com"}})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (_, v) = s.call("POST", &validate, true, None).await;
    let f = only_error(&v);
    assert_eq!(f["task"], t["id"], "{f}");
    assert_eq!(f["field"], "ToLine", "{f}");

    // An expression that fails: the expression of that property.
    let (st, v) = s
        .call("PUT", &task, true, Some(json!({
            "properties": {"ToLine": "ops@example.com"},
            "expressions": [{"property": "Subject", "expression": "\"Load \" + @[User::Missing]"}]
        })))
        .await;
    assert_eq!(st, 200, "{v}");
    let (_, v) = s.call("POST", &validate, true, None).await;
    let f = only_error(&v);
    assert_eq!(f["task"], t["id"], "{f}");
    assert_eq!(f["field"], "expr:Subject", "{f}");

    // And a task naming a connection manager that does not exist: its SmtpConnection.
    let (st, v) = s
        .call(
            "PUT",
            &task,
            true,
            Some(json!({"expressions": [], "properties": {"SmtpConnection": "{00000000-0000-0000-0000-000000000009}"}})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (_, v) = s.call("POST", &validate, true, None).await;
    let f = only_error(&v);
    assert_eq!(f["task"], t["id"], "{f}");
    assert_eq!(f["field"], "SmtpConnection", "{f}");
}

#[tokio::test]
async fn a_format_3_package_takes_a_connection_manager_and_a_task() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/dtsx/avgrishin__Dts2008__RepInvDecl.dtsx");
    if !corpus.exists() {
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "corpus missing");
        eprintln!("skipped: ../shared not found");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("R.dtsx");
    std::fs::copy(&corpus, &path).unwrap();
    let s = start(vec![path.clone()]).await;
    let (st, cm) = s
        .call(
            "POST",
            "/api/files/0/connections",
            true,
            Some(json!({"name": "Relay"})),
        )
        .await;
    assert_eq!(st, 200, "{cm}");
    let (st, t) = s
        .call(
            "POST",
            "/api/files/0/tasks",
            true,
            Some(json!({"name": "Notify"})),
        )
        .await;
    assert_eq!(st, 200, "{t}");
    let (st, v) = s.call("POST", "/api/files/0/save", true, None).await;
    assert_eq!(st, 200, "{v}");
    let pkg = smtpcm::dtsx::load_package(&path).unwrap();
    assert_eq!(pkg.format_version, 3);
    assert!(pkg.connection("Relay").is_some());
    let all = pkg.all_executables();
    let task = all.iter().find(|e| e.name == "Notify").unwrap();
    assert!(task.executable_type.contains("Version=10.0.0.0"));
    // Deleting both gives the original file back.
    let (st, _) = s
        .call(
            "DELETE",
            &format!("/api/files/0/tasks/{}", enc(&t["id"])),
            true,
            None,
        )
        .await;
    assert_eq!(st, 200);
    let (st, _) = s
        .call(
            "DELETE",
            &format!("/api/files/0/connections/{}", enc(&cm["id"])),
            true,
            None,
        )
        .await;
    assert_eq!(st, 200);
    let (st, v) = s.call("POST", "/api/files/0/save", true, None).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(&corpus).unwrap()
    );
}

/// `text` without each `<DTS:Variable>` element (and the line break in front of it) whose
/// text contains one of `marks`.
fn without_variables(text: &str, marks: &[&str]) -> String {
    let mut out = text.to_owned();
    loop {
        let found = out.match_indices("\n<DTS:Variable>").find_map(|(at, _)| {
            let end = at + out[at..].find("</DTS:Variable>")? + "</DTS:Variable>".len();
            marks
                .iter()
                .any(|m| out[at..end].contains(m))
                .then_some(at..end)
        });
        match found {
            Some(r) => out.replace_range(r, ""),
            None => return out,
        }
    }
}

#[tokio::test]
async fn a_format_3_package_takes_html_settings_and_a_new_variable() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/dtsx/avgrishin__Dts2008__RepInvDecl.dtsx");
    if !corpus.exists() {
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "corpus missing");
        eprintln!("skipped: ../shared not found");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("R.dtsx");
    std::fs::copy(&corpus, &path).unwrap();
    let original = std::fs::read_to_string(&path).unwrap();
    let task = smtpcm::dtsx::load_package(&path)
        .unwrap()
        .executables
        .iter()
        .find(|e| e.name == "Send Mail Task")
        .unwrap()
        .dtsid
        .clone();
    let s = start(vec![path.clone()]).await;

    // "New variable…", then the task's body from it and its HTML settings.
    let (st, v) = s
        .call(
            "POST",
            "/api/files/0/variables",
            true,
            Some(json!({"name": "MailBody", "value": "<p>Declaration {{ Task.Subject }}</p>"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["name"], "User::MailBody");
    let url = format!("/api/files/0/tasks/{task}");
    let (st, v) = s
        .call(
            "PUT",
            &url,
            true,
            Some(json!({
                "html": {"BodyFormat": "Html", "Template": "True"},
                "properties": {"MessageSourceType": "Variable", "MessageSource": "User::MailBody"},
            })),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = s.call("POST", "/api/files/0/save", true, None).await;
    assert_eq!(st, 200, "{v}");

    // The library reads them back as `run` and `inspect` use them.
    let pkg = smtpcm::dtsx::load_package(&path).unwrap();
    assert_eq!(pkg.format_version, 3);
    assert_eq!(
        pkg.variable("User::MailBody").unwrap().value,
        "<p>Declaration {{ Task.Subject }}</p>"
    );
    let exec = pkg.executables.iter().find(|e| e.dtsid == task).unwrap();
    let scope = smtpcm::expr::PackageScope::new(&pkg);
    let settings: Vec<(&str, String)> = smtpcm::package::task_settings(exec, &scope)
        .into_iter()
        .map(|r| r.map(|(t, v)| (t.name, v)).unwrap())
        .collect();
    assert_eq!(
        settings,
        [
            ("BodyFormat", "Html".to_owned()),
            ("Template", "True".to_owned())
        ]
    );
    let d = exec.send_mail().unwrap();
    assert_eq!(
        (d.message_source_type.as_str(), d.message_source.as_str()),
        ("Variable", "User::MailBody")
    );

    // Without the three new variable elements and the two changed attributes, the file is
    // the original, byte for byte; the new elements are in SSIS 2008's shape.
    let saved = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        saved
            .matches("<DTS:Property DTS:Name=\"Namespace\">smtpcm</DTS:Property>")
            .count(),
        2
    );
    assert!(saved.contains("<DTS:Property DTS:Name=\"IncludeInDebugDump\">2345</DTS:Property><DTS:VariableValue DTS:DataType=\"8\">&lt;p&gt;Declaration {{ Task.Subject }}&lt;/p&gt;</DTS:VariableValue>\n<DTS:Property DTS:Name=\"ObjectName\">MailBody</DTS:Property>"));
    let rest = without_variables(
        &saved,
        &[
            "<DTS:Property DTS:Name=\"Namespace\">smtpcm</DTS:Property>",
            "<DTS:Property DTS:Name=\"ObjectName\">MailBody</DTS:Property>",
        ],
    )
    .replacen(
        "SendMailTask:MessageSourceType=\"Variable\" SendMailTask:MessageSource=\"User::MailBody\"",
        "SendMailTask:MessageSourceType=\"DirectInput\" SendMailTask:MessageSource=\"\"",
        1,
    );
    assert_eq!(rest, original);

    // A new task's HTML settings are written inside it.
    let (st, t) = s
        .call(
            "POST",
            "/api/files/0/tasks",
            true,
            Some(json!({"name": "Notify"})),
        )
        .await;
    assert_eq!(st, 200, "{t}");
    let (st, v) = s
        .call(
            "PUT",
            &format!("/api/files/0/tasks/{}", enc(&t["id"])),
            true,
            Some(json!({"html": {"BodyFormat": "Html"}})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = s.call("POST", "/api/files/0/save", true, None).await;
    assert_eq!(st, 200, "{v}");
    let pkg = smtpcm::dtsx::load_package(&path).unwrap();
    let notify = pkg.executables.iter().find(|e| e.name == "Notify").unwrap();
    assert_eq!(notify.variables.len(), 1);
    assert_eq!(notify.variables[0].qualified_name(), "smtpcm::BodyFormat");
    assert_eq!(notify.variables[0].value, "Html");
}
