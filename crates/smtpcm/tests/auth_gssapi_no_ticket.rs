//! GSSAPI without any Kerberos credentials must fail before AUTH with the kinit hint.
//!
//! Its own test binary because it points the Kerberos environment at empty places,
//! which would disturb tests running in parallel in the same process.

use smtpcm::auth::gssapi::{Gssapi, GssapiError, TargetName};

#[test]
fn no_ticket_says_run_kinit_or_library_missing_says_how_to_install() {
    let empty = tempfile::tempdir().unwrap();
    let ccache = format!("FILE:{}/no-such-ccache", empty.path().display());
    let keytab = format!("{}/no-such-client.keytab", empty.path().display());
    // SAFETY: this is the only test in this binary, so no other thread reads the
    // environment while it is changed.
    unsafe {
        std::env::set_var("KRB5CCNAME", &ccache);
        std::env::set_var("KRB5_CLIENT_KTNAME", &keytab);
    }
    match Gssapi::new(&TargetName::from_spn("smtp/localhost")) {
        Ok(m) => panic!("credentials found in an empty cache: {m:?}"),
        Err(GssapiError::NoCredentials { detail }) => {
            let text = GssapiError::NoCredentials { detail }.to_string();
            eprintln!("{text}");
            assert!(
                text.starts_with("no Kerberos credentials: run kinit or set KRB5CCNAME"),
                "{text}"
            );
        }
        Err(err @ GssapiError::LibraryMissing { .. }) => {
            // Machines without libgssapi-krb5-2: the message must say how to install it.
            let text = err.to_string();
            eprintln!("skipped the ticket check: {text}");
            assert!(text.contains("apt-get install libgssapi-krb5-2"), "{text}");
        }
        Err(other) => panic!("expected NoCredentials, got: {other}"),
    }
}
