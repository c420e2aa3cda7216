//! The SMTP connection manager's sub-properties (`SmtpServer`, `EnableSsl`, ...) live inside its
//! connection string. This minimal key editor keeps every other key, and the key order, as is,
//! so a `/Set` on one property does not rewrite the rest of the string.
//! (The full parser is `connection_string`; this stays local to keep paths independent of it.)

/// Sub-properties that map onto connection-string keys, in SSIS's canonical order.
pub(crate) const SMTP_KEYS: [&str; 4] = [
    "SmtpServer",
    "UseWindowsAuthentication",
    "EnableSsl",
    "Timeout",
];

fn pairs(cs: &str) -> Vec<(String, String)> {
    cs.split(';')
        .filter(|p| !p.trim().is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.trim().to_owned(), v.trim().to_owned()),
            // SSIS accepts a bare host name as the whole connection string.
            None => ("SmtpServer".to_owned(), p.trim().to_owned()),
        })
        .collect()
}

/// The value of `key` (case-insensitive), if present.
pub(crate) fn get(cs: &str, key: &str) -> Option<String> {
    pairs(cs)
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// `cs` with `key` set to `value`: replaced in place when present, otherwise appended.
pub(crate) fn set(cs: &str, key: &str, value: &str) -> String {
    let canonical = SMTP_KEYS
        .iter()
        .find(|k| k.eq_ignore_ascii_case(key))
        .copied()
        .unwrap_or(key);
    let mut items = pairs(cs);
    match items.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(key)) {
        Some(item) => item.1 = value.to_owned(),
        None => items.push((canonical.to_owned(), value.to_owned())),
    }
    let mut out = String::new();
    for (k, v) in items {
        out.push_str(&k);
        out.push('=');
        out.push_str(&v);
        out.push(';');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_in_place_and_keeps_others() {
        let cs = "SmtpServer=a;UseWindowsAuthentication=False;EnableSsl=False;";
        assert_eq!(
            set(cs, "smtpserver", "b:587"),
            "SmtpServer=b:587;UseWindowsAuthentication=False;EnableSsl=False;"
        );
        assert_eq!(set(cs, "Timeout", "30"), format!("{cs}Timeout=30;"));
        assert_eq!(get(cs, "ENABLESSL").as_deref(), Some("False"));
        assert_eq!(get("smtphost", "SmtpServer").as_deref(), Some("smtphost"));
    }
}
