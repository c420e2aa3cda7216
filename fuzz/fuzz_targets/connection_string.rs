//! `ConnectionString::parse` never panics, and whatever it accepts survives a round trip:
//! `parse(value.to_string())` succeeds and gives back an equal value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtpcm::connection_string::ConnectionString;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = ConnectionString::parse(text) else {
        return;
    };
    let written = parsed.value.to_string();
    match ConnectionString::parse(&written) {
        Ok(again) => assert_eq!(
            again.value, parsed.value,
            "round trip changed the value\n input:   {text:?}\n written: {written:?}"
        ),
        Err(e) => panic!(
            "written form does not parse again: {e}\n input:   {text:?}\n written: {written:?}"
        ),
    }
});
