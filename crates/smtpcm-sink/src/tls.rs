//! Certificates minted at start-up: a throw-away CA and a server certificate it signs.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

/// Names every sink certificate carries, so clients can verify `localhost` and both loopbacks.
const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The CA a client must trust, and the acceptor serving the certificate it issued.
pub(crate) struct TlsMaterial {
    pub(crate) ca_pem: String,
    pub(crate) acceptor: TlsAcceptor,
}

/// Mints a fresh CA and a server certificate for the loopback names plus `hostname`.
pub(crate) fn mint(hostname: &str) -> io::Result<TlsMaterial> {
    let ca_key = KeyPair::generate().map_err(|e| cert_error("generating the CA key", e))?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())
        .map_err(|e| cert_error("preparing the CA", e))?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "smtpcm-sink throw-away CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .map_err(|e| cert_error("signing the CA", e))?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut names: Vec<String> = LOOPBACK_NAMES.iter().map(|n| (*n).to_owned()).collect();
    let hostname = hostname.trim();
    if !hostname.is_empty() && !names.iter().any(|n| n.eq_ignore_ascii_case(hostname)) {
        names.push(hostname.to_owned());
    }
    let leaf_key = KeyPair::generate().map_err(|e| cert_error("generating the server key", e))?;
    let mut leaf_params = CertificateParams::new(names).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("hostname {hostname:?} cannot be a certificate name: {e}"),
        )
    })?;
    let common_name = if hostname.parse::<IpAddr>().is_ok() || hostname.is_empty() {
        "localhost"
    } else {
        hostname
    };
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    leaf_params.use_authority_key_identifier_extension = true;
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_cert = leaf_params
        .signed_by(&leaf_key, &issuer)
        .map_err(|e| cert_error("signing the server certificate", e))?;

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    // An explicit provider keeps this independent of whichever default another crate installs.
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error("choosing protocol versions", e))?
            .with_no_client_auth()
            .with_single_cert(vec![leaf_cert.der().clone(), ca_cert.der().clone()], key)
            .map_err(|e| tls_error("loading the server certificate", e))?;

    Ok(TlsMaterial {
        ca_pem: ca_cert.pem(),
        acceptor: TlsAcceptor::from(Arc::new(config)),
    })
}

fn cert_error(stage: &str, e: rcgen::Error) -> io::Error {
    io::Error::other(format!("certificate generation failed while {stage}: {e}"))
}

fn tls_error(stage: &str, e: rustls::Error) -> io::Error {
    io::Error::other(format!("TLS set-up failed while {stage}: {e}"))
}
