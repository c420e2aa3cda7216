//! The handful of GSSAPI (RFC 2744) C functions Kerberos needs, loaded at run time.
//!
//! Loading `libgssapi_krb5.so.2` with `libloading` instead of linking it keeps the
//! default build free of C dependencies (no `libkrb5-dev`, `pkg-config` or bindgen),
//! while Kerberos still works wherever the system library is installed. The raw
//! handles are wrapped in owners that release them on drop.

use std::ffi::c_void;
use std::sync::OnceLock;

use libloading::Library;

/// Libraries tried in order: MIT (runtime and development names), then Heimdal.
pub const LIBRARY_CANDIDATES: &[&str] =
    &["libgssapi_krb5.so.2", "libgssapi_krb5.so", "libgssapi.so.3"];

type OmUint32 = u32;

#[repr(C)]
struct BufferDesc {
    length: usize,
    value: *mut c_void,
}

impl BufferDesc {
    fn empty() -> Self {
        BufferDesc {
            length: 0,
            value: std::ptr::null_mut(),
        }
    }

    /// Borrow `bytes` as an input buffer; GSSAPI never writes through input buffers.
    fn borrowed(bytes: &[u8]) -> Self {
        BufferDesc {
            length: bytes.len(),
            value: bytes.as_ptr() as *mut c_void,
        }
    }
}

#[repr(C)]
struct OidDesc {
    length: OmUint32,
    elements: *mut c_void,
}

type Oid = *mut OidDesc;
type RawName = *mut c_void;
type RawCred = *mut c_void;
type RawCtx = *mut c_void;

/// DER body of 1.2.840.113554.1.2.1.4, `GSS_C_NT_HOSTBASED_SERVICE` ("service@host").
const NT_HOSTBASED_SERVICE: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x01\x04";
/// DER body of 1.2.840.113554.1.2.2.1, `GSS_KRB5_NT_PRINCIPAL_NAME` ("svc/host@REALM").
const NT_KRB5_PRINCIPAL: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x01";
/// DER body of 1.2.840.113554.1.2.2, the Kerberos V5 mechanism (RFC 4752 wants raw krb5).
const MECH_KRB5: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02";

const GSS_C_MUTUAL_FLAG: OmUint32 = 2;
const GSS_C_SEQUENCE_FLAG: OmUint32 = 8;
const GSS_C_CONF_FLAG: OmUint32 = 16;
const GSS_C_INTEG_FLAG: OmUint32 = 32;
const GSS_C_INITIATE: i32 = 1;
const GSS_C_GSS_CODE: i32 = 1;
const GSS_C_MECH_CODE: i32 = 2;
const GSS_C_INDEFINITE: OmUint32 = 0xffff_ffff;

const GSS_S_CONTINUE_NEEDED: OmUint32 = 1;
/// Routine-error part of a major status (calling errors are in the top byte).
const ROUTINE_ERROR_MASK: OmUint32 = 0xffff_0000;
const GSS_S_NO_CRED: OmUint32 = 7 << 16;
const GSS_S_CREDENTIALS_EXPIRED: OmUint32 = 11 << 16;

type ImportName =
    unsafe extern "C" fn(*mut OmUint32, *mut BufferDesc, Oid, *mut RawName) -> OmUint32;
type DisplayName =
    unsafe extern "C" fn(*mut OmUint32, RawName, *mut BufferDesc, *mut Oid) -> OmUint32;
type ReleaseName = unsafe extern "C" fn(*mut OmUint32, *mut RawName) -> OmUint32;
type AcquireCred = unsafe extern "C" fn(
    *mut OmUint32,
    RawName,
    OmUint32,
    *mut c_void,
    i32,
    *mut RawCred,
    *mut c_void,
    *mut OmUint32,
) -> OmUint32;
type InquireCred = unsafe extern "C" fn(
    *mut OmUint32,
    RawCred,
    *mut RawName,
    *mut OmUint32,
    *mut i32,
    *mut c_void,
) -> OmUint32;
type ReleaseCred = unsafe extern "C" fn(*mut OmUint32, *mut RawCred) -> OmUint32;
type InitSecContext = unsafe extern "C" fn(
    *mut OmUint32,
    RawCred,
    *mut RawCtx,
    RawName,
    Oid,
    OmUint32,
    OmUint32,
    *mut c_void,
    *mut BufferDesc,
    *mut Oid,
    *mut BufferDesc,
    *mut OmUint32,
    *mut OmUint32,
) -> OmUint32;
type DeleteSecContext =
    unsafe extern "C" fn(*mut OmUint32, *mut RawCtx, *mut BufferDesc) -> OmUint32;
