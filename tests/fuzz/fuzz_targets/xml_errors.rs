//! Fuzz target `xml_errors`: S3/OSS/OBS XML error bodies. Input: the body (it is also read as a
//! reply whose first two bytes choose the HTTP status). Entry point: `iothttp::fuzzing::xml_errors`
//! (src/fuzzing.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    iothttp::fuzzing::xml_errors(data);
});
