//! Unit tests of the expression language through the public API.

use std::collections::HashMap;

use chrono::NaiveDate;
use smtpcm::expr::{self, DateType, ExprError, Value};

fn scope() -> HashMap<String, Value> {
    let mut m = HashMap::new();
    m.insert("User::ReturnCode".into(), Value::I4(0));
    m.insert("User::StdError".into(), Value::Str(String::new()));
    m.insert("User::StdOutput".into(), Value::Str("done".into()));
    m.insert(
        "User::FileName".into(),
        Value::Str(r"c:\tmp\reports\d.xlsx".into()),
    );
    m.insert("$Package::pkg_IssueId".into(), Value::I4(500258));
    m.insert(
        "$Project::prj_To".into(),
        Value::Str("ops@example.org".into()),
    );
    m.insert("System::PackageName".into(), Value::Str("Daily".into()));
    m.insert("System::MachineName".into(), Value::Str("HOST1".into()));
    m.insert("System::ErrorCode".into(), Value::I4(-1071636471));
    m.insert("System::ErrorDescription".into(), Value::Str("boom".into()));
    m.insert(
        "System::StartTime".into(),
        Value::Date(
            DateType::Date,
            NaiveDate::from_ymd_opt(2024, 2, 29)
                .unwrap()
                .and_hms_opt(13, 5, 9)
                .unwrap(),
        ),
    );
    m
}

fn s(src: &str) -> String {
    match expr::evaluate(src, &scope()) {
        Ok(v) => v.to_display_string(),
        Err(e) => panic!("{src}: {e}"),
    }
}

