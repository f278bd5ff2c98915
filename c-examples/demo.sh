#!/usr/bin/env bash
# The iothttp C demo: build libiothttp and the publish example with CMake, start the local
# cloud emulator, and publish one message to UCloud and one to Alibaba Cloud through it.
#
#   ./c-examples/demo.sh          (from the repository root; needs Rust, a C compiler, CMake)
#
# Build directory: build/demo. Cargo shares target/ with the rest of the workspace.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build/demo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
jobs="$(nproc 2>/dev/null || echo 2)"

step() { printf '\n==> %s\n' "$*"; }
die() {
    printf '\ndemo: %s\n' "$*" >&2
    exit 1
}

"$root/scripts/bootstrap.sh" demo || die "this machine lacks what the demo needs (see above)"

work="$(mktemp -d "${TMPDIR:-/tmp}/iothttp-demo.XXXXXX")"
# shellcheck source=../tests/lib/harness.sh
source "$root/tests/lib/harness.sh"
cleanup() {
    emu_stop
    rm -rf "$work"
}
trap cleanup EXIT

step "Building libiothttp and the publish example (CMake, $build)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DIOTHTTP_BUILD_EXAMPLES=ON \
    -DIOTHTTP_CARGO_TARGET_DIR="$CARGO_TARGET_DIR" >"$work/configure.log" 2>&1 ||
    { cat "$work/configure.log" >&2; die "CMake configure failed"; }
cmake --build "$build" --parallel "$jobs" || die "build failed"
publish="$build/c-examples/publish"
[[ -x "$publish" ]] || die "$publish was not built"

step "Building and starting the local cloud emulator"
cargo build -q --locked -p iothttp-emulator --manifest-path "$root/Cargo.toml" ||
    die "building iothttp-emulator failed"
emu_start "$CARGO_TARGET_DIR/debug/iothttp-emulator" "$work" || die "cannot start the emulator"
echo "emulator listening at $IOTHTTP_EMU_URL (its CA: $IOTHTTP_EMU_CA)"

step "UCloud IoT-Core: publish demoProduct/demoDevice"
echo "\$ publish ucloud demoProduct demoDevice demoSecret $IOTHTTP_EMU_UCLOUD_URL \$IOTHTTP_EMU_CA"
"$publish" ucloud demoProduct demoDevice demoSecret "$IOTHTTP_EMU_UCLOUD_URL" "$IOTHTTP_EMU_CA" ||
    die "publish to UCloud failed (emulator log: $(tail -n 5 "$work/emulator.log"))"

step "Alibaba Cloud IoT: publish a1demoPK/demoDevice"
echo "\$ publish aliyun a1demoPK demoDevice demoSecret $IOTHTTP_EMU_ALIYUN_URL \$IOTHTTP_EMU_CA"
"$publish" aliyun a1demoPK demoDevice demoSecret "$IOTHTTP_EMU_ALIYUN_URL" "$IOTHTTP_EMU_CA" ||
    die "publish to Aliyun failed (emulator log: $(tail -n 5 "$work/emulator.log"))"

step "Done"
cat <<EOF
The example is c-examples/publish.c. Against the real clouds, leave out the endpoint and CA:
  $publish ucloud <ProductSN> <DeviceSN> <DeviceSecret>
  $publish aliyun <productKey> <deviceName> <deviceSecret>
EOF
