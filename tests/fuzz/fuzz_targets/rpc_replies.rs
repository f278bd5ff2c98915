//! Fuzz target `rpc_replies`: Aliyun RPC (GenerateOTAUploadURL) and OSS PostObject replies. Input:
//! two bytes choosing the HTTP status, then the body. Entry point: `iothttp::fuzzing::rpc_replies`
//! (src/fuzzing.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    iothttp::fuzzing::rpc_replies(data);
});
