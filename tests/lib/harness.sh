# Shell helpers shared by tests/c/run.sh, tests/cross/run.sh and c-examples/demo.sh (sourced).
#
# Exit:       cleanup_on_exit <script name> (stops the emulator, removes or keeps $work).
# Reporting:  section <title>; note <text>; fail <text> (exits 1); ran <line> (for the summary);
#             quiet <log> <command...> (runs it, shows the log's tail and fails if it fails).
# Emulator:   emu_start <binary> <dir> [emulator args...] starts the cloud emulator, waits for
#             it and exports its IOTHTTP_EMU_* coordinates (returns 1 with a message on failure);
#             emu_stop stops it by its pid; emu_control <command> prints the reply after "OK ".
# Examples:   run_publish <label> <binary>, run_uploads <label> <dir> run the c-examples against
#             the emulator through "${RUNNER[@]}" (empty: natively; qemu-user for another
#             architecture); check_linkage <label> <binary> static|shared.
#
# Expects $work (a scratch directory) and, for the examples, $major (the SONAME's version).

summary=()
RUNNER=()
emu_pid=""

section() { printf '\n=== %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
fail() {
    printf '\nFAILED: %s\n' "$*" >&2
    exit 1
}
ran() { summary+=("$*"); }

quiet() {
    local log="$1"
    shift
    if ! "$@" >"$log" 2>&1; then
        tail -n 60 "$log" >&2
        fail "$* (full output: $log)"
    fi
}

# cleanup_on_exit <script name>: on exit stop the emulator; keep $work on failure (showing the
# emulator log's tail) or with IOTHTTP_TEST_KEEP=1, remove it otherwise.
cleanup_on_exit() {
    _cleanup_script="$1"
    trap _cleanup EXIT
}
_cleanup() {
    local rc=$?
    emu_stop
    if ((rc != 0)); then
        if [[ -s "$work/emulator.log" ]]; then
            printf '\n--- last lines of the emulator log (%s):\n' "$work/emulator.log" >&2
            tail -n 15 "$work/emulator.log" >&2
        fi
        printf '\n%s FAILED (exit %d); work directory kept: %s\n' "$_cleanup_script" "$rc" "$work" >&2
    elif [[ "${IOTHTTP_TEST_KEEP:-0}" == 1 ]]; then
        printf '\nwork directory kept: %s\n' "$work"
    else
        rm -rf "$work"
    fi
}

# The emulator exits when the script that started it does, however it ends: it reads its stdin
# from a FIFO only that script holds open. emu_stop also stops it by pid.
emu_start() {
    local bin="$1" dir="$2"
    shift 2
    local info="$dir/emulator.env" key value
    [[ -x "$bin" ]] || {
        echo "emulator binary $bin is missing" >&2
        return 1
    }
    rm -f "$info" "$dir/emulator.stdin"
    mkfifo "$dir/emulator.stdin"
    "$bin" --info-file "$info" --exit-on-stdin-eof "$@" \
        <"$dir/emulator.stdin" >"$dir/emulator.out" 2>"$dir/emulator.log" &
    emu_pid=$!
    exec {emu_stdin}>"$dir/emulator.stdin"
    for _ in $(seq 1 300); do
        [[ -s "$info" ]] && break
        if ! kill -0 "$emu_pid" 2>/dev/null; then
            echo "the emulator exited at start: $(cat "$dir/emulator.log")" >&2
            return 1
        fi
        sleep 0.1
    done
    [[ -s "$info" ]] || {
        echo "the emulator did not write $info within 30 s" >&2
        return 1
    }
    while IFS='=' read -r key value; do
        case "$key" in IOTHTTP_EMU_*) export "$key=$value" ;; esac
    done <"$info"
}

emu_stop() {
    if [[ -n "$emu_pid" ]] && kill -0 "$emu_pid" 2>/dev/null; then
        kill -TERM "$emu_pid" 2>/dev/null || true
        wait "$emu_pid" 2>/dev/null || true
    fi
    emu_pid=""
}

