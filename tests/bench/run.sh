#!/usr/bin/env bash
# Benchmarks, both clients in one run on this machine.
#   tests/bench/run.sh [publish|upload|gateway|nginx]     (default: publish)
# publish, upload, gateway: against the local emulator (release build).
# nginx: every upload flow, the downloads and the publish loop against nginx over TLS (canned
#   cloud replies, upload bodies read and dropped, downloads served as static files: no
#   server-side hashing on the figures), iothttp against curl/libcurl; see tests/bench/nginx.py
#   and tests/bench/nginx_sink.sh. BENCH_FLOWS picks a subset of upload,download,publish.
# Builds the release library (LTO), then runs the C benchmarks that compare iothttp with curl
# and libcurl (from the system). scripts/bootstrap.sh bench (bench-nginx) installs what is
# missing (libcurl4-openssl-dev, nginx, ...). BENCH_RUNS (default 3) sets the runs per upload cell.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
what=${1:-publish}
case "$what" in
publish | upload | gateway | nginx) ;;
*) echo "unknown benchmark '$what' (publish, upload, gateway, nginx)" >&2; exit 2 ;;
esac
if [ "$what" = nginx ]; then scripts/bootstrap.sh bench-nginx; else scripts/bootstrap.sh bench; fi
target=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d)
emu_pid=
# shellcheck source=nginx_sink.sh
. tests/bench/nginx_sink.sh
cleanup() {
  if [ -n "$emu_pid" ]; then kill "$emu_pid" 2>/dev/null || true; fi
  nginx_sink_stop
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== building (release, LTO) ==" >&2
major=$(sed -n 's/^version = "\([0-9]*\)\..*/\1/p' Cargo.toml | head -n 1)
# The same command as CMakeLists.txt, so the two never relink each other's artifacts.
cargo rustc -q --locked --release -p iothttp --lib --crate-type staticlib,cdylib \
  -- -C "link-arg=-Wl,-soname,libiothttp.so.$major"
lib=$target/release/libiothttp.a
if [ "$what" != nginx ]; then
  cargo build -q --locked --release -p iothttp-emulator
  "$target/release/iothttp-emulator" --quiet --info-file "$work/emu.env" >/dev/null &
  emu_pid=$!
  for _ in $(seq 1 300); do [ -s "$work/emu.env" ] && break; sleep 0.1; done
  # shellcheck disable=SC1091
  . "$work/emu.env"
fi

case "$what" in
publish)
  gcc -O2 -std=c99 -Wall -Wextra -I include tests/bench/bench_publish.c \
    "$lib" -lcurl -lpthread -ldl -lm -o "$work/bench_publish"
  echo "== publish: 10000 x 1 KiB over one keep-alive TLS connection ==" >&2
  echo "machine: $(nproc) cores, $(uname -srm)"
  "$work/bench_publish" "$IOTHTTP_EMU_UCLOUD_URL" "$IOTHTTP_EMU_CA" "$IOTHTTP_EMU_CONTROL" 10000 1024
  ;;
upload)
  gcc -O2 -std=c99 -Wall -Wextra -I include tests/bench/bench_upload.c \
    "$lib" -lpthread -ldl -lm -o "$work/bench_upload"
  gcc -O2 -Wall -Wextra tests/bench/maxrss.c -o "$work/maxrss"
  echo "== upload: 1 MiB and 1 GiB, iothttp vs curl ==" >&2
  echo "machine: $(nproc) cores, $(uname -srm); $(curl --version | head -1)"
  python3 tests/bench/upload.py "$work/bench_upload" "$work" "$work/emu.env" "$work/maxrss"
  ;;
gateway)
  gcc -O2 -std=c99 -Wall -Wextra -I include tests/bench/bench_gateway.c \
    "$lib" -lpthread -ldl -lm -o "$work/bench_gateway"
  echo "== gateway: 10000 devices on one client, 8 threads ==" >&2
  echo "machine: $(nproc) cores, $(uname -srm)"
  "$work/bench_gateway" "$IOTHTTP_EMU_UCLOUD_URL" "$IOTHTTP_EMU_CA" "$IOTHTTP_EMU_CONTROL" 10000 8
  ;;
nginx)
  cflags=(-O2 -std=c99 -Wall -Wextra -I include)
  gcc "${cflags[@]}" tests/bench/bench_upload.c "$lib" -lpthread -ldl -lm -o "$work/bench_upload"
  gcc "${cflags[@]}" tests/bench/bench_publish.c "$lib" -lcurl -lpthread -ldl -lm \
    -o "$work/bench_publish"
  gcc "${cflags[@]}" -DBENCH_NO_CURL tests/bench/bench_publish.c "$lib" -lpthread -ldl -lm \
    -o "$work/bench_publish_iothttp"
  gcc -O2 -Wall -Wextra tests/bench/maxrss.c -o "$work/maxrss"
  nginx_sink_start "$work/nginx"
  echo "== against nginx: uploads and downloads of 1 MiB and 1 GiB, $((${BENCH_PUBLISHES:-10000})) publishes, iothttp vs curl ==" >&2
  echo "machine: $(nproc) cores, $(uname -srm); $(curl --version | head -1)"
  python3 tests/bench/nginx.py "$work/bench_upload" "$work/bench_publish" \
    "$work/bench_publish_iothttp" "$work" "$work/nginx/nginx.env" "$work/maxrss"
  ;;
esac
