//! Issue 9 point 9: SSIS date casts convert to strings in the formats Microsoft documents
//! ("Integration Services Data Types", *Converting Between Strings and Date/Time Data
//! Types*; the examples are those of "Cast (SSIS Expression)"), evaluated against a fixed clock.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use smtpcm::expr::{self, DateType, ExprError, Scope, Value};

/// Variables plus a clock that does not move: 2024-02-29 13:05:09.1234567 local, 12:05:09 UTC.
struct FixedClock {
    vars: HashMap<String, Value>,
}

fn at(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32, nanos: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|d| d.and_hms_nano_opt(h, mi, s, nanos))
        .expect("valid test date")
}

impl Scope for FixedClock {
    fn variable(&self, qualified: &str) -> Option<Value> {
        self.vars.variable(qualified)
    }
    fn now(&self) -> NaiveDateTime {
        at(2024, 2, 29, 13, 5, 9, 123_456_700)
    }
    fn utc_now(&self) -> NaiveDateTime {
        at(2024, 2, 29, 12, 5, 9, 123_456_700)
    }
}

fn scope() -> FixedClock {
    let mut vars = HashMap::new();
    // "DateFirstPurchase column of type DT_DBDATE" from Microsoft's cast examples.
    vars.insert(
        "DateFirstPurchase".to_owned(),
        Value::Date(DateType::DbDate, at(2001, 7, 22, 0, 0, 0, 0)),
    );
    FixedClock { vars }
}

fn text(src: &str) -> String {
    match expr::evaluate(src, &scope()) {
        Ok(v) => v.to_display_string(),
        Err(e) => panic!("{src}: {e}"),
    }
}

fn error(src: &str) -> ExprError {
    match expr::evaluate(src, &scope()) {
        Ok(v) => panic!("{src}: expected an error, got {v:?}"),
        Err(e) => e,
    }
}

/// The cast from the issue: a DT_DBDATE is `yyyy-mm-dd`, exactly ten characters.
#[test]
fn dbdate_of_getdate_is_yyyy_mm_dd() {
    assert_eq!(
        text("(DT_STR, 10, 1252)(DT_DBDATE) GETDATE()"),
        "2024-02-29"
    );
    assert_eq!(text("(DT_WSTR, 10)(DT_DBDATE) GETUTCDATE()"), "2024-02-29");
}

