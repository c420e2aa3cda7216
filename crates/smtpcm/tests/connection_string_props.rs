//! Property tests and corpus round trips for the SSIS SMTP connection string.

#[path = "support/corpus.rs"]
mod corpus_support;
use corpus_support::corpus;

use proptest::prelude::*;
use smtpcm::connection_string::{ConnectionString, MECHANISMS};
use smtpcm_engine::security::TlsMode;
use smtpcm_engine::smtp::{DsnNotify, DsnRet, Extension};

/// Every `SmtpConnectionManager/@ConnectionString` in the corpus, with the file it came from.
fn corpus_connection_strings(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut files_with_cm = 0;
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("corpus directory is readable")
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "dtsx" || e == "conmgr"))
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).expect("corpus file is UTF-8");
        let text = text.trim_start_matches('\u{feff}');
        if text.contains("<SmtpConnectionManager") {
            files_with_cm += 1;
        }
        let doc = roxmltree::Document::parse(text)
            .unwrap_or_else(|e| panic!("{}: not XML: {e}", path.display()));
        for node in doc
            .descendants()
            .filter(|n| n.tag_name().name() == "SmtpConnectionManager")
        {
            if let Some(cs) = node.attribute("ConnectionString") {
                out.push((path.display().to_string(), cs.to_string()));
            }
        }
    }
    assert!(
        out.len() >= files_with_cm && files_with_cm > 0,
        "found {} connection strings in {files_with_cm} files with an SMTP connection manager",
        out.len()
    );
    out
}

#[test]
fn every_corpus_connection_string_parses_and_round_trips() {
    let Some(dir) = corpus() else { return };
    for (file, cs) in corpus_connection_strings(&dir) {
        let parsed = ConnectionString::parse(&cs).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(parsed.warnings.is_empty(), "{file}: {:?}", parsed.warnings);
        assert_eq!(parsed.value.to_string(), cs, "{file}");
        assert!(!parsed.value.host().is_empty(), "{file}: empty host");
    }
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,10}){0,3}",
        "(25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})(\\.(25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})){3}",
        Just("[::1]".to_string()),
        Just("fe80::1".to_string()),
        Just(String::new()),
    ]
}

fn text_value() -> impl Strategy<Value = String> {
    // Includes the characters that force quoting: ';', quotes, '=' and outer spaces.
    "[ a-zA-Z0-9_./\\\\;='\"-]{0,16}"
}

fn known_or_secret(key: &str) -> bool {
    let probe = format!("{key}=x");
    // A key is "ours" if parsing it alone does not produce an unknown-key warning.
    ConnectionString::parse(&probe)
        .map_or(true, |p| p.warnings.is_empty() || p.value.extra.is_empty())
}

/// `DisableExtensions`, `DsnNotify` and `DsnRet`.
fn extensions_and_dsn() -> impl Strategy<Value = (Vec<Extension>, Option<DsnNotify>, Option<DsnRet>)>
{
    (
        proptest::sample::subsequence(Extension::ALL.to_vec(), 0..=3),
        proptest::option::of((any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
            |(success, failure, delay)| DsnNotify {
                success,
                failure,
                delay,
            },
        )),
        proptest::option::of(prop_oneof![Just(DsnRet::Full), Just(DsnRet::Hdrs)]),
    )
}

