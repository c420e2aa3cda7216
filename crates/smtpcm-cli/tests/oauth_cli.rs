//! `smtpcm` getting OAuth2 tokens itself, against the real servers of
//! `scripts/test-servers.sh`: oidc-provider (scripts/servers/oidc.sh) issues the tokens and
//! Dovecot submission (scripts/servers/dovecot.sh) checks them by introspection, then relays
//! to the dumping smtp-sink, where the messages are read back.
//!
//! Every command runs with RUST_LOG=trace; each test then greps everything it printed and
//! every file it left for the client secret, the refresh tokens and the access tokens.
//! Skips with a message when the servers are not running; fails when CI=true.

#[path = "../../smtpcm/tests/support/servers.rs"]
mod servers;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use servers::TestServers;

const SECRET_VAR: &str = "SMTPCM_TEST_OAUTH_CLIENT_SECRET";

struct Oidc {
    servers: TestServers,
    issuer: String,
    token_url: String,
    secret: String,
    starttls: u16,
    implicit: u16,
    user: String,
    dir: tempfile::TempDir,
    /// Everything the commands printed, for the leak check.
    outputs: Vec<String>,
}

fn oidc() -> Option<Oidc> {
    let servers = TestServers::load()?;
    let keys = [
        "OIDC_ISSUER",
        "OIDC_TOKEN_URL",
        "OIDC_CLIENT_SECRET",
        "DOVECOT_SUBMISSION_PORT",
        "DOVECOT_SUBMISSIONS_PORT",
    ];
    if keys.iter().any(|k| servers.get(k).is_none()) {
        let message = "the OIDC provider and Dovecot are not in the test-server env file \
                       (restart scripts/test-servers.sh)";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true: {message}");
        }
        eprintln!("skipped: {message}");
        return None;
    }
    let get = |k: &str| servers.get(k).unwrap().to_string();
    Some(Oidc {
        issuer: get("OIDC_ISSUER"),
        token_url: get("OIDC_TOKEN_URL"),
        secret: get("OIDC_CLIENT_SECRET"),
        starttls: get("DOVECOT_SUBMISSION_PORT").parse().unwrap(),
        implicit: get("DOVECOT_SUBMISSIONS_PORT").parse().unwrap(),
        user: servers
            .get("OIDC_USER_EMAIL")
            .unwrap_or("alice@test.local")
            .to_string(),
        dir: tempfile::tempdir().unwrap(),
        outputs: Vec::new(),
        servers,
    })
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Oidc {
    fn smtpcm(&mut self, args: &[&str]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_smtpcm"))
            .args(args)
            .env("RUST_LOG", "trace")
            .env(SECRET_VAR, &self.secret)
            .stdin(Stdio::null())
            .output()
            .expect("run smtpcm");
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        self.outputs.push(run.stdout.clone());
        self.outputs.push(run.stderr.clone());
        run
    }

    /// `smtpcm send` through Dovecot with `auth` (the OAuth keys) appended.
    fn send(&mut self, port: u16, tls: &str, auth: &str, rcpt: &str) -> Run {
        let conn = format!(
            "SmtpServer=localhost;Port={port};TlsMode={tls};UserName={};{auth}",
            self.user
        );
        let ca = self.servers.ca_file().display().to_string();
        self.smtpcm(&[
            "send",
            "--connection",
            &conn,
            "--from",
            "sender@test.local",
            "--to",
            rcpt,
            "--subject",
            "oauth test",
            "--body",
            &format!("Hello {rcpt}."),
            "--ca-file",
            &ca,
        ])
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Asserts that no secret appears in anything printed or in any file left in the
    /// test's directory other than where the secret is meant to be stored.
    fn assert_no_leaks(&self, secrets: &[&str], stores: &[&Path]) {
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            for (i, output) in self.outputs.iter().enumerate() {
                assert!(
                    !output.contains(secret),
                    "a secret appeared in output #{i}:\n{output}"
                );
            }
            for entry in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
                if stores.contains(&entry.path().as_path()) {
                    continue;
                }
                let bytes = std::fs::read(entry.path()).unwrap_or_default();
                assert!(
                    !String::from_utf8_lossy(&bytes).contains(secret),
                    "a secret appeared in {}",
                    entry.path().display()
                );
            }
        }
    }
}

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "30"])
        .args(args)
        .output()
        .expect("curl (Debian package curl) is needed by the OAuth tests");
    assert!(out.status.success(), "curl {args:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value after `prefix` up to the next `"`.
fn between(text: &str, prefix: &str) -> String {
    let start = text
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix:?} not found in:\n{text}"))
        + prefix.len();
    text[start..].split('"').next().unwrap_or("").to_string()
}

fn json_field(json: &str, name: &str) -> String {
    between(json, &format!("\"{name}\":\""))
}

fn client_credentials_token(o: &Oidc) -> String {
    let body = curl(&[
        "-d",
        &format!(
            "grant_type=client_credentials&client_id=smtpcm&client_secret={}&scope=smtp",
            o.secret
        ),
        &o.token_url,
    ]);
    json_field(&body, "access_token")
}

fn assert_relayed(servers: &TestServers, rcpt: &str) {
    let dir = servers.sink_dump_dir();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read(e.path()).ok())
            .any(|b| String::from_utf8_lossy(&b).contains(&format!("Hello {rcpt}.")));
        if found {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no message for {rcpt} in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn client_credentials_xoauth2_over_starttls_and_oauthbearer_over_tls_via_discovery() {
    let Some(mut o) = oidc() else { return };
    let rcpt = o.servers.unique_recipient("oauth-cc-xoauth2");
    let auth = format!(
        "AuthMechanism=XOAUTH2;OAuthTokenUrl={};OAuthClientId=smtpcm;\
         OAuthClientSecretEnv={SECRET_VAR};OAuthScope=smtp",
        o.token_url
    );
    let run = o.send(o.starttls, "StartTls", &auth, &rcpt);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("fetching an OAuth2 access token"),
        "{}",
        run.stderr
    );
    assert_relayed(&o.servers, &rcpt);

    let rcpt = o.servers.unique_recipient("oauth-cc-oauthbearer");
    let auth = format!(
        "AuthMechanism=OAUTHBEARER;OAuthIssuer={};OAuthClientId=smtpcm;\
         OAuthClientSecretEnv={SECRET_VAR};OAuthScope=smtp",
        o.issuer
    );
    let run = o.send(o.implicit, "Implicit", &auth, &rcpt);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(".well-known/openid-configuration"),
        "{}",
        run.stderr
    );
    assert_relayed(&o.servers, &rcpt);
    let secret = o.secret.clone();
    o.assert_no_leaks(&[&secret], &[]);
}

/// Approves a device code through the provider's own pages: the user-code form, its
/// confirmation, then the login form of the interaction (login and consent).
fn approve_device_code(o: &Oidc, user_code: &str) {
    let jar = o.path("cookies");
    let jar = jar.to_str().unwrap();
    let device = format!("{}/device", o.issuer);
    let page = curl(&["-c", jar, "-b", jar, &device]);
    let xsrf = between(&page, "name=\"xsrf\" value=\"");
    let page = curl(&[
        "-c",
        jar,
        "-b",
        jar,
        "-d",
        &format!("xsrf={xsrf}&user_code={user_code}"),
        &device,
    ]);
    let xsrf = between(&page, "name=\"xsrf\" value=\"");
    let page = curl(&[
        "-L",
        "-c",
        jar,
        "-b",
        jar,
        "-d",
        &format!("xsrf={xsrf}&user_code={user_code}&confirm=yes"),
        &device,
    ]);
    let action = between(&page, "action=\"");
    let password = o
        .servers
        .get("OIDC_USER_PASSWORD")
        .expect("OIDC_USER_PASSWORD");
    let page = curl(&[
        "-L",
        "-c",
        jar,
        "-b",
        jar,
        "-d",
        &format!("login=alice&password={password}"),
        &format!("{}{action}", o.issuer),
    ]);
    assert!(
        page.contains("Sign-in Success"),
        "approval did not finish:\n{page}"
    );
    let _ = std::fs::remove_file(o.path("cookies"));
}

#[test]
fn device_flow_login_then_refresh_token_rotation() {
    let Some(mut o) = oidc() else { return };
    let refresh_file = o.path("refresh-token");
    let conn = format!(
        "SmtpServer=localhost;Port={};EnableSsl=True;UserName={};OAuthIssuer={};\
         OAuthClientId=smtpcm;OAuthClientSecretEnv={SECRET_VAR};OAuthScope=smtp;\
         OAuthRefreshTokenFile={}",
        o.starttls,
        o.user,
        o.issuer,
        refresh_file.display()
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_smtpcm"))
        .args(["oauth", "login", "--connection", &conn])
        .env("RUST_LOG", "trace")
        .env(SECRET_VAR, &o.secret)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("To sign in, open "), "{first}");
    let user_code = first.trim_end().rsplit(' ').next().unwrap().to_string();
    approve_device_code(&o, &user_code);
    let out = child.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    o.outputs
        .extend([first.clone(), rest.clone(), stderr.clone()]);
    assert_eq!(out.status.code(), Some(0), "{first}{rest}\n{stderr}");
    assert!(
        rest.contains("Signed in; refresh token stored in"),
        "{rest}"
    );
    let first_token = std::fs::read_to_string(&refresh_file)
        .unwrap()
        .trim()
        .to_string();
    assert!(!first_token.is_empty());
    #[cfg(unix)]
    assert_eq!(mode(&refresh_file), 0o600);

    // The refresh token buys an access token; the provider rotates it and the new one is
    // written back, still 0600.
    let rcpt = o.servers.unique_recipient("oauth-refresh");
    let auth = format!(
        "OAuthIssuer={};OAuthClientId=smtpcm;OAuthClientSecretEnv={SECRET_VAR};OAuthScope=smtp;\
         OAuthRefreshTokenFile={}",
        o.issuer,
        refresh_file.display()
    );
    let run = o.send(o.starttls, "StartTls", &auth, &rcpt);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_relayed(&o.servers, &rcpt);
    let second_token = std::fs::read_to_string(&refresh_file)
        .unwrap()
        .trim()
        .to_string();
    assert!(!second_token.is_empty());
    assert_ne!(
        first_token, second_token,
        "the refresh token was not rotated"
    );
    #[cfg(unix)]
    assert_eq!(mode(&refresh_file), 0o600);

    // The rotated-out token is dead: our credentials, exit 8, with the OAuth error code.
    let stale = o.path("stale-refresh-token");
    std::fs::write(&stale, format!("{first_token}\n")).unwrap();
    let auth = format!(
        "OAuthIssuer={};OAuthClientId=smtpcm;OAuthClientSecretEnv={SECRET_VAR};OAuthScope=smtp;\
         OAuthRefreshTokenFile={}",
        o.issuer,
        stale.display()
    );
    let run = o.send(
        o.starttls,
        "StartTls",
        &auth,
        &o.servers.unique_recipient("stale"),
    );
    assert_eq!(run.code, 8, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("invalid_grant"), "{}", run.stderr);
    assert!(
        run.stderr.contains("refused our credentials"),
        "{}",
        run.stderr
    );
    let secret = o.secret.clone();
    o.assert_no_leaks(
        &[&secret, &first_token, &second_token],
        &[&refresh_file, &stale],
    );
}

#[test]
fn token_command_works_and_a_revoked_token_is_exit_4() {
    let Some(mut o) = oidc() else { return };
    let token = client_credentials_token(&o);
    // The token file lives outside the test directory only in the command's argument.
    let token_file = o.path("access-token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let auth = format!(
        "AuthMechanism=XOAUTH2;TokenCommand=cat '{}'",
        token_file.display()
    );
    let rcpt = o.servers.unique_recipient("oauth-command");
    let run = o.send(o.starttls, "StartTls", &auth, &rcpt);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_relayed(&o.servers, &rcpt);

    let revocation = o
        .servers
        .get("OIDC_REVOCATION_URL")
        .expect("OIDC_REVOCATION_URL")
        .to_string();
    curl(&[
        "-d",
        &format!("token={token}&client_id=smtpcm&client_secret={}", o.secret),
        &revocation,
    ]);
    let run = o.send(
        o.starttls,
        "StartTls",
        &auth,
        &o.servers.unique_recipient("revoked"),
    );
    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains("with XOAUTH2") && last.contains("535"),
        "the error should name the mechanism and the reply: {last}"
    );
    let secret = o.secret.clone();
    o.assert_no_leaks(&[&secret, &token], &[&token_file]);
}

#[test]
fn provider_down_or_wrong_secret_is_exit_8_saying_whose_fault() {
    let Some(mut o) = oidc() else { return };
    // A port nothing listens on: bind one, note it, close it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let auth = format!(
        "OAuthTokenUrl=http://127.0.0.1:{closed}/token;OAuthClientId=smtpcm;\
         OAuthClientSecretEnv={SECRET_VAR};OAuthScope=smtp"
    );
    let run = o.send(
        o.starttls,
        "StartTls",
        &auth,
        &o.servers.unique_recipient("down"),
    );
    assert_eq!(run.code, 8, "{}\n{}", run.stdout, run.stderr);
    let last = run.stderr.lines().last().unwrap_or_default().to_string();
    assert!(last.contains("cannot reach http://127.0.0.1:"), "{last}");

    let wrong = o.path("wrong-secret");
    std::fs::write(&wrong, "not-the-client-secret\n").unwrap();
    let auth = format!(
        "OAuthTokenUrl={};OAuthClientId=smtpcm;OAuthClientSecretFile={};OAuthScope=smtp",
        o.token_url,
        wrong.display()
    );
    let run = o.send(
        o.starttls,
        "StartTls",
        &auth,
        &o.servers.unique_recipient("wrong"),
    );
    assert_eq!(run.code, 8, "{}\n{}", run.stdout, run.stderr);
    let last = run.stderr.lines().last().unwrap_or_default().to_string();
    assert!(
        last.contains("invalid_client") && last.contains("refused our credentials"),
        "{last}"
    );
    let secret = o.secret.clone();
    o.assert_no_leaks(&[&secret, "not-the-client-secret"], &[&wrong]);
}

/// Found before connecting: a token endpoint over plain http to a remote host (exit 2).
#[test]
fn plain_http_token_endpoint_off_loopback_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_smtpcm"))
        .args([
            "send",
            "--connection",
            "SmtpServer=mail.example.com;EnableSsl=True;UserName=a@example.com;\
             OAuthTokenUrl=http://idp.example.com/token;OAuthClientId=c;OAuthClientSecretEnv=X",
            "--from",
            "a@example.com",
            "--to",
            "b@example.com",
            "--subject",
            "s",
            "--body",
            "b",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("must use https"), "{stderr}");
}

/// `inspect` shows where tokens come from: grant, endpoint, client, scope and the names of
/// the variable and file holding secrets; a TokenCommand's command line (which may carry a
/// secret) is shown as `***`.
#[test]
fn inspect_shows_oauth_settings_never_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let conmgr = |name: &str, conn: &str| {
        let path = dir.path().join(format!("{name}.conmgr"));
        std::fs::write(
            &path,
            format!(
                "<?xml version=\"1.0\"?>\n<DTS:ConnectionManager \
                 xmlns:DTS=\"www.microsoft.com/SqlServer/Dts\" DTS:ObjectName=\"{name}\" \
                 DTS:DTSID=\"{{DF17110E-14D9-4F59-AAC4-AFB7AD480629}}\" DTS:CreationName=\"SMTP\">\n\
                 <DTS:ObjectData><SmtpConnectionManager ConnectionString=\"{conn}\" />\
                 </DTS:ObjectData></DTS:ConnectionManager>"
            ),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_smtpcm"))
            .arg("inspect")
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let stdout = conmgr(
        "O365",
        "SmtpServer=smtp.office365.com;UseWindowsAuthentication=False;EnableSsl=True;\
         UserName=app@contoso.com;OAuthProvider=Microsoft;OAuthTenant=contoso.onmicrosoft.com;\
         OAuthClientId=11111111-2222;OAuthClientSecretEnv=O365_SECRET;",
    );
    assert!(
        stdout.contains(
            "OAuth: client credentials, provider Microsoft, token endpoint \
             https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token, \
             client 11111111-2222, client secret from $O365_SECRET, \
             scope \"https://outlook.office365.com/.default\""
        ),
        "{stdout}"
    );
    let stdout = conmgr(
        "Cmd",
        "SmtpServer=smtp.gmail.com;UseWindowsAuthentication=False;EnableSsl=True;\
         UserName=me@gmail.com;TokenCommand=get-token --secret hunter2;",
    );
    assert!(!stdout.contains("hunter2"), "{stdout}");
    assert!(stdout.contains("TokenCommand=***;"), "{stdout}");
    assert!(
        stdout.contains("OAuth: TokenCommand (command line not shown)"),
        "{stdout}"
    );
}
