#!/usr/bin/env bash
# Fuzz iothttp's parsers of untrusted input with cargo-fuzz (libFuzzer).
#
#   tests/fuzz/run.sh smoke [seconds]   build every target, run each one briefly (default 15 s)
#   tests/fuzz/run.sh long  [seconds]   run each target for longer (default 600 s), print a table
#
# Optional: targets to run after the seconds (default: all seven), e.g.
#   tests/fuzz/run.sh long 60 ca_pem xml_errors
#
# Environment:
#   FUZZ_SANITIZER   address (default) or none
#   FUZZ_WORK        directory for the working corpora (default: a new temp dir, removed at the
#                    end unless a target crashed)
#
# Each target fuzzes a copy of its seeds (tests/fuzz/corpus/<target>/) plus the kept crash
# inputs (tests/fuzz/crashes/<target>-*), so corpus growth never lands in the repository.
# Crash inputs go to tests/fuzz/artifacts/<target>/ (git-ignored); the script prints their
# paths and exits non-zero when any target crashed.
#
# Needs cargo-fuzz (installed here with `cargo install cargo-fuzz --locked` when missing) and
# only the stable toolchain: RUSTC_BOOTSTRAP=1 lets it accept the -Z flags cargo-fuzz passes.
set -euo pipefail

fuzz_dir=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$fuzz_dir/../.." && pwd)
cd "$root"
rel=${fuzz_dir#"$root"/} # tests/fuzz

all_targets=(ucloud_replies aliyun_replies rpc_replies agc_replies xml_errors ca_pem headers_and_urls)

usage() {
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

mode=${1:-}
case "$mode" in
  smoke) seconds=${2:-15} ;;
  long) seconds=${2:-600} ;;
  *) usage ;;
esac
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || usage
shift $(($# < 2 ? $# : 2))
targets=("$@")
((${#targets[@]})) || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  [[ -f "$fuzz_dir/fuzz_targets/$t.rs" ]] || { echo "unknown target: $t" >&2; exit 2; }
done

export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never
export RUST_BACKTRACE=1
sanitizer=${FUZZ_SANITIZER:-address}

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked"
  cargo install cargo-fuzz --locked
fi

if [[ -n "${FUZZ_WORK:-}" ]]; then
  work=$FUZZ_WORK
  mkdir -p "$work"
  keep_work=1
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/iothttp-fuzz.XXXXXX")
  keep_work=0
fi

started=$(date +%s)
echo "=== cargo fuzz build ($(cargo fuzz --version), sanitizer $sanitizer) ==="
cargo fuzz build --fuzz-dir "$rel" --sanitizer "$sanitizer"
echo "built in $(($(date +%s) - started)) s"

# A stat from libFuzzer's final report, or an empty string.
stat() { sed -n "s/^stat::$1: *\([0-9]*\).*/\1/p" "$2" | tail -n 1; }

failed=()
rows=()
for t in "${targets[@]}"; do
  corpus="$work/corpus/$t"
  log="$work/$t.log"
  mkdir -p "$corpus" "$fuzz_dir/artifacts/$t"
  cp "$fuzz_dir/corpus/$t/"* "$corpus/"
  for c in "$fuzz_dir/crashes/$t"-*; do
    [[ -f "$c" ]] && cp "$c" "$corpus/"
  done
  before=$(find "$fuzz_dir/artifacts/$t" -type f | sort)

  echo
  echo "=== $t: $seconds s ==="
  # Rebuild now if src/ changed since the build above, so the timing below is fuzzing only.
  if ! out=$(cargo fuzz build --fuzz-dir "$rel" --sanitizer "$sanitizer" "$t" 2>&1); then
    echo "$out"
    exit 1
  fi
  grep -v -E '^ +Finished' <<<"$out" || true
  t0=$(date +%s)
  status=0
  cargo fuzz run --fuzz-dir "$rel" --sanitizer "$sanitizer" "$t" "$corpus" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  elapsed=$(($(date +%s) - t0))

  execs=$(stat number_of_executed_units "$log")
  if [[ -z "$execs" ]]; then # no final stats (crash): the last status line
    execs=$(sed -n 's/^#\([0-9][0-9]*\)[[:space:]].*/\1/p' "$log" | tail -n 1)
  fi
  execs=${execs:-0}
  rate=$(stat average_exec_per_sec "$log")
  if [[ -z "$rate" || "$rate" == 0 ]]; then rate=$((execs / (elapsed > 0 ? elapsed : 1))); fi
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
  size=$(find "$corpus" -type f | wc -l)
  new=$(comm -13 <(echo "$before") <(find "$fuzz_dir/artifacts/$t" -type f | sort) |
    grep -E '/(crash|oom|timeout|leak)-' || true)
  crashes=$(grep -c . <<<"$new" || true)
  if ((status != 0)) && ((crashes == 0)); then crashes=1; fi

  echo "$t: $execs execs in $elapsed s ($rate/s), corpus $size, cov ${cov:-?}, exit $status"
  if ((status != 0)); then
    failed+=("$t")
    echo "--- $t FAILED (exit $status); from the libFuzzer log ($log):"
    # The panic message (or sanitizer report) with the first frames, then libFuzzer's summary.
    first=$(grep -n -m 1 -E 'panicked at|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)' "$log" |
      cut -d: -f1 || true)
    [[ -n "$first" ]] && sed -n "${first},$((first + 40))p" "$log"
    grep -E '^SUMMARY:|Test unit written to|^0x[0-9a-f]{2},' "$log" | cut -c1-400 || true
    while read -r a; do
      [[ -n "$a" ]] || continue
      echo "CRASH $t: $a"
      echo "  reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir $rel --sanitizer $sanitizer $t $a"
      echo "  minimise:  RUSTC_BOOTSTRAP=1 cargo fuzz tmin --fuzz-dir $rel --sanitizer $sanitizer $t $a"
    done <<<"$new"
  fi
  rows+=("$(printf '%-17s %7s %12s %9s %7s %6s %7s' "$t" "$elapsed" "$execs" "$rate" "$size" "${cov:-?}" "$crashes")")
done

echo
echo "=== $mode run: ${#targets[@]} targets, $seconds s each, sanitizer $sanitizer, $(($(date +%s) - started)) s in all ==="
printf '%-17s %7s %12s %9s %7s %6s %7s\n' target seconds execs execs/s corpus cov crashes
printf '%s\n' "${rows[@]}"

if ((${#failed[@]})); then
  echo
  echo "FAILED: ${failed[*]} (logs and working corpora kept in $work)"
  exit 1
fi
if ((keep_work)); then
  echo "working corpora kept in $work"
else
  rm -rf "$work"
fi
echo "fuzz $mode: ${#targets[@]} targets, no crash"
