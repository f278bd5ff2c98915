//! Fuzz target `aliyun_replies`: Aliyun auth and publish replies. Input: two bytes choosing the
//! HTTP status, then the body. Entry point: `iothttp::fuzzing::aliyun_replies` (src/fuzzing.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    iothttp::fuzzing::aliyun_replies(data);
});
