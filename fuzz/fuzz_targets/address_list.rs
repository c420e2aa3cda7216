//! `address::parse_list` never panics on any text (its result is not checked: both
//! accepting and rejecting are fine for arbitrary input).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = smtpcm_engine::address::parse_list(text);
    }
});