prop_compose! {
    fn connection_string()(
        host in host(),
        server_port in proptest::option::of(1u16..),
        port_equal in any::<bool>(),
        other_port in proptest::option::of(1u16..),
        use_windows_authentication in any::<bool>(),
        enable_ssl in any::<bool>(),
        // 0 is refused, and a Timeout excludes Timeouts=Rfc5321.
        timeout_ms in proptest::option::of(1u32..),
        rfc5321_timeouts in any::<bool>(),
        tls_mode in proptest::option::of(prop_oneof![
            Just(TlsMode::None), Just(TlsMode::StartTls),
            Just(TlsMode::StartTlsWhenAvailable), Just(TlsMode::Implicit)]),
        texts in proptest::collection::vec(proptest::option::of(text_value()), 6),
        mechanism in proptest::option::of(proptest::sample::select(MECHANISMS.to_vec())),
        allow_insecure_auth in any::<bool>(),
        (disable_extensions, dsn_notify, dsn_ret) in extensions_and_dsn(),
        extra in proptest::collection::vec(("[A-Za-z][A-Za-z0-9 ]{0,8}[A-Za-z0-9]", text_value()), 0..4),
    ) -> ConnectionString {
        // A bare IPv6 address cannot carry a port; bracketed and named hosts can.
        let smtp_server = match server_port {
            Some(p) if host != "fe80::1" && !host.is_empty() => format!("{host}:{p}"),
            _ => host,
        };
        let written_port = ConnectionString::new(smtp_server.clone()).server_port();
        // Port= must agree with a port in SmtpServer; otherwise it is free.
        let port = match written_port {
            Some(p) if port_equal => Some(p),
            Some(_) => None,
            None => other_port,
        };
        let mut seen = std::collections::HashSet::new();
        let extra = extra
            .into_iter()
            .filter(|(k, _)| !known_or_secret(k) && seen.insert(k.to_ascii_lowercase()))
            .collect();
        // EnableSsl=True requires TLS, so TlsMode cannot be one that allows plain text.
        let tls_mode = match tls_mode {
            Some(TlsMode::None | TlsMode::StartTlsWhenAvailable) if enable_ssl => None,
            other => other,
        };
        ConnectionString {
            smtp_server,
            use_windows_authentication,
            enable_ssl,
            rfc5321_timeouts: rfc5321_timeouts && timeout_ms.is_none(),
            timeout_ms,
            port,
            tls_mode,
            target_name: texts[0].clone(),
            user_name: texts[1].clone(),
            auth_mechanism: mechanism.map(str::to_string),
            password_env: texts[2].clone(),
            password_file: texts[3].clone(),
            token_env: texts[4].clone(),
            token_file: texts[5].clone(),
            allow_insecure_auth,
            disable_extensions,
            dsn_notify,
            dsn_ret,
            oauth: Default::default(),
            extra,
        }
    }
}

proptest! {
    #[test]
    fn format_then_parse_is_identity(v in connection_string()) {
        let written = v.to_string();
        let back = ConnectionString::parse(&written)
            .map_err(|e| TestCaseError::fail(format!("{written:?}: {e}")))?;
        prop_assert_eq!(&back.value, &v, "written as {:?}", written);
        // Canonical output is a fixed point.
        prop_assert_eq!(back.value.to_string(), written);
    }

    #[test]
    fn parse_never_panics(s in "\\PC{0,64}") {
        let _ = ConnectionString::parse(&s);
    }

    #[test]
    fn parse_never_panics_on_key_value_soup(
        parts in proptest::collection::vec(
            ("(?i)(smtpserver|port|timeout|enablessl|tlsmode|x|)", "[ a-z0-9:\\[\\]'\";=.-]{0,10}"),
            0..6,
        )
    ) {
        let s: String = parts.iter().map(|(k, v)| format!("{k}={v};")).collect();
        if let Err(e) = ConnectionString::parse(&s) {
            // Every error points inside the input.
            prop_assert!(e.position >= 1 && e.position <= s.chars().count().max(1), "{}", e);
        }
    }
}

#[test]
fn extension_and_dsn_keys_parse_and_round_trip() {
    let p = ConnectionString::parse(
        "SmtpServer=h;DisableExtensions=pipelining, CHUNKING;DsnNotify=failure,delay;DsnRet=hdrs",
    )
    .unwrap();
    assert!(p.warnings.is_empty());
    assert_eq!(
        p.value.disable_extensions,
        [Extension::Pipelining, Extension::Chunking]
    );
    assert_eq!(
        p.value.to_string(),
        "SmtpServer=h;UseWindowsAuthentication=False;EnableSsl=False;\
         DisableExtensions=PIPELINING,CHUNKING;DsnNotify=FAILURE,DELAY;DsnRet=HDRS;"
    );
    let e = ConnectionString::parse("SmtpServer=h;DisableExtensions=PIPELINING,TURBO").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("DisableExtensions"));
    assert!(
        e.to_string().contains("\"TURBO\" is not an extension"),
        "{e}"
    );
    let e = ConnectionString::parse("SmtpServer=h;DsnNotify=ALWAYS").unwrap_err();
    assert!(e.to_string().contains("NOTIFY"), "{e}");
    let e = ConnectionString::parse("SmtpServer=h;DsnRet=BODY").unwrap_err();
    assert!(e.to_string().contains("FULL or HDRS"), "{e}");
}
