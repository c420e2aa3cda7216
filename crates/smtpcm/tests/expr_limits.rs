//! Issue 9 point 3: every string-producing function and operator has a size cap, checked
//! before anything is allocated, so a hostile expression is an error and never an abort.

use std::collections::HashMap;

use smtpcm::expr::{self, ExprError, MAX_STRING_CHARS, PackageScope, Value};
use smtpcm::package::{Package, Variable, vartype};

fn eval(src: &str) -> Result<Value, ExprError> {
    let scope: HashMap<String, Value> = HashMap::new();
    expr::evaluate(src, &scope)
}

fn too_long(src: &str) -> (String, u64, String) {
    match eval(src) {
        Err(e @ ExprError::TooLong { .. }) => {
            let text = e.to_string();
            let ExprError::TooLong {
                function, chars, ..
            } = e
            else {
                unreachable!()
            };
            (function, chars, text)
        }
        other => panic!("{src}: expected TooLong, got {other:?}"),
    }
}

/// The expression from the issue: 1,000,000 characters replicated 100,000 times used to
/// abort the process with an allocation failure.
#[test]
fn nested_replicate_is_an_error_naming_replicate() {
    let (function, chars, text) = too_long(r#"REPLICATE(REPLICATE("abcdefghij",100000),100000)"#);
    assert_eq!(function, "REPLICATE");
    assert_eq!(chars, 100_000_000_000);
    assert!(
        text.contains(
            "REPLICATE: result would be 100000000000 characters, over the 16777216 limit"
        ),
        "{text}"
    );
}

#[test]
fn replicate_up_to_the_limit_works_and_one_more_character_does_not() {
    let v = eval(&format!(r#"LEN(REPLICATE("x", {MAX_STRING_CHARS}))"#)).unwrap();
    assert_eq!(v, Value::I4(MAX_STRING_CHARS as i32));
    let (function, chars, _) = too_long(&format!(r#"REPLICATE("x", {MAX_STRING_CHARS}) + "y""#));
    assert_eq!(function, "+ (concatenation)");
    assert_eq!(chars, MAX_STRING_CHARS as u64 + 1);
    // A count that overflows the multiplication is refused, not wrapped.
    let (_, chars, _) = too_long(r#"REPLICATE("abc", 9223372036854775807)"#);
    assert_eq!(chars, u64::MAX);
    // A negative count stays an ordinary evaluation error; an empty string any number of times is empty.
    assert!(matches!(
        eval(r#"REPLICATE("ab", -1)"#),
        Err(ExprError::Eval { .. })
    ));
    assert_eq!(
        eval(r#"REPLICATE("", 9223372036854775807)"#).unwrap(),
        Value::Str(String::new())
    );
}

#[test]
fn replace_upper_and_lower_are_sized_before_allocating() {
    // 10 MiB of "a", each replaced by "bb": 20 MiB.
    let (function, chars, _) = too_long(r#"REPLACE(REPLICATE("a", 10485760), "a", "bb")"#);
    assert_eq!(function, "REPLACE");
    assert_eq!(chars, 20_971_520);
    // `ß` upper-cases to two characters.
    let (function, chars, _) = too_long(r#"UPPER(REPLICATE("ß", 10000000))"#);
    assert_eq!(function, "UPPER");
    assert_eq!(chars, 20_000_000);
    // `İ` lower-cases to two characters (i + combining dot).
    let (function, chars, _) = too_long(r#"LOWER(REPLICATE("İ", 10000000))"#);
    assert_eq!(function, "LOWER");
    assert_eq!(chars, 20_000_000);
    // Within the limit they still work.
    assert_eq!(
        eval(r#"REPLACE("a-a", "a", "bb")"#).unwrap(),
        Value::Str("bb-bb".into())
    );
    assert_eq!(
        eval(r#"UPPER("straße")"#).unwrap(),
        Value::Str("STRASSE".into())
    );
}

/// Doubling by concatenation through variables: each variable is the previous one twice.
/// The chain stops at the cap with an error naming `+`, and evaluating a deep chain takes one
/// evaluation per variable (it used to take 2^depth).
#[test]
fn nested_concatenation_doubling_is_an_error() {
    let mut pkg = Package::new("Doubling");
    let mut first = Variable::new("User", "V0", vartype::STRING, "");
    first.expression = r#"REPLICATE("x", 1048576)"#.into();
    first.evaluate_as_expression = true;
    pkg.variables.push(first);
    for i in 1..=30 {
        let mut v = Variable::new("User", &format!("V{i}"), vartype::STRING, "");
        v.expression = format!("@[User::V{p}] + @[User::V{p}]", p = i - 1);
        v.evaluate_as_expression = true;
        pkg.variables.push(v);
    }
    let scope = PackageScope::new(&pkg);
    // V4 is 16 MiB: exactly the limit.
    assert_eq!(
        expr::evaluate("LEN(@[User::V4])", &scope).unwrap(),
        Value::I4(MAX_STRING_CHARS as i32)
    );
    let err = expr::evaluate("@[User::V4] + @[User::V4]", &scope).unwrap_err();
    assert!(
        matches!(&err, ExprError::TooLong { function, chars, .. }
            if function == "+ (concatenation)" && *chars == 2 * MAX_STRING_CHARS as u64),
        "{err:?}"
    );
    // V5 would be 32 MiB: its expression fails, so (as in SSIS) it keeps its stored value,
    // and the rest of the chain is built from that without ever allocating past the cap.
    assert_eq!(
        expr::evaluate("LEN(@[User::V30])", &scope).unwrap(),
        Value::I4(0)
    );
}

#[test]
fn string_casts_stay_under_the_limit() {
    let (function, _, _) = too_long(r#"(DT_WSTR, 4000) (REPLICATE("x", 16777216) + "y")"#);
    assert_eq!(function, "+ (concatenation)");
    assert!(matches!(
        eval(r#"(DT_WSTR, 3) REPLICATE("x", 4)"#),
        Err(ExprError::Eval { .. })
    ));
}
