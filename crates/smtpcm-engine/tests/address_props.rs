//! Property tests for addresses and SSIS recipient lists.

use proptest::prelude::*;
use smtpcm_engine::address::{Mailbox, parse_list};

fn addr_spec() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9][a-z0-9._+-]{0,10}[a-z0-9]@[a-z][a-z0-9-]{0,8}[a-z0-9](\\.[a-z]{2,6}){0,2}",
        "[a-zäöüé]{1,8}@[a-z]{1,8}\\.(de|fr)",
        Just("user@localhost".to_string()),
    ]
    .prop_filter("valid addr-spec", |a| Mailbox::parse(a).is_ok())
}

fn display_name() -> impl Strategy<Value = String> {
    // Everything that forces quoting: specials, quotes, backslashes and non-ASCII.
    "[A-Za-z0-9 ,;.<>@()\\[\\]:\"\\\\'äé日本-]{1,20}"
        .prop_map(|s| s.trim().to_string())
        .prop_filter("non-empty after trimming", |s| !s.is_empty())
}

fn mailbox() -> impl Strategy<Value = Mailbox> {
    (proptest::option::of(display_name()), addr_spec())
        .prop_map(|(name, address)| Mailbox { name, address })
}

proptest! {
    #[test]
    fn display_then_parse_round_trips(m in mailbox()) {
        let written = m.to_string();
        prop_assert!(!written.contains(['\r', '\n']));
        let back = Mailbox::parse(&written)
            .map_err(|e| TestCaseError::fail(format!("{written:?}: {e}")))?;
        prop_assert_eq!(back, m);
    }

    #[test]
    fn lists_round_trip_with_either_separator(
        list in proptest::collection::vec(mailbox(), 0..5),
        semicolons in any::<bool>(),
    ) {
        let sep = if semicolons { "; " } else { ", " };
        let written = list.iter().map(ToString::to_string).collect::<Vec<_>>().join(sep);
        let back = parse_list(&written)
            .map_err(|e| TestCaseError::fail(format!("{written:?}: {e}")))?;
        prop_assert_eq!(back, list);
    }

    #[test]
    fn parse_never_panics(s in "\\PC{0,48}") {
        let _ = Mailbox::parse(&s);
        let _ = parse_list(&s);
    }

    #[test]
    fn line_breaks_are_always_rejected(m in mailbox(), at in 0usize..64, lf in any::<bool>()) {
        let mut written = m.to_string();
        let mut cut = at.min(written.len());
        while !written.is_char_boundary(cut) { cut -= 1; }
        written.insert(cut, if lf { '\n' } else { '\r' });
        prop_assert!(Mailbox::parse(&written).is_err());
        prop_assert!(parse_list(&written).is_err());
    }

    #[test]
    fn list_error_points_at_the_entry(
        good in proptest::collection::vec(addr_spec(), 0..4),
        bad in "[a-z]{1,8}@?",
    ) {
        let mut items = good.clone();
        items.push(bad.clone());
        let written = items.join(";");
        let e = parse_list(&written).expect_err("last entry is invalid");
        prop_assert_eq!(e.index, Some(good.len() + 1));
        prop_assert_eq!(&e.entry, &bad);
        let position = written.chars().count() - bad.chars().count() + 1;
        prop_assert_eq!(e.position, position);
    }
}