type Wrap = unsafe extern "C" fn(
    *mut OmUint32,
    RawCtx,
    i32,
    OmUint32,
    *mut BufferDesc,
    *mut i32,
    *mut BufferDesc,
) -> OmUint32;
type Unwrap = unsafe extern "C" fn(
    *mut OmUint32,
    RawCtx,
    *mut BufferDesc,
    *mut BufferDesc,
    *mut i32,
    *mut OmUint32,
) -> OmUint32;
type ReleaseBuffer = unsafe extern "C" fn(*mut OmUint32, *mut BufferDesc) -> OmUint32;
type DisplayStatus = unsafe extern "C" fn(
    *mut OmUint32,
    OmUint32,
    i32,
    Oid,
    *mut OmUint32,
    *mut BufferDesc,
) -> OmUint32;

/// A GSSAPI call failed; `message` is the library's own text (major and minor status).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{call} failed: {message}")]
pub struct GssCallError {
    /// The C function that failed, for example `gss_init_sec_context`.
    pub call: &'static str,
    /// Major status code.
    pub major: u32,
    /// Mechanism (minor) status code.
    pub minor: u32,
    /// Human-readable text from `gss_display_status`.
    pub message: String,
}

impl GssCallError {
    /// Whether the failure means there are no (usable) initiator credentials.
    pub fn is_missing_credentials(&self) -> bool {
        matches!(
            self.major & ROUTINE_ERROR_MASK,
            GSS_S_NO_CRED | GSS_S_CREDENTIALS_EXPIRED
        )
    }
}

/// The system GSSAPI library, with the functions we call resolved.
pub struct GssApi {
    // Kept so the function pointers below stay valid for the life of the process.
    _library: Library,
    import_name: ImportName,
    display_name: DisplayName,
    release_name: ReleaseName,
    acquire_cred: AcquireCred,
    inquire_cred: InquireCred,
    release_cred: ReleaseCred,
    init_sec_context: InitSecContext,
    delete_sec_context: DeleteSecContext,
    wrap: Wrap,
    unwrap: Unwrap,
    release_buffer: ReleaseBuffer,
    display_status: DisplayStatus,
}

/// The system GSSAPI library could not be loaded.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}")]
pub struct LoadError {
    /// The file names tried, in order.
    pub tried: Vec<String>,
    /// Why each failed (the last loader message, or the missing symbol).
    pub reason: String,
}

impl GssApi {
    /// The process-wide library, loaded on first use from [`LIBRARY_CANDIDATES`].
    pub fn system() -> Result<&'static GssApi, LoadError> {
        static SYSTEM: OnceLock<Result<GssApi, LoadError>> = OnceLock::new();
        SYSTEM
            .get_or_init(|| GssApi::load(LIBRARY_CANDIDATES))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Load the first of `candidates` that opens and has every function we need.
    pub fn load(candidates: &[&str]) -> Result<GssApi, LoadError> {
        let mut reasons = Vec::new();
        for name in candidates {
            // SAFETY: loading a system GSSAPI library runs only its ELF initialisers,
            // which for MIT and Heimdal set up error tables and nothing else.
            match unsafe { Library::new(*name) } {
                Ok(library) => match GssApi::resolve(library) {
                    Ok(api) => return Ok(api),
                    Err(reason) => reasons.push(format!("{name}: {reason}")),
                },
                Err(err) => reasons.push(format!("{name}: {err}")),
            }
        }
        Err(LoadError {
            tried: candidates.iter().map(|s| s.to_string()).collect(),
            reason: reasons.join("; "),
        })
    }

