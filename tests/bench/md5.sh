#!/usr/bin/env bash
# The MD5 pass an upload makes before sending, against OpenSSL, in the same run:
#
#  file:   MiB/s of iothttp's MD5 (src/md5.rs, through Source::digests exactly as an upload
#          runs it), of the md-5 crate (the same 64 KiB reads) and of `openssl dgst -md5`, on
#          the same file; wall-clock times of whole processes;
#  memory: 1 GiB hashed from memory in 64 KiB updates by iothttp and md-5 (time of the hashing
#          only), against `openssl speed -evp md5 -bytes 65536 -seconds 3`.
#
# Each figure is the median of $BENCH_RUNS (default 3) runs taken in turns, after one warm-up
# run of each.
#
#   tests/bench/md5.sh [file]     (default: 1 GiB of random bytes in a temporary directory)
#
# iothttp and md-5 run in the release unit-test binary of the library (the release profile:
# fat LTO, one codegen unit, as the library ships), ignored test md5::tests::bench. Exits 1
# when digests differ, and with IOTHTTP_BENCH_STRICT=1 also when iothttp is slower than OpenSSL
# in either table.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
runs="${BENCH_RUNS:-3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/iothttp-md5-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT

file="${1:-}"
if [[ -z "$file" ]]; then
    file="$work/random-1GiB.bin"
    echo "== writing 1 GiB of random bytes to $file" >&2
    head -c 1G /dev/urandom >"$file"
fi
[[ -f "$file" ]] || {
    echo "no file $file" >&2
    exit 1
}
bytes="$(stat -c %s "$file")"

echo "== building the release unit-test binary of the library" >&2
bin="$(cd "$root" && cargo test --release --locked --lib --no-run 2>&1 |
    sed -n 's/^ *Executable unittests src\/lib.rs (\(.*\))$/\1/p')"
[[ "$bin" == /* ]] || bin="$root/$bin"
[[ -x "$bin" ]] || {
    echo "could not find the unit-test binary (got '$bin')" >&2
    exit 1
}

# measure <impl>: sets digest and mibs (MiB/s).
measure() {
    local t0 t1 out
    t0="$EPOCHREALTIME"
    case "$1" in
    openssl) out="$(openssl dgst -md5 -r "$file")" ;;
    openssl-memory)
        # "md5  580754.88k": thousands of bytes per second.
        out="$(openssl speed -evp md5 -bytes 65536 -seconds 3 2>/dev/null |
            awk '$1 == "md5" { sub("k$", "", $2); print "-", $2 * 1000 / 1048576 }')"
        ;;
    *)
        out="$(IOTHTTP_MD5_BENCH_FILE="$file" IOTHTTP_MD5_BENCH_IMPL="$1" "$bin" --ignored \
            --exact md5::tests::bench --nocapture --test-threads 1 2>&1)" || {
            printf '%s\n' "$out" >&2
            exit 1
        }
        out="$(grep -o 'md5-bench .*' <<<"$out" | cut -d' ' -f3-)"
        ;;
    esac
    t1="$EPOCHREALTIME"
    digest="${out%% *}"
    case "$1" in
    openssl-memory) mibs="${out#* }" ;;
    *-memory) mibs="$(awk -v s="${out#* }" 'BEGIN { print 1024 / s }')" ;;
    *) mibs="$(awk -v n="$bytes" -v a="$t0" -v b="$t1" 'BEGIN { print n / 1048576 / (b - a) }')" ;;
    esac
}

median() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g | sed -n "$(((runs + 1) / 2))p"; }

declare -A all digests medians
md5_version="$(sed -n '/^name = "md-5"/{n;s/^version = "\(.*\)"/\1/p}' "$root/Cargo.lock")"
openssl_version="$(openssl version | cut -d' ' -f1-2)"
declare -A labels=(
    [iothttp]="iothttp (src/md5.rs, Source::digests)"
    [md-5]="md-5 $md5_version (the same 64 KiB reads)"
    [openssl]="openssl dgst -md5 ($openssl_version)"
    [iothttp-memory]="iothttp (src/md5.rs)"
    [md-5-memory]="md-5 $md5_version"
    [openssl-memory]="openssl speed -evp md5 -bytes 65536 ($openssl_version)"
)

# table <title> <impl...>: warm-up, $runs runs in turns, a Markdown table of the medians.
table() {
    local title="$1" impl i r
    shift
    local impls=("$@")
    echo "== $title: warm-up, then $runs runs of each in turns" >&2
    for impl in "${impls[@]}"; do
        measure "$impl"
        digests[$impl]="$digest"
    done
    for ((r = 0; r < runs; r++)); do
        for ((i = 0; i < ${#impls[@]}; i++)); do
            impl="${impls[(i + r) % ${#impls[@]}]}"
            measure "$impl"
            [[ "$digest" == "${digests[$impl]}" ]] || {
                echo "$impl gave $digest, then ${digests[$impl]}" >&2
                exit 1
            }
            all[$impl]+="$(printf '%.0f' "$mibs") "
        done
    done
    printf '\n%s\n\n| implementation | MiB/s (median) | runs (MiB/s) |\n|---|---|---|\n' "$title"
    for impl in "${impls[@]}"; do
        medians[$impl]="$(median "${all[$impl]}")"
        printf '| %s | %s | %s|\n' "${labels[$impl]}" "${medians[$impl]}" "${all[$impl]}"
    done
}

printf '\nCPU: %s; median of %s runs\n' \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" "$runs"
table "file of $bytes bytes (page cache)" iothttp md-5 openssl
[[ "${digests[iothttp]}" == "${digests[openssl]}" && "${digests[md-5]}" == "${digests[openssl]}" ]] || {
    echo "the digests differ: iothttp ${digests[iothttp]}, md-5 ${digests[md-5]}, openssl ${digests[openssl]}" >&2
    exit 1
}
table "memory, 1 GiB in 64 KiB updates" iothttp-memory md-5-memory openssl-memory
[[ "${digests[iothttp-memory]}" == "${digests[md-5-memory]}" ]] || {
    echo "the digests differ: iothttp ${digests[iothttp-memory]}, md-5 ${digests[md-5-memory]}" >&2
    exit 1
}

ratio() { awk -v a="${medians[$1]}" -v b="${medians[$2]}" 'BEGIN { printf "%.3f", a / b }'; }
file_ratio="$(ratio iothttp openssl)"
memory_ratio="$(ratio iothttp-memory openssl-memory)"
printf '\nfile digests agree (%s); speed iothttp / OpenSSL: file %s, memory %s\n' \
    "${digests[openssl]}" "$file_ratio" "$memory_ratio"
if [[ "${IOTHTTP_BENCH_STRICT:-0}" == 1 ]] &&
    awk -v f="$file_ratio" -v m="$memory_ratio" 'BEGIN { exit !(f < 1 || m < 1) }'; then
    echo "iothttp's MD5 is slower than OpenSSL's here" >&2
    exit 1
fi
