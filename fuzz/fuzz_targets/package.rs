//! `dtsx::load_bytes` never panics, and saving a package nobody edited gives back the
//! exact bytes it was loaded from (the loader promises lossless round trips).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(package) = smtpcm::dtsx::load_bytes(data.to_vec(), "fuzz.dtsx") else {
        return;
    };
    match package.to_bytes() {
        Ok(saved) => assert!(
            saved == data,
            "unchanged package saved differently\n input: {:?}\n saved: {:?}",
            String::from_utf8_lossy(data),
            String::from_utf8_lossy(&saved)
        ),
        Err(e) => panic!("unchanged package cannot be saved: {e}"),
    }
});
