//! TLS against a tiny in-test rustls acceptor on loopback: STARTTLS and implicit TLS,
//! with certificates made by rcgen. Verification must fail without the test CA and
//! succeed when it is given as `extra_ca_file`.

#[path = "fixtures/smtp/script_server.rs"]
mod script_server;

use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use script_server::{Delivery, Script, Step, replay, step, text};
use smtpcm_engine::smtp::{Client, ClientConfig, ErrorKind, SmtpError, Stage, Timeouts, TlsMode};

struct Pki {
    acceptor: tokio_rustls::TlsAcceptor,
    ca_file: tempfile::NamedTempFile,
}

/// A CA, and a server certificate it signed for `names` (DNS names or IP addresses).
fn pki(names: &[&str]) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("ca key"))
        .expect("ca cert");
    let server_key = KeyPair::generate().expect("server key");
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let server_cert = CertificateParams::new(names)
        .expect("server params")
        .signed_by(&server_key, &ca)
        .expect("server cert");
    let ca_file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(ca_file.path(), ca.pem()).expect("write CA");

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(server_cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        )
        .expect("server config");
    Pki {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        ca_file,
    }
}

const GREETING: &str = "220 mx.test ESMTP\r\n";
const EHLO: &str = "EHLO client.test\r\n";

fn config(port: u16, tls: TlsMode, ca: Option<&Pki>) -> ClientConfig {
    let mut cfg = ClientConfig::new("127.0.0.1", port, tls);
    cfg.helo_name = Some("client.test".into());
    cfg.timeouts = Timeouts::uniform(Duration::from_secs(5));
    cfg.extra_ca_file = ca.map(|p| p.ca_file.path().to_path_buf());
    cfg
}

fn quit() -> Step {
    Step {
        close: true,
        ..step("QUIT\r\n", "221 Bye\r\n")
    }
}

fn starttls_script(pki: &Pki) -> Script {
    let mut script = Script::new(
        GREETING,
        vec![
            step(EHLO, "250-mx.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n"),
            Step {
                tls_after: true,
                ..step("STARTTLS\r\n", "220 2.0.0 Ready to start TLS\r\n")
            },
            // Inside TLS the server offers AUTH, which it did not in clear.
            step(EHLO, "250-mx.test\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n"),
            quit(),
        ],
    );
    script.tls = Some(pki.acceptor.clone());
    script
}

#[tokio::test]
async fn starttls_verifies_with_the_extra_ca() {
    let pki = pki(&["127.0.0.1", "localhost"]);
    let script = starttls_script(&pki);
    for delivery in Delivery::ALL {
        let (result, sent) = replay(script.clone(), delivery, |port| {
            let cfg = config(port, TlsMode::StartTls, Some(&pki));
            async move {
                let c = Client::connect(&cfg).await?;
                let facts = (
                    c.is_tls(),
                    c.tls_info(),
                    c.capabilities().auth_mechanisms.clone(),
                );
                c.quit().await?;
                Ok::<_, SmtpError>(facts)
            }
        })
        .await;
        let (is_tls, info, auth) = result.expect("STARTTLS session");
        assert!(is_tls);
        let info = info.expect("tls info");
        assert!(info.starts_with("TLSv1."), "{info}");
        assert_eq!(
            auth,
            ["PLAIN"],
            "capabilities come from the EHLO inside TLS"
        );
        assert_eq!(text(&sent), text(&script.expected_client_bytes()));
    }
}

#[tokio::test]
async fn implicit_tls_verifies_with_the_extra_ca() {
    let pki = pki(&["127.0.0.1"]);
    let mut script = Script::new(GREETING, vec![step(EHLO, "250 mx.test\r\n"), quit()]);
    script.tls = Some(pki.acceptor.clone());
    script.implicit_tls = true;
    let (result, sent) = replay(script.clone(), Delivery::Bytes, |port| {
        let cfg = config(port, TlsMode::Implicit, Some(&pki));
        async move {
            let c = Client::connect(&cfg).await?;
            let tls = c.is_tls();
            c.quit().await?;
            Ok::<_, SmtpError>(tls)
        }
    })
    .await;
    assert!(result.expect("implicit TLS session"));
    assert_eq!(text(&sent), text(&script.expected_client_bytes()));
}

fn assert_verification_failed(err: &SmtpError) {
    assert!(err.is_tls(), "{err}");
    assert_eq!(err.stage(), Stage::TlsHandshake, "{err}");
    assert!(matches!(err.kind(), ErrorKind::Tls(_)));
    assert!(err.to_string().contains("certificate"), "{err}");
}

#[tokio::test]
async fn unknown_ca_fails_verification() {
    let pki = pki(&["127.0.0.1"]);
    // STARTTLS: nothing is sent after the failed handshake.
    let mut script = starttls_script(&pki);
    script.steps.truncate(2);
    let (result, sent) = replay(script.clone(), Delivery::Whole, |port| {
        let cfg = config(port, TlsMode::StartTls, None);
        async move { Client::connect(&cfg).await.expect_err("must not trust") }
    })
    .await;
    assert_verification_failed(&result);
    assert_eq!(text(&sent), text(&script.expected_client_bytes()));

    let mut script = Script::new(GREETING, vec![]);
    script.tls = Some(pki.acceptor.clone());
    script.implicit_tls = true;
    let (result, _) = replay(script, Delivery::Whole, |port| {
        let cfg = config(port, TlsMode::Implicit, None);
        async move { Client::connect(&cfg).await.expect_err("must not trust") }
    })
    .await;
    assert_verification_failed(&result);
}

#[tokio::test]
async fn certificate_for_another_name_fails_even_with_the_ca() {
    let pki = pki(&["mail.example.com"]);
    let mut script = Script::new(GREETING, vec![]);
    script.tls = Some(pki.acceptor.clone());
    script.implicit_tls = true;
    let (result, _) = replay(script, Delivery::Whole, |port| {
        let cfg = config(port, TlsMode::Implicit, Some(&pki));
        async move { Client::connect(&cfg).await.expect_err("name mismatch") }
    })
    .await;
    assert_verification_failed(&result);
}

#[tokio::test]
async fn unreadable_ca_file_is_named_in_the_error() {
    let mut cfg = ClientConfig::new("127.0.0.1", 9, TlsMode::StartTls);
    cfg.extra_ca_file = Some("/nonexistent/smtpcm-test-ca.pem".into());
    let err = Client::connect(&cfg).await.expect_err("bad CA file");
    assert!(err.is_tls());
    assert!(
        err.to_string().contains("/nonexistent/smtpcm-test-ca.pem"),
        "{err}"
    );
}
