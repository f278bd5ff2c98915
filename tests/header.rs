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
    // Every C name the header declares is prefixed: nothing of the Rust API leaks in.
    let text = String::from_utf8(generated.clone()).unwrap();
    for line in text.lines() {
        let name = if let Some(rest) = line.strip_prefix("#define ") {
            rest.split_whitespace().next()
        } else if let Some(rest) = line.strip_prefix("typedef ") {
            match rest.split_once("(*") {
                // typedef ret (*name)(args);
                Some((_, after)) => after.split(')').next(),
                None => rest.trim_end_matches(';').split_whitespace().last(),
            }
        } else if !line.starts_with([' ', '#', '/', '*', '}', '{']) && line.contains('(') {
            line.split('(')
                .next()
                .and_then(|l| l.split_whitespace().last())
        } else {
            None
        };
        if let Some(name) = name {
            let name = name.trim_start_matches('*');
            assert!(
                name.starts_with("iothttp_") || name.starts_with("IOTHTTP_"),
                "unprefixed C name in the header: {line}"
            );
        }
    }
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
