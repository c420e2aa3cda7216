//! `GSSAPI` (RFC 4752): Kerberos V5 through the system GSSAPI library.
//!
//! Credentials are whatever the library finds: the credential cache (`kinit`,
//! `KRB5CCNAME`), or with MIT Kerberos a client keytab named by `KRB5_CLIENT_KTNAME`,
//! which lets a headless service account authenticate without `kinit`.
//! The library is loaded at run time ([`super::gssapi_ffi`]), so builds need no C
//! toolchain and machines without it get [`GssapiError::LibraryMissing`].

use super::gssapi_ffi::{Context, Credentials, GssApi, GssCallError, Name};
use super::{Mechanism, MechanismError, ServerInfo};

/// Why the GSSAPI mechanism cannot be prepared.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum GssapiError {
    /// No system GSSAPI library could be loaded.
    #[error(
        "the Kerberos GSSAPI library is not installed (tried {}; {reason}): \
         install it with \"apt-get install libgssapi-krb5-2\" or \"dnf install krb5-libs\"",
        tried.join(", ")
    )]
    LibraryMissing { tried: Vec<String>, reason: String },
    /// The library has no usable initiator credentials.
    #[error("no Kerberos credentials: run kinit or set KRB5CCNAME ({detail})")]
    NoCredentials { detail: String },
    /// Any other GSSAPI failure, with the library's message.
    #[error("GSSAPI {stage}: {source}")]
    Call {
        stage: &'static str,
        source: GssCallError,
    },
}

/// The acceptor name as GSSAPI wants it, derived from an SPN such as `SMTPSVC/host`.
///
/// ```
/// use smtpcm_engine::auth::gssapi::TargetName;
/// assert_eq!(TargetName::from_spn("SMTPSVC/mail.corp"), TargetName::HostBased("SMTPSVC@mail.corp".into()));
/// assert_eq!(TargetName::from_spn("smtp@localhost"), TargetName::HostBased("smtp@localhost".into()));
/// assert_eq!(TargetName::from_spn("smtp/mx@CORP.EXAMPLE"), TargetName::Principal("smtp/mx@CORP.EXAMPLE".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TargetName {
    /// `service@host`, resolved to a principal by the library (realm from krb5.conf).
    HostBased(String),
    /// A full Kerberos principal `service/host@REALM`.
    Principal(String),
}

impl TargetName {
    /// `svc/host` → host-based `svc@host`; `svc/host@REALM` stays a principal;
    /// `svc@host` is already host-based.
    pub fn from_spn(spn: &str) -> TargetName {
        match spn.split_once('/') {
            Some((service, rest)) if rest.contains('@') => {
                TargetName::Principal(format!("{service}/{rest}"))
            }
            Some((service, host)) => TargetName::HostBased(format!("{service}@{host}")),
            None => TargetName::HostBased(spn.to_string()),
        }
    }
}

enum State {
    Initial,
    Establishing,
    /// Context done; waiting for the server's wrapped security-layer offer.
    AwaitingLayers,
    Done,
}

/// SASL `GSSAPI` with the Kerberos V5 mechanism and the RFC 4752 security-layer step
/// (unwrap the server's 4-byte offer, require "no security layer", reply `wrap([1,0,0,0])`).
pub struct Gssapi {
    api: &'static GssApi,
    credentials: Credentials,
    principal: String,
    target_text: String,
    target: Name,
    context: Context,
    state: State,
}

impl std::fmt::Debug for Gssapi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gssapi")
            .field("principal", &self.principal)
            .field("target", &self.target_text)
            .finish_non_exhaustive()
    }
}

/// RFC 4752 security-layer bit for "no security layer".
const LAYER_NONE: u8 = 0x01;

