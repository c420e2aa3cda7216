//! `UseWindowsAuthentication=True`: System.Net.Mail's mechanism order on Linux.
//!
//! .NET tries Negotiate (sent as `AUTH GSSAPI`), then NTLM, and never LOGIN or PLAIN
//! with default credentials. Here GSSAPI is Kerberos through the system library and
//! NTLM uses credentials kept outside the package ([`NtlmCredentials`]). When Kerberos
//! cannot even start (no ticket, no library, unknown service) nothing has been sent
//! yet, so falling back to NTLM is safe; that fallback is logged and reported.

use super::credentials::{ENV_NTLM_PASSWORD, ENV_NTLM_USER, ENV_NTLM_USER_FILE, NtlmCredentials};
use super::gssapi::{Gssapi, GssapiError, TargetName};
use super::ntlm::Ntlm;
use super::{AuthError, Candidate};
use super::{Mechanism, ServerInfo};

/// The mechanisms Windows authentication may use, in System.Net.Mail's order.
pub const WINDOWS_MECHANISMS: [&str; 2] = ["GSSAPI", "NTLM"];

/// The service principal .NET uses when `TargetName` is not set: `SMTPSVC/<host>`.
///
/// ```
/// assert_eq!(smtpcm_engine::auth::windows::default_spn("mail.corp"), "SMTPSVC/mail.corp");
/// ```
pub fn default_spn(host: &str) -> String {
    format!("SMTPSVC/{host}")
}

/// The SPN to ask Kerberos for: `target_name` (for example `smtp/mail.corp`, which
/// Postfix and Cyrus expect) or the .NET default.
pub fn service_principal(host: &str, target_name: Option<&str>) -> String {
    match target_name.map(str::trim) {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => default_spn(host),
    }
}

fn ntlm_missing_hint() -> String {
    format!(
        "no NTLM credentials: set {ENV_NTLM_USER_FILE} (DOMAIN:user:password lines) or \
         {ENV_NTLM_USER} and {ENV_NTLM_PASSWORD}"
    )
}

fn gssapi_error(err: GssapiError) -> AuthError {
    match err {
        GssapiError::LibraryMissing { .. } => AuthError::GssapiLibraryMissing {
            message: err.to_string(),
        },
        GssapiError::NoCredentials { detail } => AuthError::NoKerberosTicket { detail },
        other @ GssapiError::Call { .. } => {
            AuthError::Mechanism(super::MechanismError::Unavailable {
                mechanism: "GSSAPI".into(),
                reason: other.to_string(),
            })
        }
    }
}

/// What Windows authentication is asked to do: the SPN override, NTLM credentials, and
/// optionally one mechanism only (`AuthMechanism=GSSAPI` or `NTLM`).
pub(crate) struct WindowsPlan<'a> {
    pub target_name: Option<&'a str>,
    pub ntlm: Option<&'a NtlmCredentials>,
    pub only: Option<&'a str>,
}

/// The candidates for Windows authentication against `server`, building GSSAPI with
/// `make_gssapi` (the real one is [`Gssapi::new`]; tests inject failures).
pub(crate) fn plan_with(
    server: &ServerInfo,
    request: &WindowsPlan<'_>,
    make_gssapi: impl FnOnce(&TargetName) -> Result<Box<dyn Mechanism>, GssapiError>,
) -> Result<Vec<Candidate>, AuthError> {
    let WindowsPlan {
        target_name,
        ntlm,
        only,
    } = *request;
    let wanted: Vec<String> = match only {
        Some(name) => vec![name.to_ascii_uppercase()],
        None => WINDOWS_MECHANISMS.iter().map(|s| s.to_string()).collect(),
    };
    if let Some(name) = only
        && !WINDOWS_MECHANISMS
            .iter()
            .any(|m| m.eq_ignore_ascii_case(name))
    {
        return Err(AuthError::InvalidConfig {
            key: "AuthMechanism".into(),
            reason: format!(
                "{name} cannot be used with UseWindowsAuthentication=True (use GSSAPI or NTLM)"
            ),
        });
    }
    let offers = |name: &str| {
        wanted.iter().any(|w| w == name)
            && server.offered.iter().any(|m| m.eq_ignore_ascii_case(name))
    };
    let ntlm_candidate = || match ntlm {
        Some(credentials) => Candidate::Ready(Box::new(Ntlm::new(credentials.clone()))),
        None => Candidate::Unavailable {
            mechanism: "NTLM".into(),
            error: AuthError::MissingCredentials {
                what: ntlm_missing_hint(),
            },
        },
    };
    let mut candidates = Vec::new();
    if offers("GSSAPI") {
        let spn = service_principal(&server.host, target_name);
        match make_gssapi(&TargetName::from_spn(&spn)) {
            Ok(mechanism) => candidates.push(Candidate::Ready(mechanism)),
            Err(err) => {
                let error = gssapi_error(err);
                // Kerberos is out and NTLM cannot take over: one error that names both.
                if !offers("NTLM") || ntlm.is_none() {
                    return Err(match (error, offers("NTLM")) {
                        (AuthError::NoKerberosTicket { detail }, true) => {
                            AuthError::NoKerberosTicket {
                                detail: format!(
                                    "{detail}; NTLM fallback impossible: {}",
                                    ntlm_missing_hint()
                                ),
                            }
                        }
                        (error, _) => error,
                    });
                }
                candidates.push(Candidate::Unavailable {
                    mechanism: "GSSAPI".into(),
                    error,
                });
            }
        }
    }
    if offers("NTLM") {
        candidates.push(ntlm_candidate());
    }
    if candidates.is_empty() {
        return Err(AuthError::NoSharedMechanism {
            offered: server.offered.clone(),
            wanted,
        });
    }
    Ok(candidates)
}

/// The candidates for Windows authentication, with Kerberos from the system library.
pub(crate) fn plan(
    server: &ServerInfo,
    request: &WindowsPlan<'_>,
) -> Result<Vec<Candidate>, AuthError> {
    plan_with(server, request, |target| {
        Gssapi::new(target).map(|m| Box::new(m) as Box<dyn Mechanism>)
    })
}
