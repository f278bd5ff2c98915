#!/usr/bin/env bash
# A download killed mid-way (kill -9 by its PID) resumes on the next run; a download killed
# between its last write and the rename (a power cut there) leaves the old file, and the
# next run checks the complete .part and renames it without downloading again. Never
# anything but the old file or the complete new one at the path.
#
#   download_crash.sh <dir> <dl_crash command...>
#
# The command is the dl_crash binary, behind the cross emulator and its arguments in cross
# builds (qemu-user passes the guest's SIGKILL on as its own: the exit status stays 137).
#
# The emulator's coordinates come from the IOTHTTP_EMU_* variables (tests/c/run.sh).
set -euo pipefail

dir="$1"
shift
(($#)) || { echo "usage: download_crash.sh <dir> <dl_crash command...>" >&2; exit 2; }
run=("$@")
: "${IOTHTTP_EMU_CONTROL:?IOTHTTP_EMU_CONTROL is not set: run tests/c/run.sh}"
mkdir -p "$dir"
file="$dir/crash-$$.bin"
size=4000000
name="crash-$$.bin"
url="$IOTHTTP_EMU_DL_URL/$name"
pid=""
cleanup() {
    if [[ -n "$pid" ]]; then kill -9 "$pid" 2>/dev/null || true; fi
    rm -f "$file" "$file.part" "$file.part.meta"
}
trap cleanup EXIT
fail() {
    echo "download_crash.sh: $*" >&2
    exit 1
}

ctl() {
    local host="${IOTHTTP_EMU_CONTROL%:*}" port="${IOTHTTP_EMU_CONTROL##*:}" reply fd
    exec {fd}<>"/dev/tcp/$host/$port"
    printf '%s\n' "$1" >&"$fd"
    IFS= read -r reply <&"$fd"
    exec {fd}>&-
    [[ "$reply" == OK* ]] || fail "emulator: $1 -> $reply"
    printf '%s\n' "${reply#OK }"
}

size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }
is_old() { [[ "$(cat "$file")" == "the old image" ]]; }

ctl "dl-object $name $size 4242" >/dev/null
md5="$(ctl "dl-info $name" | sed -E 's/.*"md5":"([0-9a-f]+)".*/\1/')"
[[ ${#md5} -eq 32 ]] || fail "no md5 from dl-info"

# 1. kill -9 from outside, mid-way (the server sends 400 kB/s: 10 s for the whole object).
printf 'the old image' >"$file"
ctl "trickle download $name 400000 1" >/dev/null
"${run[@]}" "$url" "$file" "$size" "$md5" "$IOTHTTP_EMU_CA" 0 &
pid=$!
for _ in $(seq 1 200); do
    (($(size_of "$file.part") >= 1000000)) && break
    sleep 0.05
done
kill -9 "$pid"
status=0
wait "$pid" || status=$?
pid=""
((status == 137)) || fail "the killed download exited with $status, not 137 (SIGKILL)"
have="$(size_of "$file.part")"
((have >= 1000000 && have < size)) || fail "after kill -9 the .part holds $have bytes"
[[ -s "$file.part.meta" ]] || fail "after kill -9 there is no .part.meta"
is_old || fail "after kill -9 the old file changed"
# The next run resumes from the .part and finishes.
"${run[@]}" "$url" "$file" "$size" "$md5" "$IOTHTTP_EMU_CA" 0 >/dev/null
[[ "$(md5sum "$file" | cut -d' ' -f1)" == "$md5" ]] || fail "the resumed file has the wrong MD5"
[[ ! -e "$file.part" && ! -e "$file.part.meta" ]] || fail "the .part is still there"
ctl "dl-stats $name" | grep -q "bytes=$have-" || fail "the second run did not resume from byte $have"
echo "download_crash.sh: killed at $have of $size bytes, resumed from there, verified"

# 2. A power cut between the last write and the rename.
printf 'the old image' >"$file"
status=0
"${run[@]}" "$url" "$file" "$size" "$md5" "$IOTHTTP_EMU_CA" "$size" >/dev/null 2>&1 || status=$?
((status == 137)) || fail "the self-killed download exited with $status, not 137"
is_old || fail "killed before the rename, yet the old file changed"
(($(size_of "$file.part") == size)) || fail "killed before the rename, the .part is not complete"
"${run[@]}" "$url" "$file" "$size" "$md5" "$IOTHTTP_EMU_CA" 0 >/dev/null
[[ "$(md5sum "$file" | cut -d' ' -f1)" == "$md5" ]] || fail "the renamed file has the wrong MD5"
[[ ! -e "$file.part" ]] || fail "the .part is still there after the rename"
ctl "dl-stats $name" | grep -Eq '"unsatisfiable": *[1-9]' ||
    fail "the run after the power cut downloaded again instead of checking the complete .part"
echo "download_crash.sh: killed before the rename: old file intact; the next run verified and renamed the .part"
