#!/bin/sh
# Run one c-examples program against the cloud emulator and check what it prints (the CTest
# tests example_* of tests/c/CMakeLists.txt; the sanitizer build registers them).
#
#   example.sh <binary> <publish-ucloud|publish-aliyun|upload_file|ota_upload|agc_upload|ota_download> <dir>
#
# The emulator's coordinates come from the IOTHTTP_EMU_* variables (tests/c/run.sh exports
# them); the demo identities are the ones the emulator registers at start. <dir> holds the
# file the upload examples send and the file ota_download writes (the object example-dl.bin and
# its digests IOTHTTP_EXAMPLE_DL_MD5/SHA256 come from tests/c/run.sh). Exit status: the program's, or 1 when its output is wrong.
set -eu

bin="$1"
which="$2"
dir="$3"

: "${IOTHTTP_EMU_CA:?IOTHTTP_EMU_CA is not set: run tests/c/run.sh}"
mkdir -p "$dir"
file="$dir/example-$which.bin"
out="$dir/example-$which.out"
if [ ! -s "$file" ]; then
    head -c 300000 /dev/urandom >"$file"
fi

status=0
case "$which" in
publish-ucloud)
    "$bin" ucloud demoProduct demoDevice demoSecret "$IOTHTTP_EMU_UCLOUD_URL" \
        "$IOTHTTP_EMU_CA" >"$out" 2>&1 || status=$?
    want='^message id: [0-9]+$'
    ;;
publish-aliyun)
    "$bin" aliyun a1demoPK demoDevice demoSecret "$IOTHTTP_EMU_ALIYUN_URL" \
        "$IOTHTTP_EMU_CA" >"$out" 2>&1 || status=$?
    want='^message id: [0-9]+$'
    ;;
upload_file)
    "$bin" demoProduct demoDevice demoSecret "$file" "$IOTHTTP_EMU_UFILE_URL" \
        "$IOTHTTP_EMU_CA" >"$out" 2>&1 || status=$?
    want="^uploaded example-$which.bin \\(300000 bytes\\)\$"
    ;;
ota_upload)
    "$bin" demoAccessKeyId demoAccessKeySecret "$file" bin "$IOTHTTP_EMU_ALIYUN_IOT_URL" \
        "$IOTHTTP_EMU_CA" >"$out" 2>&1 || status=$?
    want='^firmware url: https://.*\.bin$'
    ;;
agc_upload)
    "$bin" demoClientId demoClientSecret 10086 "$file" "$IOTHTTP_EMU_AGC_URL" \
        "$IOTHTTP_EMU_CA" >"$out" 2>&1 || status=$?
    want='^object id: .+'
    ;;
ota_download)
    rm -f "$dir/example-dl.bin" "$dir/example-dl.bin.part" "$dir/example-dl.bin.part.meta"
    "$bin" "$IOTHTTP_EMU_DL_URL/example-dl.bin" "$dir/example-dl.bin" 300000 \
        "${IOTHTTP_EXAMPLE_DL_MD5:?}" "${IOTHTTP_EXAMPLE_DL_SHA256:?}" "$IOTHTTP_EMU_CA" \
        >"$out" 2>&1 || status=$?
    want='^downloaded .*: verified and in place$'
    ;;
*)
    echo "example.sh: unknown example '$which'" >&2
    exit 2
    ;;
esac
cat "$out"
if [ "$status" -ne 0 ]; then
    echo "example.sh: $which exited with status $status" >&2
    exit "$status"
fi
if ! tr '\r' '\n' <"$out" | grep -Eq "$want"; then
    echo "example.sh: $which did not print a line matching $want" >&2
    exit 1
fi
echo "example.sh: $which passed"
