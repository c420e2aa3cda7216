//! Checks made before connecting, so that bad input is a usage error (exit 2) and never a
//! connection attempt that fails later with a misleading code.

use std::path::Path;

use smtpcm::connection_manager::SmtpConnectionManager;

/// Refuse what no connection can fix: a server name with a space or a control character,
/// and a `--ca-file` that is missing, unreadable or not a regular file.
///
/// Addresses need no check here: the Send Mail task parses every one before connecting,
/// with the same rules the SMTP stage enforces (no control characters, no unquoted spaces).
pub fn check(cm: &SmtpConnectionManager, ca_file: Option<&Path>) -> Result<(), String> {
    let host = cm.settings().host();
    if let Some(bad) = host.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "connection string key SmtpServer: {host:?} is not a server name: it contains {}",
            if bad.is_control() {
                format!("the control character {bad:?}")
            } else {
                "a space".to_string()
            }
        ));
    }
    if let Some(path) = ca_file {
        let readable = std::fs::metadata(path).and_then(|m| {
            if m.is_file() {
                std::fs::File::open(path).map(drop)
            } else {
                Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "not a regular file",
                ))
            }
        });
        if let Err(e) = readable {
            return Err(format!("--ca-file {}: {e}", path.display()));
        }
    }
    Ok(())
}
