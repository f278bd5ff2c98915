#!/usr/bin/env bash
# The iothttp C demo: build libiothttp and the C examples with CMake, start the local cloud
# emulator, publish to UCloud and to Alibaba Cloud through it, and upload one firmware image
# to each store (UCloud device files, Aliyun OTA, AppGallery Connect) with a progress bar,
# checking the size and MD5 the server computed against the file's.
#
#   ./c-examples/demo.sh          (needs Rust and a C compiler; scripts/bootstrap.sh installs
#                                  CMake when it is missing)
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
started=$SECONDS

step "Building libiothttp and the C examples (CMake, $build)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DIOTHTTP_BUILD_EXAMPLES=ON \
    -DIOTHTTP_CARGO_TARGET_DIR="$CARGO_TARGET_DIR" >"$work/configure.log" 2>&1 ||
    { cat "$work/configure.log" >&2; die "CMake configure failed"; }
cmake --build "$build" --parallel "$jobs" || die "build failed"
bin="$build/c-examples"
for example in publish upload_file ota_upload agc_upload; do
    [[ -x "$bin/$example" ]] || die "$bin/$example was not built"
done

step "Building and starting the local cloud emulator"
cargo build -q --locked -p iothttp-emulator --manifest-path "$root/Cargo.toml" ||
    die "building iothttp-emulator failed"
emu_start "$CARGO_TARGET_DIR/debug/iothttp-emulator" "$work" || die "cannot start the emulator"
echo "emulator listening at $IOTHTTP_EMU_URL (its CA: $IOTHTTP_EMU_CA)"
demo_started=$SECONDS

# run_step <what> <program> <args...>: run one example, show what it prints, stop on failure.
run_step() {
    local what="$1"
    shift
    "$@" 2>&1 | tee "$work/step.out"
    [[ ${PIPESTATUS[0]} == 0 ]] ||
        die "$what failed (emulator log: $(tail -n 5 "$work/emulator.log"))"
}

# verify <what>: the one object the emulator stored has the file's size and MD5, as the
# server computed them from the bytes it received.
verify() {
    local objects size md5
    objects="$(emu_control objects)"
    size="$(grep -o '"size":[0-9]*' <<<"$objects" | head -n 1 | cut -d: -f2)"
    md5="$(grep -o '"md5":"[0-9a-f]*"' <<<"$objects" | head -n 1 | cut -d'"' -f4)"
    [[ "$size" == "$fw_size" && "$md5" == "$fw_md5" ]] ||
        die "$1: the server holds ${size:-nothing} (MD5 ${md5:-none}), expected $fw_size bytes, MD5 $fw_md5"
    echo "    the server stored $size bytes; their MD5, computed by the server, is the file's: $md5"
    emu_control clear-objects >/dev/null
}

step "Publish: UCloud IoT-Core device demoProduct/demoDevice (auth, token, POST /topic/...)"
run_step "publish to UCloud" "$bin/publish" ucloud demoProduct demoDevice demoSecret \
    "$IOTHTTP_EMU_UCLOUD_URL" "$IOTHTTP_EMU_CA"

step "Publish: Alibaba Cloud IoT device a1demoPK/demoDevice (HMAC-MD5 auth, a message id above 2^53)"
run_step "publish to Aliyun" "$bin/publish" aliyun a1demoPK demoDevice demoSecret \
    "$IOTHTTP_EMU_ALIYUN_URL" "$IOTHTTP_EMU_CA"

if [[ -x "$bin/publish_cpp" ]]; then
    step "Publish from C++ (c-examples/publish.cpp through iothttp.hpp): both devices again"
    run_step "C++ publish to UCloud" "$bin/publish_cpp" ucloud demoProduct demoDevice demoSecret \
        "$IOTHTTP_EMU_UCLOUD_URL" "$IOTHTTP_EMU_CA"
    run_step "C++ publish to Aliyun" "$bin/publish_cpp" aliyun a1demoPK demoDevice demoSecret \
        "$IOTHTTP_EMU_ALIYUN_URL" "$IOTHTTP_EMU_CA"
    publishes=4
else
    echo "(no C++ compiler: publish_cpp was not built, the C++ publish is skipped)"
    publishes=2
fi

fw="$work/firmware-2.1.0.bin"
head -c 3000000 /dev/urandom >"$fw"
fw_size="$(stat -c %s "$fw")"
fw_md5="$(md5sum "$fw" | cut -d' ' -f1)"
emu_control clear-objects >/dev/null
printf '\nThe uploads send a %d-byte firmware image, MD5 %s.\n' "$fw_size" "$fw_md5"

step "Upload: UCloud device file (signed URL from the device secret, then PUT with Content-MD5)"
run_step "UCloud file upload" "$bin/upload_file" demoProduct demoDevice demoSecret "$fw" \
    "$IOTHTTP_EMU_UFILE_URL" "$IOTHTTP_EMU_CA"
verify "UCloud file upload"

step "Upload: Alibaba Cloud OTA firmware (GenerateOTAUploadURL, then OSS PostObject)"
run_step "Aliyun OTA upload" "$bin/ota_upload" demoAccessKeyId demoAccessKeySecret "$fw" bin \
    "$IOTHTTP_EMU_ALIYUN_IOT_URL" "$IOTHTTP_EMU_CA"
verify "Aliyun OTA upload"

step "Upload: Huawei AppGallery Connect package (OAuth token, upload URL, then PUT to OBS)"
run_step "AppGallery upload" "$bin/agc_upload" demoClientId demoClientSecret 10086 "$fw" \
    "$IOTHTTP_EMU_AGC_URL" "$IOTHTTP_EMU_CA"
verify "AppGallery upload"

step "Done: $publishes publishes and 3 server-verified uploads in $((SECONDS - demo_started)) s ($((SECONDS - started)) s with the build)"
cat <<EOF
The programs are c-examples/publish.c (publish.cpp in C++), upload_file.c, ota_upload.c and agc_upload.c, built in
$bin. Against the real clouds, leave out the endpoint and the CA (the built-in root
certificates are used) and use your own identities; keep secrets in the environment rather
than on the command line:
  IOTHTTP_SECRET=<DeviceSecret> $bin/publish ucloud <ProductSN> <DeviceSN>
  IOTHTTP_SECRET=<deviceSecret> $bin/publish aliyun <productKey> <deviceName>
  IOTHTTP_SECRET=<DeviceSecret> $bin/upload_file <ProductSN> <DeviceSN> "" <file>
  IOTHTTP_ACCESS_KEY_SECRET=<secret> $bin/ota_upload <AccessKeyId> "" <file> bin
  IOTHTTP_AGC_CLIENT_SECRET=<secret> $bin/agc_upload <client-id> "" <app-id> <file.app>
EOF
