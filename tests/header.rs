//! `include/iothttp.h` must be exactly what cbindgen generates from the source.
//! Regenerate with `IOTHTTP_BLESS=1 cargo test --test header`.

use std::path::PathBuf;

#[test]
fn header_matches_the_source() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(&root)
        .with_config(config)
        .generate()
        .expect("cbindgen")
        .write(&mut generated);
    let path = root.join("include/iothttp.h");
    if std::env::var_os("IOTHTTP_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/iothttp.h is stale: run `IOTHTTP_BLESS=1 cargo test --test header` and commit it"
    );
}
