#!/usr/bin/env bash
# Every test of the project: the README's test command, and what .ci/run executes.
#
#   tests/run.sh
#
# Needs only Rust (cargo) and a C compiler: scripts/bootstrap.sh installs what else is missing
# (cmake, g++, pkg-config, binutils, valgrind, python3, the armv7 and aarch64 cross compilers,
# qemu-user, a rustc with the armv7 and aarch64 standard libraries). cargo-fuzz is installed
# with cargo when missing (tests/fuzz/run.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TERM_COLOR=never

scripts/bootstrap.sh test

step() { printf '\n=== %s ===\n' "$*"; }
started=$(date +%s)

step "format (cargo fmt --check)"
cargo fmt --all -- --check

step "lint (cargo clippy -D warnings)"
cargo clippy --locked --workspace --all-targets -q -- -D warnings

step "dependency policy: rustls on ring only (no aws-lc, no openssl)"
if cargo tree --locked --workspace -e normal,build,dev --prefix none | grep -Ei '^(aws-lc|openssl)'; then
  echo "forbidden crypto dependency in the tree" >&2
  exit 1
fi
cargo tree --locked -p iothttp -e normal -i ring --prefix none | sed -n 1p

step "every feature on its own (and none) builds without a warning"
for features in "" ucloud ucloud-files aliyun iotda aliyun-ota agc generic-uploads downloads builtin-roots tls12; do
  RUSTFLAGS="-D warnings" cargo check -q --locked -p iothttp --lib --no-default-features \
    --features "$features" --target-dir target/feature-check
done

step "Rust tests: unit, signing vectors, emulator integration, header drift"
cargo test --locked --workspace

step "bootstrap: asks for exactly the missing packages (stubbed package manager)"
tests/bootstrap/run.sh

step "CMake: the C-triple -> Rust-target table"
cmake -P tests/cmake/rust_target.cmake

step "C: CMake package, examples (find_package / pkg-config, static / shared), CTest, fault matrix, argument table, valgrind, ASan+UBSan"
tests/c/run.sh

step "firmware targets: armv7 and aarch64 cross builds from the toolchain files, examples and C tests under qemu-user"
tests/cross/run.sh

step "the README's first command: c-examples/demo.sh (with g++ there: publish.c and publish.cpp)"
c-examples/demo.sh >"${TMPDIR:-/tmp}/iothttp-demo.out" 2>&1 || { cat "${TMPDIR:-/tmp}/iothttp-demo.out"; exit 1; }
grep -q "4 publishes and 3 server-verified uploads" "${TMPDIR:-/tmp}/iothttp-demo.out" || {
  cat "${TMPDIR:-/tmp}/iothttp-demo.out"
  echo "the demo did not finish its steps" >&2
  exit 1
}
grep -E '^(==>|message id|firmware url|object id|uploaded|    the server)' "${TMPDIR:-/tmp}/iothttp-demo.out"

step "Python: ctypes smoke test and the iothttp package (bindings/python) against the shared library"
cargo build -q --locked -p iothttp-emulator
IOTHTTP_LIB="$root/target/release/libiothttp.so" \
IOTHTTP_EMULATOR="$root/target/debug/iothttp-emulator" \
  python3 -m unittest discover -v -s tests/python -p 'test_*.py'

step "fuzz smoke: every reply parser, the CA loader, header/URL handling (10 s each, ASan)"
tests/fuzz/run.sh smoke 10

step "all tests passed in $(( $(date +%s) - started )) s"