    fn resolve(library: Library) -> Result<GssApi, String> {
        macro_rules! symbol {
            ($name:literal) => {
                // SAFETY: the type aliases above follow RFC 2744's C prototypes, as
                // declared by MIT's and Heimdal's gssapi.h on LP64 Unix.
                *unsafe { library.get(concat!($name, "\0").as_bytes()) }
                    .map_err(|err| format!("missing {}: {err}", $name))?
            };
        }
        Ok(GssApi {
            import_name: symbol!("gss_import_name"),
            display_name: symbol!("gss_display_name"),
            release_name: symbol!("gss_release_name"),
            acquire_cred: symbol!("gss_acquire_cred"),
            inquire_cred: symbol!("gss_inquire_cred"),
            release_cred: symbol!("gss_release_cred"),
            init_sec_context: symbol!("gss_init_sec_context"),
            delete_sec_context: symbol!("gss_delete_sec_context"),
            wrap: symbol!("gss_wrap"),
            unwrap: symbol!("gss_unwrap"),
            release_buffer: symbol!("gss_release_buffer"),
            display_status: symbol!("gss_display_status"),
            _library: library,
        })
    }

    fn error(&self, call: &'static str, major: OmUint32, minor: OmUint32) -> GssCallError {
        let mut parts = self.status_text(major, GSS_C_GSS_CODE);
        if minor != 0 {
            parts.extend(self.status_text(minor, GSS_C_MECH_CODE));
        }
        GssCallError {
            call,
            major,
            minor,
            message: parts.join(": "),
        }
    }

    fn status_text(&self, status: OmUint32, kind: i32) -> Vec<String> {
        let mut texts = Vec::new();
        let mut context: OmUint32 = 0;
        // gss_display_status hands out one line per call; the bound guards against a
        // library that never resets the context.
        for _ in 0..8 {
            let mut minor = 0;
            let mut buffer = BufferDesc::empty();
            // SAFETY: all pointers are to live locals; the buffer is released below.
            let major = unsafe {
                (self.display_status)(
                    &mut minor,
                    status,
                    kind,
                    std::ptr::null_mut(),
                    &mut context,
                    &mut buffer,
                )
            };
            if major & ROUTINE_ERROR_MASK != 0 {
                break;
            }
            let text = self.take_buffer(&mut buffer);
            let text = String::from_utf8_lossy(&text).trim().to_string();
            if !text.is_empty() {
                texts.push(text);
            }
            if context == 0 {
                break;
            }
        }
        texts
    }

    /// Copy a library-owned buffer into Rust memory and release it.
    fn take_buffer(&self, buffer: &mut BufferDesc) -> Vec<u8> {
        let bytes = if buffer.value.is_null() || buffer.length == 0 {
            Vec::new()
        } else {
            // SAFETY: the library filled `value` with `length` readable bytes.
            unsafe { std::slice::from_raw_parts(buffer.value as *const u8, buffer.length) }.to_vec()
        };
        let mut minor = 0;
        // SAFETY: the buffer came from this library and is released exactly once.
        unsafe { (self.release_buffer)(&mut minor, buffer) };
        *buffer = BufferDesc::empty();
        bytes
    }

    /// Import a name: `service@host` (host-based) or a full `svc/host@REALM` principal.
    pub fn import_name(&'static self, text: &str, principal: bool) -> Result<Name, GssCallError> {
        let oid_bytes = if principal {
            NT_KRB5_PRINCIPAL
        } else {
            NT_HOSTBASED_SERVICE
        };
        let mut oid = OidDesc {
            length: oid_bytes.len() as OmUint32,
            elements: oid_bytes.as_ptr() as *mut c_void,
        };
        let mut input = BufferDesc::borrowed(text.as_bytes());
        let mut raw: RawName = std::ptr::null_mut();
        let mut minor = 0;
        // SAFETY: input and OID point into live memory the library only reads.
        let major = unsafe { (self.import_name)(&mut minor, &mut input, &mut oid, &mut raw) };
        if major & ROUTINE_ERROR_MASK != 0 {
            return Err(self.error("gss_import_name", major, minor));
        }
        Ok(Name { api: self, raw })
    }

