//! Build glue.
//!
//! The `iothttp_uploads` cfg is set when a feature that uploads is on (see below).
//!
//! The C header's version macros (`IOTHTTP_VERSION_MAJOR/MINOR/PATCH`) are literal constants
//! in `src/ffi/result.rs`, because cbindgen turns only literals into `#define`s. This script
//! refuses to build when they disagree with the package version, so a header can never lie
//! about the library it came with.
//!
//! The shared library's SONAME (`libiothttp.so.<major>`) is set where the cdylib is produced,
//! by the `cargo rustc --crate-type staticlib,cdylib -- -C link-arg=-Wl,-soname,...` call in
//! CMakeLists.txt: a build script may only pass cdylib link arguments for a package whose
//! manifest declares a cdylib, and declaring one next to the rlib would disable LTO.

use std::fs;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // `iothttp_uploads`: any feature that streams a source to a store (or a download, which
    // shares its reply classification), so the shared upload machinery (src/transfer/upload.rs) is
    // compiled only when something uses it.
    println!("cargo::rustc-check-cfg=cfg(iothttp_uploads)");
    let uploads = [
        "UCLOUD_FILES",
        "ALIYUN_OTA",
        "AGC",
        "GENERIC_UPLOADS",
        "DOWNLOADS",
    ];
    if uploads
        .iter()
        .any(|f| std::env::var_os(format!("CARGO_FEATURE_{f}")).is_some())
    {
        println!("cargo::rustc-cfg=iothttp_uploads");
    }
    println!("cargo:rerun-if-changed=src/ffi/result.rs");
    let source = fs::read_to_string("src/ffi/result.rs").expect("src/ffi/result.rs");
    for part in ["MAJOR", "MINOR", "PATCH"] {
        let want = std::env::var(format!("CARGO_PKG_VERSION_{part}")).expect("cargo sets it");
        let decl = format!("pub const IOTHTTP_VERSION_{part}: u32 = ");
        let got = source
            .lines()
            .find_map(|l| l.trim().strip_prefix(decl.as_str()))
            .map(|rest| rest.trim_end_matches(';').trim().to_string());
        match got {
            Some(v) if v == want => {}
            other => panic!(
                "IOTHTTP_VERSION_{part} in src/ffi/result.rs is {other:?} but Cargo.toml says {want}: \
                 update the constant and regenerate include/iothttp.h"
            ),
        }
    }
}
