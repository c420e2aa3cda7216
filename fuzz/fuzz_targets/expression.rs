//! `expr::parse` then `expr::eval` with an empty scope never panic (errors are fine:
//! unknown variables, type mismatches, overflow and division by zero must all be `Err`).
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use smtpcm::expr::{self, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = expr::parse(text) {
        let scope: HashMap<String, Value> = HashMap::new();
        let _ = expr::eval(&parsed, &scope);
    }
});
