//! Unit tests of the connection string parser and writer.
use super::*;

fn err(s: &str) -> ConnectionStringError {
    match ConnectionString::parse(s) {
        Ok(p) => panic!("{s:?} parsed as {:?}", p.value),
        Err(e) => e,
    }
}

#[test]
fn canonical_forms_round_trip() {
    for s in [
        "SmtpServer=smtphost;UseWindowsAuthentication=False;EnableSsl=False;",
        "SmtpServer=mail.corp;UseWindowsAuthentication=True;EnableSsl=True;",
        "SmtpServer=;UseWindowsAuthentication=False;EnableSsl=False;",
        "SmtpServer=smtp.office365.com;UseWindowsAuthentication=True;EnableSsl=False;Timeout=30;",
    ] {
        assert_eq!(ConnectionString::parse(s).unwrap().value.to_string(), s);
    }
}

#[test]
fn generous_parsing() {
    let p = ConnectionString::parse(
        "  host = h ;; useWINDOWSauthentication = true ; ssl=TRUE; timeout=2000; user=bob",
    )
    .unwrap();
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let v = p.value;
    assert_eq!(v.smtp_server, "h");
    assert!(v.use_windows_authentication && v.enable_ssl);
    assert_eq!(v.timeout_ms, Some(2000));
    assert_eq!(v.user_name.as_deref(), Some("bob"));
}