impl Gssapi {
    /// Load the library, import `target` and acquire the default credentials. Fails
    /// before anything is sent, so a caller can fall back to another mechanism.
    pub fn new(target: &TargetName) -> Result<Gssapi, GssapiError> {
        let api = GssApi::system().map_err(|err| GssapiError::LibraryMissing {
            tried: err.tried,
            reason: err.reason,
        })?;
        let (credentials, principal) = api.acquire_default_credentials().map_err(|err| {
            if err.is_missing_credentials() {
                GssapiError::NoCredentials {
                    detail: err.message,
                }
            } else {
                GssapiError::Call {
                    stage: "acquiring credentials",
                    source: err,
                }
            }
        })?;
        let (target_text, principal_form) = match target {
            TargetName::HostBased(name) => (name.clone(), false),
            TargetName::Principal(name) => (name.clone(), true),
        };
        let target = api
            .import_name(&target_text, principal_form)
            .map_err(|source| GssapiError::Call {
                stage: "importing the service name",
                source,
            })?;
        Ok(Gssapi {
            api,
            credentials,
            principal,
            target_text,
            target,
            context: Context::new(api),
            state: State::Initial,
        })
    }

    /// The Kerberos principal the credentials belong to, e.g. `alice@TEST.LOCAL`.
    pub fn principal(&self) -> &str {
        &self.principal
    }

    fn failed(&self, stage: &str, err: GssCallError) -> MechanismError {
        let reason = if err.is_missing_credentials() {
            format!("no Kerberos credentials: run kinit or set KRB5CCNAME ({err})")
        } else {
            format!("{stage} for {}: {err}", self.target_text)
        };
        MechanismError::Unavailable {
            mechanism: "GSSAPI".into(),
            reason,
        }
    }

    fn security_layer_reply(&mut self, challenge: &[u8]) -> Result<Vec<u8>, MechanismError> {
        let offer = self
            .context
            .unwrap(challenge)
            .map_err(|err| MechanismError::BadChallenge {
                mechanism: "GSSAPI".into(),
                reason: format!("cannot unwrap the security-layer offer: {err}"),
            })?;
        let Some(&layers) = offer.first().filter(|_| offer.len() == 4) else {
            return Err(MechanismError::BadChallenge {
                mechanism: "GSSAPI".into(),
                reason: format!(
                    "security-layer offer is {} bytes, RFC 4752 requires 4",
                    offer.len()
                ),
            });
        };
        if layers & LAYER_NONE == 0 {
            return Err(MechanismError::BadChallenge {
                mechanism: "GSSAPI".into(),
                reason: format!(
                    "server requires a security layer (offer {layers:#04x}); only \"no security layer\" is supported"
                ),
            });
        }
        self.context
            .wrap(&[LAYER_NONE, 0, 0, 0])
            .map_err(|err| self.failed("wrapping the security-layer choice", err))
    }
}

impl Mechanism for Gssapi {
    fn name(&self) -> &str {
        "GSSAPI"
    }

    fn identity(&self) -> String {
        self.principal.clone()
    }

    fn start(&mut self, _server: &ServerInfo) -> Result<Option<Vec<u8>>, MechanismError> {
        self.context = Context::new(self.api);
        let step = self
            .context
            .step(&self.credentials, &self.target, None)
            .map_err(|err| self.failed("getting a service ticket", err))?;
        self.state = if step.complete {
            State::AwaitingLayers
        } else {
            State::Establishing
        };
        Ok(Some(step.token))
    }

    fn next(&mut self, challenge: &[u8]) -> Result<Vec<u8>, MechanismError> {
        match self.state {
            State::Establishing => {
                let step = self
                    .context
                    .step(&self.credentials, &self.target, Some(challenge))
                    .map_err(|err| self.failed("completing the security context", err))?;
                if step.complete {
                    self.state = State::AwaitingLayers;
                }
                Ok(step.token)
            }
            State::AwaitingLayers => {
                // Some servers send an empty challenge before the layer offer.
                if challenge.is_empty() {
                    return Ok(Vec::new());
                }
                self.state = State::Done;
                self.security_layer_reply(challenge)
            }
            State::Initial | State::Done => Err(MechanismError::BadChallenge {
                mechanism: "GSSAPI".into(),
                reason: "challenge received outside the exchange".into(),
            }),
        }
    }
}