fn v(src: &str) -> Value {
    expr::evaluate(src, &scope()).unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn e(src: &str) -> ExprError {
    match expr::evaluate(src, &scope()) {
        Ok(v) => panic!("{src}: expected an error, got {v:?}"),
        Err(e) => e,
    }
}

#[test]
fn literals_and_escapes() {
    assert_eq!(s(r#""a\tb\"c\\d\x0041""#), "a\tb\"c\\dA");
    assert_eq!(v("42"), Value::I4(42));
    assert_eq!(v("5000000000"), Value::I8(5_000_000_000));
    assert_eq!(v("1.5"), Value::R8(1.5));
    assert_eq!(v("TRUE"), Value::Bool(true));
}

#[test]
fn corpus_message_source_expression() {
    let src = r#""Return Code:" + (DT_WSTR, 4)@[User::ReturnCode] + "\r\n" + "Error:" + @[User::StdError] + "\r\n" + "Output:" +  @[User::StdOutput]"#;
    assert_eq!(s(src), "Return Code:0\r\nError:\r\nOutput:done");
}

#[test]
fn parameters_and_system_variables() {
    assert_eq!(
        s(r#""IssueId: " + (DT_WSTR, 10) @[$Package::pkg_IssueId]"#),
        "IssueId: 500258"
    );
    assert_eq!(s("@[$Project::prj_To]"), "ops@example.org");
    assert_eq!(
        s(r#""Staging package: "+ @[System::PackageName] +" Failed on " + @[System::MachineName]"#),
        "Staging package: Daily Failed on HOST1"
    );
    assert_eq!(
        s(
            r#"(DT_WSTR, 200) @[System::ErrorCode]+ " description " + (DT_WSTR, 500) @[System::ErrorDescription]"#
        ),
        "-1071636471 description boom"
    );
}

#[test]
fn arithmetic_comparison_logic_and_conditional() {
    assert_eq!(v("1 + 2 * 3"), Value::I4(7));
    assert_eq!(v("(1 + 2) * 3"), Value::I4(9));
    assert_eq!(v("7 % 4 - -1"), Value::I4(4));
    assert_eq!(v("1 + 2.5"), Value::R8(3.5));
    assert_eq!(v("3 > 2 && !(1 == 2) || FALSE"), Value::Bool(true));
    assert_eq!(v(r#""abc" < "abd""#), Value::Bool(true));
    assert_eq!(s(r#"@[User::ReturnCode] == 0 ? "ok" : "failed""#), "ok");
    assert_eq!(s(r#"1 > 2 ? "a" : 2 > 1 ? "b" : "c""#), "b");
}

#[test]
fn casts() {
    assert_eq!(v(r#"(DT_I4)"12""#), Value::I4(12));
    assert_eq!(v(r#"(DT_I8)" 7 ""#), Value::I8(7));
    assert_eq!(v(r#"(DT_BOOL)"true""#), Value::Bool(true));
    assert_eq!(v("(DT_BOOL)0"), Value::Bool(false));
    assert_eq!(v("(DT_R8)3"), Value::R8(3.0));
    assert_eq!(s("(DT_NUMERIC, 10, 2) 3.14159"), "3.14");
    assert_eq!(s("(DT_DECIMAL, 1) 2"), "2.0");
    assert_eq!(s(r#"(DT_STR, 10, 1252) "abc""#), "abc");
    assert_eq!(
        s(r#"(DT_WSTR, 30) (DT_DBTIMESTAMP) "2024-01-31 08:00:00""#),
        "2024-01-31 08:00:00"
    );
    assert_eq!(
        s(r#"(DT_WSTR, 30) (DT_DATE) "1/31/2024""#),
        "2024-01-31 00:00:00"
    );
    assert!(matches!(e(r#"(DT_WSTR, 2) "abc""#), ExprError::Eval { .. }));
    assert!(matches!(
        e(r#"(DT_I4) "x1""#),
        ExprError::Eval { column: 1, .. }
    ));
}

#[test]
fn string_functions() {
    assert_eq!(s(r#"REPLACE("a-b-c", "-", "+")"#), "a+b+c");
    assert_eq!(s(r#"SUBSTRING("abcdef", 2, 3)"#), "bcd");
    assert_eq!(v(r#"LEN("héllo")"#), Value::I4(5));
    assert_eq!(s(r#"UPPER("abc") + LOWER("DEF")"#), "ABCdef");
    assert_eq!(
        s(r#""[" + TRIM("  x  ") + "][" + LTRIM("  x") + "][" + RTRIM("x  ") + "]""#),
        "[x][x][x]"
    );
    assert_eq!(s(r#"LEFT("abcdef", 2) + RIGHT("abcdef", 2)"#), "abef");
    assert_eq!(v(r#"FINDSTRING("a.b.c", ".", 2)"#), Value::I4(4));
    assert_eq!(v(r#"FINDSTRING("abc", "z", 1)"#), Value::I4(0));
    assert_eq!(s(r#"REPLICATE("ab", 3)"#), "ababab");
    assert_eq!(s(r#"REVERSE("abc")"#), "cba");
    assert_eq!(s(r#"TOKEN("a;;b;c", ";", 2)"#), "b");
    assert_eq!(v(r#"TOKENCOUNT("a;;b;c", ";")"#), Value::I4(3));
    // The corpus's file-name idiom: the part after the last backslash.
    assert_eq!(
        s(
            r#"REVERSE(SUBSTRING( REVERSE( @[User::FileName] ) , 1, FINDSTRING(REVERSE( @[User::FileName] ), "\\", 1 ) - 1))"#
        ),
        "d.xlsx"
    );
}

#[test]
fn null_handling() {
    assert_eq!(v("ISNULL(NULL(DT_WSTR, 10))"), Value::Bool(true));
    assert_eq!(v(r#"ISNULL("x")"#), Value::Bool(false));
    assert!(v(r#"NULL(DT_WSTR, 5) + "x""#).is_null());
    assert_eq!(s(r#"REPLACENULL(NULL(DT_I4), 5)"#), "5");
}

#[test]
fn date_functions() {
    assert_eq!(
        v(r#"DATEPART("yyyy", @[System::StartTime])"#),
        Value::I4(2024)
    );
    assert_eq!(v(r#"DATEPART("mm", @[System::StartTime])"#), Value::I4(2));
    assert_eq!(v(r#"DATEPART("hh", @[System::StartTime])"#), Value::I4(13));
    assert_eq!(
        v("YEAR(@[System::StartTime]) * 100 + MONTH(@[System::StartTime])"),
        Value::I4(202402)
    );
    assert_eq!(v("DAY(@[System::StartTime])"), Value::I4(29));
    assert_eq!(
        s(r#"(DT_WSTR, 30) DATEADD("yy", 1, @[System::StartTime])"#),
        "2025-02-28 13:05:09"
    );
    assert_eq!(
        s(r#"(DT_WSTR, 30) DATEADD("d", -29, @[System::StartTime])"#),
        "2024-01-31 13:05:09"
    );
    assert_eq!(
        v(r#"DATEDIFF("dd", (DT_DBTIMESTAMP)"2024-01-01", @[System::StartTime])"#),
        Value::I4(59)
    );
    assert_eq!(
        v(r#"DATEDIFF("mm", (DT_DBTIMESTAMP)"2023-12-31", (DT_DBTIMESTAMP)"2024-01-01")"#),
        Value::I4(1)
    );
    assert!(matches!(
        v("GETDATE()"),
        Value::Date(DateType::DbTimestamp, _)
    ));
    assert!(matches!(
        e(r#"DATEPART("fortnight", GETDATE())"#),
        ExprError::Eval { column: 1, .. }
    ));
}

#[test]
fn errors_point_at_the_column() {
    assert_eq!(
        e(r#""a" + @[User::Nope]"#),
        ExprError::UnknownVariable {
            column: 7,
            name: "User::Nope".into()
        }
    );
    let err = e(r#""a" + 1"#);
    assert!(matches!(err, ExprError::Type { column: 5, .. }), "{err:?}");
    assert_eq!(e(r#"1 +"#).column(), 4);
    assert_eq!(e(r#""abc"#).column(), 1);
    assert_eq!(e(r#"(1 + 2"#).column(), 7);
    assert_eq!(e(r#"1 = 2"#).column(), 3);
    assert_eq!(e(r#"NOSUCH(1)"#).column(), 1);
    assert_eq!(e(r#"SUBSTRING("a", 0, 1)"#).column(), 1);
    assert_eq!(e(r#"(DT_FOO) 1"#).column(), 2);
    assert_eq!(e(r#""\q""#).column(), 2);
    assert!(e("1 / 0").to_string().contains("division by zero"));
    assert!(
        e(r#"@[User::Nope]"#)
            .to_string()
            .contains("unknown variable @[User::Nope]")
    );
}
