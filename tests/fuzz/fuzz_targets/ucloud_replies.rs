//! Fuzz target `ucloud_replies`: UCloud auth, publish, file-URL and UFile PUT replies. Input: two
//! bytes choosing the HTTP status, then the body. Entry point: `iothttp::fuzzing::ucloud_replies`
//! (src/fuzzing.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    iothttp::fuzzing::ucloud_replies(data);
});
