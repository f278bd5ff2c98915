//! Fuzz target `headers_and_urls`: header lines, base URLs, topics, file names, multipart names and
//! URL logging. Input: text, split into lines on '\n'. Entry point:
//! `iothttp::fuzzing::headers_and_urls` (src/fuzzing.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    iothttp::fuzzing::headers_and_urls(data);
});