/// DT_DBTIMESTAMP (what GETDATE returns) is `yyyy-mm-dd hh:mm:ss[.fff]`: milliseconds only
/// when there are some.
#[test]
fn dbtimestamp_is_date_time_and_milliseconds() {
    assert_eq!(text("(DT_WSTR, 30) GETDATE()"), "2024-02-29 13:05:09.123");
    assert_eq!(
        text("(DT_WSTR, 30) (DT_DBTIMESTAMP) GETDATE()"),
        "2024-02-29 13:05:09.123"
    );
    assert_eq!(
        text("(DT_WSTR, 30) GETUTCDATE()"),
        "2024-02-29 12:05:09.123"
    );
    assert_eq!(
        text(r#"(DT_WSTR, 30) (DT_DBTIMESTAMP) "1999-10-11 16:34:52""#),
        "1999-10-11 16:34:52"
    );
    assert_eq!(
        expr::evaluate("GETDATE()", &scope()).unwrap(),
        Value::Date(
            DateType::DbTimestamp,
            at(2024, 2, 29, 13, 5, 9, 123_000_000)
        )
    );
}

/// DT_DBTIME is `hh:mm:ss`; DT_DBTIME2 has as many fractional digits as its scale
/// (Microsoft's example: `(DT_DBTIME2, 5) "16:34:52.12345"`).
#[test]
fn dbtime_and_dbtime2() {
    assert_eq!(text("(DT_WSTR, 8) (DT_DBTIME) GETDATE()"), "13:05:09");
    assert_eq!(text(r#"(DT_WSTR, 8) (DT_DBTIME) "16:34:52""#), "16:34:52");
    assert_eq!(
        text(r#"(DT_WSTR, 20) (DT_DBTIME2, 5) "16:34:52.12345""#),
        "16:34:52.12345"
    );
    // Longer fractions are cut to the scale; scale 0 has no fraction at all.
    assert_eq!(
        text(r#"(DT_WSTR, 20) (DT_DBTIME2, 2) "16:34:52.12345""#),
        "16:34:52.12"
    );
    assert_eq!(
        text(r#"(DT_WSTR, 20) (DT_DBTIME2, 0) "16:34:52.12345""#),
        "16:34:52"
    );
    // A timestamp converted to a time keeps only the time.
    assert_eq!(
        text(r#"(DT_WSTR, 20) (DT_DBTIME) "1999-10-11 16:34:52.1234""#),
        "16:34:52"
    );
}

/// DT_DBTIMESTAMP2 is `yyyy-mm-dd hh:mm:ss[.fffffff]` with the scale's digits (Microsoft's
/// example: `(DT_DBTIMESTAMP2, 4) "1999-10-11 16:34:52.1234"`).
#[test]
fn dbtimestamp2_has_its_scale_in_digits() {
    assert_eq!(
        text(r#"(DT_WSTR, 30) (DT_DBTIMESTAMP2, 4) "1999-10-11 16:34:52.1234""#),
        "1999-10-11 16:34:52.1234"
    );
    assert_eq!(
        text("(DT_WSTR, 30) (DT_DBTIMESTAMP2, 7) GETDATE()"),
        "2024-02-29 13:05:09.1230000"
    );
    assert_eq!(
        text(r#"(DT_WSTR, 30) (DT_DBTIMESTAMP2, 0) "1999-10-11 16:34:52.1234""#),
        "1999-10-11 16:34:52"
    );
}

/// DT_DATE is locale-formatted by SSIS with an ISO date part; smtpcm writes the
/// locale-independent `yyyy-mm-dd hh:mm:ss` (documented on `DateType`).
#[test]
fn dt_date_is_iso_to_whole_seconds() {
    assert_eq!(
        text("(DT_WSTR, 30) (DT_DATE) GETDATE()"),
        "2024-02-29 13:05:09"
    );
    assert_eq!(
        text(r#"(DT_WSTR, 30) (DT_DATE) "1999-10-11""#),
        "1999-10-11 00:00:00"
    );
}

#[test]
fn filetime_uses_a_colon_before_the_milliseconds() {
    assert_eq!(
        text("(DT_WSTR, 30) (DT_FILETIME) GETDATE()"),
        "2024-02-29 13:05:09:123"
    );
}

/// Microsoft's examples `(DT_DBDATE) "1999-10-11"` and `(DT_WSTR,20)DateFirstPurchase`.
#[test]
fn microsoft_cast_examples() {
    assert_eq!(
        expr::evaluate(r#"(DT_DBDATE) "1999-10-11""#, &scope()).unwrap(),
        Value::Date(DateType::DbDate, at(1999, 10, 11, 0, 0, 0, 0))
    );
    assert_eq!(text(r#"(DT_WSTR, 20) @[DateFirstPurchase]"#), "2001-07-22");
}

/// The conversion tables of "Integration Services Data Types": a date gains a zero time,
/// a time gains the current date, a timestamp loses what the target cannot hold.
#[test]
fn conversions_between_date_types() {
    assert_eq!(
        text(r#"(DT_WSTR, 30) (DT_DBTIMESTAMP) (DT_DBDATE) "1999-10-11 16:34:52""#),
        "1999-10-11 00:00:00"
    );
    assert_eq!(
        text(r#"(DT_WSTR, 30) (DT_DBTIMESTAMP) (DT_DBTIME) "16:34:52""#),
        "2024-02-29 16:34:52"
    );
    assert_eq!(
        text(r#"(DT_WSTR, 30) (DT_DBTIMESTAMP2, 3) (DT_DBTIME2, 7) "16:34:52.1234567""#),
        "2024-02-29 16:34:52.123"
    );
    assert_eq!(
        expr::evaluate(
            r#"(DT_DBDATE) "2024-02-29 23:59:59" == (DT_DBDATE) GETDATE()"#,
            &scope()
        )
        .unwrap(),
        Value::Bool(true)
    );
}

#[test]
fn bad_date_casts_are_errors() {
    for src in [
        r#"(DT_DBTIMESTAMP2, 8) "1999-10-11""#,
        r#"(DT_DBTIMESTAMP, 3) "1999-10-11""#,
        r#"(DT_DBDATE, 1) "1999-10-11""#,
    ] {
        assert!(matches!(error(src), ExprError::Syntax { .. }), "{src}");
    }
    let e = error(r#"(DT_DBDATE) "yesterday""#);
    assert!(e.to_string().contains("yyyy-mm-dd"), "{e}");
    let e = error(r#"(DT_DBTIME) "noon""#);
    assert!(e.to_string().contains("hh:mm:ss"), "{e}");
    // The type is named in errors.
    let e = error(r#"(DT_DBTIME) "16:34:52" + 1"#);
    assert!(e.to_string().contains("DT_DBTIME"), "{e}");
}
