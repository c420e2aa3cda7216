//! rustls client configuration: the ring provider, the platform verifier, optional extra
//! roots; one shared configuration per CA set, so TLS sessions resume.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

/// Shared configurations, keyed by the extra CA file's content (`None`: system roots only).
type ConfigCache = HashMap<Option<Vec<u8>>, Arc<rustls::ClientConfig>>;

/// The TLS client configuration for a set of extra CA certificates, built once per
/// process and shared.
///
/// rustls resumes a session (TLS 1.3 tickets, TLS 1.2 session IDs) only from the session
/// store of the *same* `ClientConfig`, so every connection of a connection manager and
/// of a pool must use one: a second connection to a server then skips the full
/// handshake. The cache key is the content of `extra_ca_file` (read on each call, so a
/// replaced file takes effect), not its path.
pub(crate) fn client_config(
    extra_ca_file: Option<&Path>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIGS: OnceLock<Mutex<ConfigCache>> = OnceLock::new();
    let pem = match extra_ca_file {
        Some(path) => Some(
            std::fs::read(path)
                .map_err(|e| format!("extra CA file {}: cannot read: {e}", path.display()))?,
        ),
        None => None,
    };
    let configs = CONFIGS.get_or_init(Default::default);
    // A poisoned lock only means another thread panicked while inserting: the map is
    // still valid.
    let mut configs = configs.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(config) = configs.get(&pem) {
        return Ok(config.clone());
    }
    let extra_roots = match (&pem, extra_ca_file) {
        (Some(pem), Some(path)) => parse_ca_file(path, pem)?,
        _ => Vec::new(),
    };
    let config = build(extra_roots)?;
    configs.insert(pem, config.clone());
    Ok(config)
}

/// Builds a TLS client configuration.
///
/// The ring provider is installed explicitly so the result never depends on a
/// process-wide default. Certificates are checked by the operating system's
/// verifier, trusting also `extra_roots`.
fn build(extra_roots: Vec<CertificateDer<'static>>) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra_roots, provider.clone())
            .map_err(|e| format!("cannot set up certificate verification: {e}"))?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .dangerous() // not dangerous: this installs the platform verifier, which verifies fully
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn parse_ca_file(path: &Path, data: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("extra CA file {}: invalid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "extra CA file {}: no CERTIFICATE block found",
            path.display()
        ));
    }
    Ok(certs)
}

/// The name the certificate must match: a DNS name or an IP address (brackets allowed).
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_string())
        .map_err(|e| format!("{host:?} cannot be checked against a certificate: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_config_per_ca_set() {
        let a = client_config(None).expect("system roots");
        let b = client_config(None).expect("system roots");
        assert!(Arc::ptr_eq(&a, &b), "the same CA set shares one config");
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".into()]).expect("cert");
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, ca.cert.pem()).expect("write");
        let c = client_config(Some(&path)).expect("extra CA");
        assert!(!Arc::ptr_eq(&a, &c), "another CA set, another config");
        let copy = dir.path().join("copy.pem");
        std::fs::copy(&path, &copy).expect("copy");
        let d = client_config(Some(&copy)).expect("extra CA");
        assert!(Arc::ptr_eq(&c, &d), "keyed by content, not path");
    }
}