emu_control() {
    local host="${IOTHTTP_EMU_CONTROL%:*}" port="${IOTHTTP_EMU_CONTROL##*:}" reply fd
    exec {fd}<>"/dev/tcp/$host/$port"
    printf '%s\n' "$1" >&"$fd"
    IFS= read -r reply <&"$fd"
    exec {fd}>&-
    [[ "$reply" == OK* ]] || fail "emulator: $1 -> $reply"
    printf '%s\n' "${reply#OK }"
}

# Publish with the demo devices of both clouds.
publish_runs=0
run_publish() {
    local label="$1" bin="$2" out cloud product
    for cloud in ucloud aliyun; do
        if [[ $cloud == ucloud ]]; then product=demoProduct; else product=a1demoPK; fi
        local url_var="IOTHTTP_EMU_${cloud^^}_URL"
        if ! out="$("${RUNNER[@]}" "$bin" "$cloud" "$product" demoDevice demoSecret \
            "${!url_var}" "$IOTHTTP_EMU_CA" 2>&1)"; then
            printf '%s\n' "$out" >&2
            fail "$label: publish to $cloud failed"
        fi
        grep -Eq '^message id: [0-9]+$' <<<"$out" || fail "$label ($cloud): no message id in: $out"
        publish_runs=$((publish_runs + 1))
    done
    note "$label: published to ucloud and aliyun ($(grep -h '^message id' <<<"$out"))"
}

# The three upload examples from a build directory; each must show its progress bar reach
# 100% and the server must hold the file with the right MD5.
upload_runs=0
# upload_example <label> <want regex> <program> <args...>: run one upload example; it must
# succeed, show its progress bar at 100% and print a line matching <want>.
upload_example() {
    local label="$1" want="$2" prog="$3" out
    shift 3
    out="$("${RUNNER[@]}" "$prog" "$@" 2>&1)" || {
        printf '%s\n' "$out" >&2
        fail "$label: ${prog##*/} failed"
    }
    grep -q '100%' <<<"$out" || fail "$label: ${prog##*/} showed no complete progress bar"
    grep -Eq "$want" <<<"$out" || fail "$label: ${prog##*/}: $out"
}

run_uploads() {
    local label="$1" dir="$2" stored file="$work/upload-example.bin" md5
    [[ -s "$file" ]] || head -c 300000 /dev/urandom >"$file"
    md5="$(md5sum "$file" | cut -d' ' -f1)"
    upload_example "$label" '^uploaded upload-example.bin \(300000 bytes\)$' "$dir/upload_file" \
        demoProduct demoDevice demoSecret "$file" "$IOTHTTP_EMU_UFILE_URL" "$IOTHTTP_EMU_CA"
    upload_example "$label" '^firmware url: https://.*\.bin$' "$dir/ota_upload" \
        demoAccessKeyId demoAccessKeySecret "$file" bin "$IOTHTTP_EMU_ALIYUN_IOT_URL" "$IOTHTTP_EMU_CA"
    upload_example "$label" '^object id: .+' "$dir/agc_upload" \
        demoClientId demoClientSecret 10086 "$file" "$IOTHTTP_EMU_AGC_URL" "$IOTHTTP_EMU_CA"
    stored="$(emu_control objects | grep -o "\"md5\":\"$md5\"" | wc -l)"
    ((stored >= 3)) || fail "$label: the emulator holds $stored copies with the file's MD5, expected 3"
    emu_control clear-objects >/dev/null
    upload_runs=$((upload_runs + 3))
    run_download "$label" "$dir/ota_download"
    note "$label: upload_file, ota_upload, agc_upload stored with the right MD5; ota_download verified, also resumed after a cut"
}

