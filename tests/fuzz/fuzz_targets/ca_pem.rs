//! Fuzz target `ca_pem`: the CA PEM loader, and the X.509 basicConstraints DER walker on the raw
//! input. Entry point: `iothttp::fuzzing::ca_pem` (src/fuzzing.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    iothttp::fuzzing::ca_pem(data);
});
