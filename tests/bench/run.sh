#!/usr/bin/env bash
# Benchmarks against the local emulator, both clients in one run on this machine.
#   tests/bench/run.sh [publish|upload|gateway]     (default: publish)
# Builds the release library (LTO) and a release emulator, then runs the C benchmark that
# compares iothttp with a libcurl loop (libcurl from the system: libcurl4-openssl-dev).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
what=${1:-publish}
work=$(mktemp -d)
emu_pid=
cleanup() { [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

echo "== building (release, LTO) ==" >&2
major=$(sed -n 's/^version = "\([0-9]*\)\..*/\1/p' Cargo.toml | head -n 1)
# The same command as CMakeLists.txt, so the two never relink each other's artifacts.
cargo rustc -q --locked --release -p iothttp --lib --crate-type staticlib,cdylib \
  -- -C "link-arg=-Wl,-soname,libiothttp.so.$major"
cargo build -q --locked --release -p iothttp-emulator
"$root/target/release/iothttp-emulator" --quiet --info-file "$work/emu.env" >/dev/null &
emu_pid=$!
for _ in $(seq 1 300); do [ -s "$work/emu.env" ] && break; sleep 0.1; done
# shellcheck disable=SC1091
. "$work/emu.env"

case "$what" in
publish)
  gcc -O2 -std=c99 -Wall -Wextra -I include tests/bench/bench_publish.c \
    target/release/libiothttp.a -lcurl -lpthread -ldl -lm -o "$work/bench_publish"
  echo "== publish: 10000 x 1 KiB over one keep-alive TLS connection ==" >&2
  echo "machine: $(nproc) cores, $(uname -srm)"
  "$work/bench_publish" "$IOTHTTP_EMU_UCLOUD_URL" "$IOTHTTP_EMU_CA" "$IOTHTTP_EMU_CONTROL" 10000 1024
  ;;
upload)
  gcc -O2 -std=c99 -Wall -Wextra -I include tests/bench/bench_upload.c \
    target/release/libiothttp.a -lpthread -ldl -lm -o "$work/bench_upload"
  gcc -O2 -Wall -Wextra tests/bench/maxrss.c -o "$work/maxrss"
  echo "== upload: 1 MiB and 1 GiB, iothttp vs curl ==" >&2
  echo "machine: $(nproc) cores, $(uname -srm); $(curl --version | head -1)"
  python3 tests/bench/upload.py "$work/bench_upload" "$work" "$work/emu.env" "$work/maxrss"
  ;;
gateway)
  gcc -O2 -std=c99 -Wall -Wextra -I include tests/bench/bench_gateway.c \
    target/release/libiothttp.a -lpthread -ldl -lm -o "$work/bench_gateway"
  echo "== gateway: 10000 devices on one client, 8 threads ==" >&2
  echo "machine: $(nproc) cores, $(uname -srm)"
  "$work/bench_gateway" "$IOTHTTP_EMU_UCLOUD_URL" "$IOTHTTP_EMU_CA" "$IOTHTTP_EMU_CONTROL" 10000 8
  ;;
*) echo "unknown benchmark '$what'" >&2; exit 2 ;;
esac