# The download example: a 300000-byte object to a file, checked against its size and both
# digests; then again with the connection cut a third of the way (resumed, same file).
run_download() {
    local label="$1" prog="$2" info md5 sha out
    local file="$work/dl-${label//[^A-Za-z0-9]/_}.bin"
    emu_control "dl-object example-dl.bin 300000 77" >/dev/null
    info="$(emu_control "dl-info example-dl.bin")"
    md5="$(sed -E 's/.*"md5":"([0-9a-f]+)".*/\1/' <<<"$info")"
    sha="$(sed -E 's/.*"sha256":"([0-9a-f]+)".*/\1/' <<<"$info")"
    rm -f "$file" "$file.part" "$file.part.meta"
    upload_example "$label" '^downloaded .*: verified and in place$' "$prog" \
        "$IOTHTTP_EMU_DL_URL/example-dl.bin" "$file" 300000 "$md5" "$sha" "$IOTHTTP_EMU_CA"
    [[ "$(md5sum "$file" | cut -d' ' -f1)" == "$md5" ]] || fail "$label: downloaded file has the wrong MD5"
    emu_control "cut download example-dl.bin 100000 1" >/dev/null
    upload_example "$label" '^downloaded .*: verified and in place$' "$prog" \
        "$IOTHTTP_EMU_DL_URL/example-dl.bin" "$file" 300000 "$md5" "$sha" "$IOTHTTP_EMU_CA"
    [[ "$(md5sum "$file" | cut -d' ' -f1)" == "$md5" ]] || fail "$label: resumed file has the wrong MD5"
    [[ ! -e "$file.part" && ! -e "$file.part.meta" ]] || fail "$label: ota_download left its .part"
    rm -f "$file"
}

check_linkage() {
    local label="$1" bin="$2" want="$3"
    if readelf -d "$bin" | grep -q "NEEDED.*\[libiothttp.so.$major\]"; then
        [[ $want == shared ]] || fail "$label: links libiothttp.so but should be static"
    else
        [[ $want == static ]] || fail "$label: does not link libiothttp.so.$major"
    fi
}

# The functions iothttp.h declares, one per line, sorted.
declared_functions() {
    grep -E '^[A-Za-z_].*[ *]iothttp_[a-z0-9_]+\(' "$1" |
        sed -E 's/.*[ *](iothttp_[a-z0-9_]+)\(.*/\1/' | sort -u
}

# check_symbols <header> <libdir> <nm>: the shared library exports exactly the declared
# functions, the archive defines all of them and no other global symbol. Sets n_declared.
check_symbols() {
    local header="$1" dir="$2" nm="$3" declared exported foreign missing extra in_archive
    declared="$(declared_functions "$header")"
    n_declared="$(wc -l <<<"$declared")"
    exported="$("$nm" -D --defined-only "$dir/libiothttp.so.$version" | awk '{print $NF}' | sort -u)"
    foreign="$(grep -v '^iothttp_' <<<"$exported" || true)"
    [[ -z "$foreign" ]] || fail "libiothttp.so exports symbols outside iothttp_*: $(tr '\n' ' ' <<<"$foreign")"
    missing="$(comm -23 <(echo "$declared") <(echo "$exported"))"
    extra="$(comm -13 <(echo "$declared") <(echo "$exported"))"
    [[ -z "$missing" ]] || fail "declared in iothttp.h but not exported: $(tr '\n' ' ' <<<"$missing")"
    [[ -z "$extra" ]] || fail "exported but not declared in iothttp.h: $(tr '\n' ' ' <<<"$extra")"
    # The archive: every defined global symbol (any type: T, D, B, R, W, V, u, i ...).
    in_archive="$("$nm" -g --defined-only "$dir/libiothttp.a" | awk 'NF == 3 {print $3}' | sort -u)"
    foreign="$(grep -v '^iothttp_' <<<"$in_archive" || true)"
    [[ -z "$foreign" ]] ||
        fail "libiothttp.a defines global symbols outside iothttp_*: $(head -n 20 <<<"$foreign" | tr '\n' ' ')"
    missing="$(comm -23 <(echo "$declared") <(echo "$in_archive"))"
    [[ -z "$missing" ]] || fail "libiothttp.a lacks: $(tr '\n' ' ' <<<"$missing")"
    note "libiothttp.so exports and libiothttp.a defines exactly the $n_declared functions of iothttp.h, no other global symbol"
}