#[test]
fn quoted_values_keep_semicolons_and_quotes() {
    let v: ConnectionString = r#"SmtpServer='h';PasswordFile="/a;b/""c"" d" ;"#.parse().unwrap();
    assert_eq!(v.smtp_server, "h");
    assert_eq!(v.password_file.as_deref(), Some(r#"/a;b/"c" d"#));
    let again: ConnectionString = v.to_string().parse().unwrap();
    assert_eq!(again, v);
}

#[test]
fn server_ports() {
    let v: ConnectionString = "SmtpServer=[::1]:2525;Port=2525".parse().unwrap();
    assert_eq!((v.host(), v.effective_port()), ("::1", 2525));
    let v = ConnectionString::new("fe80::1");
    assert_eq!((v.host(), v.effective_port()), ("fe80::1", 25));
    let v: ConnectionString = "SmtpServer=h;TlsMode=Implicit;EnableSsl=False"
        .parse()
        .unwrap();
    assert_eq!(
        (v.effective_tls(), v.effective_port()),
        (TlsMode::Implicit, 465)
    );
}

#[test]
fn errors_name_key_and_position() {
    let e = err("SmtpServer=h:25;UseWindowsAuthentication=False;Port=587");
    assert_eq!(e.key.as_deref(), Some("Port"));
    assert_eq!(e.position, 48);
    assert!(e.to_string().contains("contradicts"), "{e}");

    let e = err("SmtpServer=a;Server=b");
    assert_eq!((e.key.as_deref(), e.position), (Some("Server"), 14));
    assert_eq!(
        e.kind,
        ConnectionStringErrorKind::Duplicate { first_position: 1 }
    );

    let e = err("SmtpServer=a;EnableSsl=yes");
    assert_eq!(
        e.to_string(),
        r#"connection string: key "EnableSsl" at position 14: "yes" is not a boolean (True or False)"#
    );
    assert!(matches!(
        err("SmtpServer=h:x").kind,
        ConnectionStringErrorKind::BadServer { .. }
    ));
    assert!(matches!(
        err("SmtpServer=h;junk").kind,
        ConnectionStringErrorKind::MissingEquals(_)
    ));
    assert!(matches!(
        err("SmtpServer='h").kind,
        ConnectionStringErrorKind::UnterminatedQuote
    ));
    assert!(matches!(
        err("=x").kind,
        ConnectionStringErrorKind::EmptyKey
    ));
    assert!(matches!(
        err("Timeout=-1").kind,
        ConnectionStringErrorKind::NotTimeout(_)
    ));
    assert!(matches!(
        err("Port=0").kind,
        ConnectionStringErrorKind::NotPort(_)
    ));
    assert!(matches!(
        err("AuthMechanism=CRAM-MD5").kind,
        ConnectionStringErrorKind::NotMechanism(_)
    ));
}

#[test]
fn secrets_are_refused_without_echo() {
    let e = err("SmtpServer=h;Password=hunter2");
    assert_eq!(e.kind, ConnectionStringErrorKind::SecretNotAllowed);
    assert!(!e.to_string().contains("hunter2"));
    assert!(!format!("{e:?}").contains("hunter2"));
}

#[test]
fn unknown_keys_warn_and_round_trip_in_order() {
    let p = ConnectionString::parse("SmtpServer=h;Zeta=1;alpha=two words").unwrap();
    assert_eq!(p.warnings.len(), 2);
    assert_eq!(p.warnings[1].key, "alpha");
    assert_eq!(p.warnings[1].position, 21);
    assert_eq!(
        p.value.to_string(),
        "SmtpServer=h;UseWindowsAuthentication=False;EnableSsl=False;Zeta=1;alpha=two words;"
    );
}

/// Issue 9 point 12: the duplicate check was quadratic (200k keys: over 60 s). Not timed:
/// with the map this is a fraction of a second, with the old list search it never ends
/// in a test run.
#[test]
fn many_keys_parse_and_a_late_duplicate_is_found() {
    let mut s = String::from("SmtpServer=h;");
    for i in 0..200_000 {
        s.push_str(&format!("k{i}=v;"));
    }
    let p = ConnectionString::parse(&s).unwrap();
    assert_eq!(p.value.extra.len(), 200_000);
    s.push_str("K7=again;");
    let e = err(&s);
    assert_eq!(e.key.as_deref(), Some("K7"));
    assert_eq!(
        e.kind,
        ConnectionStringErrorKind::Duplicate {
            first_position: 14 + "k0=v;k1=v;k2=v;k3=v;k4=v;k5=v;k6=v;".len()
        }
    );
}

/// Issue 9 point 8: contradictions and odd values are errors naming the key.
#[test]
fn contradictions_and_zero_timeout_are_refused() {
    let e = err("SmtpServer=h;TlsMode=None;EnableSsl=True;");
    assert_eq!(
        e.kind,
        ConnectionStringErrorKind::TlsConflict(TlsMode::None)
    );
    assert_eq!((e.key.as_deref(), e.position), (Some("EnableSsl"), 27));
    let e = err("SmtpServer=h;EnableSsl=True; tls = StartTlsWhenAvailable");
    assert_eq!((e.key.as_deref(), e.position), (Some("tls"), 30));
    assert!(e.to_string().contains("contradicts EnableSsl=True"), "{e}");
    // SSIS always writes EnableSsl=False; TlsMode refines it rather than contradicting.
    for ok in [
        "SmtpServer=h;UseWindowsAuthentication=False;EnableSsl=False;TlsMode=Implicit;",
        "SmtpServer=h;EnableSsl=True;TlsMode=Implicit;",
        "SmtpServer=h;EnableSsl=True;TlsMode=StartTls;",
    ] {
        assert!(ConnectionString::parse(ok).is_ok(), "{ok}");
    }

    let e = err("SmtpServer=h;Timeout=0");
    assert_eq!(e.kind, ConnectionStringErrorKind::ZeroTimeout);
    assert_eq!(
        e.to_string(),
        "connection string: key \"Timeout\" at position 14: 0 is not a usable timeout; \
         give milliseconds (e.g. 100000, SSIS's default) or leave Timeout out"
    );
    let e = err("SmtpServer=h;Timeout=30000;Timeouts=Rfc5321");
    assert_eq!(e.kind, ConnectionStringErrorKind::TimeoutConflict(30000));
    assert_eq!(e.key.as_deref(), Some("Timeouts"));
    assert!(matches!(
        err("SmtpServer=h;Timeouts=fast").kind,
        ConnectionStringErrorKind::NotTimeoutPolicy(_)
    ));
    // Values set in code are checked the same way.
    let v = ConnectionString {
        timeout_ms: Some(0),
        ..ConnectionString::new("h")
    };
    assert_eq!(
        v.check().unwrap_err().kind,
        ConnectionStringErrorKind::ZeroTimeout
    );
}

/// Without Timeout, every stage waits SSIS's 100 s; RFC 5321's values are an option.
#[test]
fn default_timeout_is_ssis_and_rfc5321_is_an_option() {
    let v: ConnectionString = "SmtpServer=h".parse().unwrap();
    assert_eq!(v.effective_timeout_ms(), Some(DEFAULT_TIMEOUT_MS));
    let t = v.timeouts();
    for d in [
        t.connect,
        t.greeting,
        t.mail,
        t.rcpt,
        t.data_block,
        t.data_end,
    ] {
        assert_eq!(d, std::time::Duration::from_secs(100));
    }
    let s = "SmtpServer=h;UseWindowsAuthentication=False;EnableSsl=False;Timeouts=Rfc5321;";
    let v: ConnectionString = s.parse().unwrap();
    assert_eq!(v.timeouts(), smtpcm_engine::smtp::Timeouts::rfc5321());
    assert_eq!(v.effective_timeout_ms(), None);
    assert_eq!(v.to_string(), s, "round trip");
    let v: ConnectionString = "SmtpServer=h;timeouts=ssis".parse().unwrap();
    assert!(!v.rfc5321_timeouts);
}

#[test]
fn short_timeout_warns() {
    let p = ConnectionString::parse("SmtpServer=h;Timeout=30").unwrap();
    assert_eq!(p.warnings.len(), 1);
    assert!(p.warnings[0].to_string().contains("milliseconds"));
}

#[test]
fn extensions_written_in_fixed_order() {
    let v = ConnectionString {
        smtp_server: "h".into(),
        port: Some(587),
        tls_mode: Some(TlsMode::StartTls),
        user_name: Some("u".into()),
        auth_mechanism: Some("XOAUTH2".into()),
        token_env: Some("TOK".into()),
        allow_insecure_auth: true,
        ..Default::default()
    };
    assert_eq!(
        v.to_string(),
        "SmtpServer=h;UseWindowsAuthentication=False;EnableSsl=False;Port=587;TlsMode=StartTls;\
         UserName=u;AuthMechanism=XOAUTH2;TokenEnv=TOK;AllowInsecureAuth=True;"
    );
}

/// The OAuth keys (issue 13) parse case-insensitively, write back canonically, round-trip,
/// and a TokenCommand command line is redacted.
#[test]
fn oauth_keys_round_trip_and_token_command_is_redacted() {
    let written = "SmtpServer=smtp.gmail.com;UseWindowsAuthentication=False;EnableSsl=True;\
                   UserName=me@gmail.com;OAuthProvider=Google;OAuthTenant=t;OAuthIssuer=https://i;\
                   OAuthTokenUrl=https://t/token;OAuthClientId=c;OAuthClientSecretEnv=E;\
                   OAuthClientSecretFile=/s;OAuthScope=a b;OAuthRefreshTokenFile=/r;\
                   TokenCommand=\"pass show x; echo\";";
    let cs: ConnectionString = written.parse().unwrap();
    assert_eq!(cs.to_string(), written);
    assert_eq!(cs.oauth.provider, Some(OAuthProviderName::Google));
    assert_eq!(cs.oauth.scope.as_deref(), Some("a b"));
    let lower: ConnectionString = "SmtpServer=h;oauthprovider=MICROSOFT;oauthclientid=c"
        .parse()
        .unwrap();
    assert_eq!(lower.oauth.provider, Some(OAuthProviderName::Microsoft));
    assert_eq!(lower.oauth.client_id.as_deref(), Some("c"));
    let err = "SmtpServer=h;OAuthProvider=Yahoo"
        .parse::<ConnectionString>()
        .unwrap_err();
    assert!(err.to_string().contains("Microsoft or Google"), "{err}");
    assert_eq!(
        redact("SmtpServer=h;TokenCommand=get --secret s3cr3t;OAuthClientSecretEnv=E;"),
        "SmtpServer=h;TokenCommand=***;OAuthClientSecretEnv=E;"
    );
    // A secret value itself is still refused.
    assert!(
        "SmtpServer=h;ClientSecret=x"
            .parse::<ConnectionString>()
            .is_err()
    );
}
