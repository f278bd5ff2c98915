//! Fuzz target `agc_replies`: AGC token, upload-URL and OBS PUT replies. Input: two bytes choosing
//! the HTTP status, then the body. Entry point: `iothttp::fuzzing::agc_replies` (src/fuzzing.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    iothttp::fuzzing::agc_replies(data);
});