    /// The default initiator credentials (credential cache or client keytab), with
    /// the principal they belong to.
    pub fn acquire_default_credentials(
        &'static self,
    ) -> Result<(Credentials, String), GssCallError> {
        let mut raw: RawCred = std::ptr::null_mut();
        let mut minor = 0;
        // SAFETY: GSS_C_NO_NAME, default mechanisms, and out-pointers to live locals.
        let major = unsafe {
            (self.acquire_cred)(
                &mut minor,
                std::ptr::null_mut(),
                GSS_C_INDEFINITE,
                std::ptr::null_mut(),
                GSS_C_INITIATE,
                &mut raw,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if major & ROUTINE_ERROR_MASK != 0 {
            return Err(self.error("gss_acquire_cred", major, minor));
        }
        let credentials = Credentials { api: self, raw };
        let mut name: RawName = std::ptr::null_mut();
        let mut lifetime: OmUint32 = 0;
        // SAFETY: `raw` is the credential just acquired; out-pointers are live locals.
        let major = unsafe {
            (self.inquire_cred)(
                &mut minor,
                credentials.raw,
                &mut name,
                &mut lifetime,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if major & ROUTINE_ERROR_MASK != 0 {
            return Err(self.error("gss_inquire_cred", major, minor));
        }
        let name = Name {
            api: self,
            raw: name,
        };
        if lifetime == 0 {
            return Err(GssCallError {
                call: "gss_inquire_cred",
                major: GSS_S_CREDENTIALS_EXPIRED,
                minor: 0,
                message: format!("the credentials of {} have expired", name.display()),
            });
        }
        let principal = name.display();
        Ok((credentials, principal))
    }
}

/// An imported GSSAPI name, released on drop.
pub struct Name {
    api: &'static GssApi,
    raw: RawName,
}

impl Name {
    /// The name as text (for reports); empty if the library cannot display it.
    pub fn display(&self) -> String {
        let mut buffer = BufferDesc::empty();
        let mut minor = 0;
        // SAFETY: `raw` is a live name owned by self; the buffer is released by take_buffer.
        let major = unsafe {
            (self.api.display_name)(&mut minor, self.raw, &mut buffer, std::ptr::null_mut())
        };
        if major & ROUTINE_ERROR_MASK != 0 {
            return String::new();
        }
        String::from_utf8_lossy(&self.api.take_buffer(&mut buffer)).into_owned()
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        if !self.raw.is_null() {
            let mut minor = 0;
            // SAFETY: released once; the pointer is nulled by the library.
            unsafe { (self.api.release_name)(&mut minor, &mut self.raw) };
        }
    }
}

/// Acquired initiator credentials, released on drop.
pub struct Credentials {
    api: &'static GssApi,
    raw: RawCred,
}

impl Drop for Credentials {
    fn drop(&mut self) {
        if !self.raw.is_null() {
            let mut minor = 0;
            // SAFETY: released once; the pointer is nulled by the library.
            unsafe { (self.api.release_cred)(&mut minor, &mut self.raw) };
        }
    }
}

/// An initiator security context for the Kerberos mechanism, deleted on drop.
pub struct Context {
    api: &'static GssApi,
    raw: RawCtx,
}

// SAFETY: GSSAPI handles are plain heap objects; MIT and Heimdal allow a handle to be
// used from any thread as long as calls on it are not concurrent, which `&mut self`
// on every operation guarantees.
unsafe impl Send for Context {}
unsafe impl Send for Credentials {}
unsafe impl Send for Name {}

/// One step of context establishment.
pub struct Step {
    /// The token to send (may be empty).
    pub token: Vec<u8>,
    /// Whether the context is established.
    pub complete: bool,
}

impl Context {
    /// A context not yet started.
    pub fn new(api: &'static GssApi) -> Self {
        Context {
            api,
            raw: std::ptr::null_mut(),
        }
    }

    /// Call `gss_init_sec_context` with the server's `input` token (none on the first call).
    pub fn step(
        &mut self,
        credentials: &Credentials,
        target: &Name,
        input: Option<&[u8]>,
    ) -> Result<Step, GssCallError> {
        let mut mech = OidDesc {
            length: MECH_KRB5.len() as OmUint32,
            elements: MECH_KRB5.as_ptr() as *mut c_void,
        };
        let mut input_buffer = input.map(BufferDesc::borrowed);
        let input_ptr = input_buffer
            .as_mut()
            .map_or(std::ptr::null_mut(), |b| b as *mut BufferDesc);
        let mut output = BufferDesc::empty();
        let mut minor = 0;
        let flags = GSS_C_MUTUAL_FLAG | GSS_C_SEQUENCE_FLAG | GSS_C_INTEG_FLAG | GSS_C_CONF_FLAG;
        // SAFETY: handles are owned by live wrappers; buffers and OIDs point to live
        // memory; the output buffer is released by take_buffer.
        let major = unsafe {
            (self.api.init_sec_context)(
                &mut minor,
                credentials.raw,
                &mut self.raw,
                target.raw,
                &mut mech,
                flags,
                0,
                std::ptr::null_mut(),
                input_ptr,
                std::ptr::null_mut(),
                &mut output,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        let token = self.api.take_buffer(&mut output);
        if major & ROUTINE_ERROR_MASK != 0 {
            return Err(self.api.error("gss_init_sec_context", major, minor));
        }
        Ok(Step {
            token,
            complete: major & GSS_S_CONTINUE_NEEDED == 0,
        })
    }

    /// `gss_unwrap`: check and open a message protected by the peer.
    pub fn unwrap(&mut self, message: &[u8]) -> Result<Vec<u8>, GssCallError> {
        let mut input = BufferDesc::borrowed(message);
        let mut output = BufferDesc::empty();
        let mut minor = 0;
        // SAFETY: context established by step(); buffers are live; output released below.
        let major = unsafe {
            (self.api.unwrap)(
                &mut minor,
                self.raw,
                &mut input,
                &mut output,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        let plain = self.api.take_buffer(&mut output);
        if major & ROUTINE_ERROR_MASK != 0 {
            return Err(self.api.error("gss_unwrap", major, minor));
        }
        Ok(plain)
    }

    /// `gss_wrap` with integrity only (RFC 4752 forbids nothing, and needs no secrecy here).
    pub fn wrap(&mut self, message: &[u8]) -> Result<Vec<u8>, GssCallError> {
        let mut input = BufferDesc::borrowed(message);
        let mut output = BufferDesc::empty();
        let mut minor = 0;
        // SAFETY: as in unwrap.
        let major = unsafe {
            (self.api.wrap)(
                &mut minor,
                self.raw,
                0,
                0,
                &mut input,
                std::ptr::null_mut(),
                &mut output,
            )
        };
        let wrapped = self.api.take_buffer(&mut output);
        if major & ROUTINE_ERROR_MASK != 0 {
            return Err(self.api.error("gss_wrap", major, minor));
        }
        Ok(wrapped)
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        if !self.raw.is_null() {
            let mut minor = 0;
            // SAFETY: deleted once; no output token is wanted.
            unsafe {
                (self.api.delete_sec_context)(&mut minor, &mut self.raw, std::ptr::null_mut())
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_library_lists_every_candidate() {
        let err = GssApi::load(&["libsmtpcm-no-such-gssapi.so.9", "libsmtpcm-nope.so"])
            .err()
            .unwrap();
        assert_eq!(err.tried.len(), 2);
        assert!(
            err.reason.contains("libsmtpcm-no-such-gssapi.so.9"),
            "{}",
            err.reason
        );
        assert!(err.reason.contains("libsmtpcm-nope.so"), "{}", err.reason);
    }

    #[test]
    fn library_without_gssapi_symbols_is_rejected() {
        // libc is always present and has no gss_* functions.
        let err = GssApi::load(&["libc.so.6"]).err().unwrap();
        assert!(
            err.reason.contains("missing gss_import_name"),
            "{}",
            err.reason
        );
    }
}
