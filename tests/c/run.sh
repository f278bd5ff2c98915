#!/usr/bin/env bash
# End-to-end test of the C packaging of iothttp, the way a firmware team consumes it.
#
#   tests/c/run.sh [repo-root]
#
#  1. configure, build and install the root CMake project into a temporary prefix
#     (cargo reuses <repo-root>/target as its target directory);
#  2. check the installed libraries: SONAME, symlinks, the shared library's exports and the
#     archive's global symbols (exactly the functions of iothttp.h);
#  3. build c-examples as an outside project five ways (find_package static/shared,
#     pkg-config static/shared through CMake, plain cc and c++ with pkg-config) and run each
#     publish binary (publish.c, and publish.cpp through iothttp.hpp) against the cloud
#     emulator for UCloud and Aliyun;
#  4. move the installed prefix elsewhere and build and run again from there;
#  5. build tests/c against it, static and shared, and run ctest: test_api (the API cases),
#     test_faults (the fault matrix, one test per row), test_args (every argument of every
#     header function; fails when a declared function has no row), two_rust_libs (the archive
#     beside a second Rust static library), test_cxx (the C++17 interface iothttp.hpp, built
#     with exceptions and with -fno-exceptions -fno-rtti), each test also under valgrind
#     memcheck when valgrind is installed;
#  6. build tests/c and the c-examples programs a third way with AddressSanitizer +
#     UndefinedBehaviorSanitizer (static library) and run them under ctest;
#  7. report what ran, the fault matrix's outcome table, and the artifact sizes.
#
# One emulator (debug build of iothttp-emulator) serves everything; it is stopped on exit.
#
# Environment: IOTHTTP_TEST_JOBS (parallel jobs, default 2), IOTHTTP_TEST_VALGRIND=0 (skip
# memcheck), IOTHTTP_TEST_SANITIZE=0 (skip the ASan/UBSan pass), IOTHTTP_TEST_KEEP=1 (keep
# the work directory; it is always kept on failure).
set -euo pipefail

root="$(cd "${1:-"$(dirname "${BASH_SOURCE[0]}")/../.."}" && pwd)"
jobs="${IOTHTTP_TEST_JOBS:-2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
work="$(mktemp -d "${TMPDIR:-/tmp}/iothttp-c-test.XXXXXX")"
started_at=$SECONDS

# shellcheck source=../lib/harness.sh
source "$root/tests/lib/harness.sh"

cleanup_on_exit tests/c/run.sh

for tool in cargo cmake cc c++ pkg-config nm readelf strip; do
    command -v "$tool" >/dev/null || fail "'$tool' is required but not installed"
done
have_valgrind=0
if [[ "${IOTHTTP_TEST_VALGRIND:-1}" != 0 ]] && command -v valgrind >/dev/null; then
    have_valgrind=1
fi

version="$(sed -n 's/^version *= *"\([0-9][0-9.]*\)".*/\1/p' "$root/Cargo.toml" | head -n 1)"
major="${version%%.*}"
[[ -n "$version" ]] || fail "cannot read the version from $root/Cargo.toml"
printf 'iothttp %s C packaging tests; repo %s; work %s\n' "$version" "$root" "$work"

# ---------------------------------------------------------------------------------------
section "1. Build and install libiothttp with CMake (cargo target dir: $CARGO_TARGET_DIR)"
prefix="$work/install/prefix"
quiet "$work/configure.log" cmake -S "$root" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$prefix" -DIOTHTTP_CARGO_TARGET_DIR="$CARGO_TARGET_DIR" \
    -DIOTHTTP_BUILD_EXAMPLES=ON
quiet "$work/build.log" cmake --build "$work/build" --parallel "$jobs"
quiet "$work/install.log" cmake --install "$work/build"
(cd "$prefix" && find . -mindepth 1 | sort | sed 's/^/    /')
for h in iothttp.h iothttp.hpp; do
    cmp -s "$root/include/$h" "$prefix/include/$h" || fail "include/$h is not installed as it is"
done
libdir="$(dirname "$(find "$prefix" -name libiothttp.a | head -n 1)")"
libdir_rel="${libdir#"$prefix"/}"
ran "built and installed libiothttp $version (static + shared, CMake package, pkg-config) into a prefix"

# ---------------------------------------------------------------------------------------
section "2. Check the installed libraries"
so="$libdir/libiothttp.so.$version"
[[ -f "$so" && ! -L "$so" ]] || fail "$so is missing"
[[ "$(readlink "$libdir/libiothttp.so.$major")" == "libiothttp.so.$version" ]] ||
    fail "libiothttp.so.$major does not point to libiothttp.so.$version"
[[ "$(readlink "$libdir/libiothttp.so")" == "libiothttp.so.$major" ]] ||
    fail "libiothttp.so does not point to libiothttp.so.$major"
soname="$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')"
[[ "$soname" == "libiothttp.so.$major" ]] || fail "SONAME is '$soname', expected libiothttp.so.$major"
note "SONAME $soname; symlinks libiothttp.so -> libiothttp.so.$major -> libiothttp.so.$version"

check_symbols "$prefix/include/iothttp.h" "$libdir" nm
declared="$(declared_functions "$prefix/include/iothttp.h")"
ran "SONAME libiothttp.so.$major, symlinks, exports == archive globals == the $n_declared functions of iothttp.h"

# ---------------------------------------------------------------------------------------
section "Cloud emulator"
quiet "$work/emulator-build.log" cargo build -q --locked -p iothttp-emulator \
    --manifest-path "$root/Cargo.toml"
emu_bin="$CARGO_TARGET_DIR/debug/iothttp-emulator"
[[ -x "$emu_bin" ]] || fail "$emu_bin was not built"
emu_start "$emu_bin" "$work" --plain-http || fail "cannot start the emulator"
note "emulator pid $emu_pid at $IOTHTTP_EMU_URL (control $IOTHTTP_EMU_CONTROL)"
# The object the ota_download example fetches (run_download and the CTest example_ota_download).
emu_control "dl-object example-dl.bin 300000 77" >/dev/null
dl_info="$(emu_control "dl-info example-dl.bin")"
IOTHTTP_EXAMPLE_DL_MD5="$(sed -E 's/.*"md5":"([0-9a-f]+)".*/\1/' <<<"$dl_info")"
IOTHTTP_EXAMPLE_DL_SHA256="$(sed -E 's/.*"sha256":"([0-9a-f]+)".*/\1/' <<<"$dl_info")"
export IOTHTTP_EXAMPLE_DL_MD5 IOTHTTP_EXAMPLE_DL_SHA256

upload_file_path="$work/upload-example.bin"
head -c 300000 /dev/urandom >"$upload_file_path"
upload_md5="$(md5sum "$upload_file_path" | cut -d' ' -f1)"

mkdir -p "$work/examples"

# Build c-examples as an outside project: build_example <name> <static|shared> <prefix> [cmake args]
build_example() {
    local name="$1" kind="$2" pfx="$3"
    shift 3
    local dir="$work/examples/$name"
    quiet "$dir.configure.log" cmake -S "$root/c-examples" -B "$dir" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_PREFIX_PATH="$pfx" "$@"
    quiet "$dir.build.log" cmake --build "$dir" --parallel "$jobs"
    check_linkage "$name" "$dir/publish" "$kind"
    check_linkage "$name C++" "$dir/publish_cpp" "$kind"
    run_publish "$name ($kind)" "$dir/publish"
    run_publish "$name ($kind) C++" "$dir/publish_cpp"
    run_uploads "$name ($kind)" "$dir"
}

# ---------------------------------------------------------------------------------------
section "3. c-examples as an outside project"
run_publish "in-tree build (add_subdirectory, iothttp::iothttp)" "$work/build/c-examples/publish"
check_linkage "in-tree build" "$work/build/c-examples/publish" static
run_publish "in-tree build C++ (iothttp.hpp, iothttp::iothttp)" "$work/build/c-examples/publish_cpp"
check_linkage "in-tree build C++" "$work/build/c-examples/publish_cpp" static
build_example find-package-static static "$prefix"
build_example find-package-shared shared "$prefix" -DIOTHTTP_EXAMPLES_SHARED=ON
build_example pkg-config-static static "$prefix" -DIOTHTTP_EXAMPLES_PKGCONFIG=ON
build_example pkg-config-shared shared "$prefix" -DIOTHTTP_EXAMPLES_PKGCONFIG=ON \
    -DIOTHTTP_EXAMPLES_SHARED=ON

# Plain cc with pkg-config, as a Makefile would.
pc_flags=(-std=c99 -Wall -Wextra -Wpedantic -Werror)
export PKG_CONFIG_PATH="$libdir/pkgconfig"
# shellcheck disable=SC2046 # word splitting of pkg-config output is intended
cc "${pc_flags[@]}" -o "$work/examples/cc-static" "$root/c-examples/publish.c" \
    $(pkg-config --cflags --libs iothttp-static) || fail "cc + pkg-config iothttp-static"
check_linkage "cc + pkg-config iothttp-static" "$work/examples/cc-static" static
run_publish "cc + pkg-config iothttp-static" "$work/examples/cc-static"
# shellcheck disable=SC2046
cc "${pc_flags[@]}" -o "$work/examples/cc-shared" "$root/c-examples/publish.c" \
    $(pkg-config --cflags --libs iothttp) -Wl,-rpath,"$(pkg-config --variable=libdir iothttp)" ||
    fail "cc + pkg-config iothttp"
check_linkage "cc + pkg-config iothttp" "$work/examples/cc-shared" shared
run_publish "cc + pkg-config iothttp" "$work/examples/cc-shared"
# The same with c++ and the C++ example (iothttp.hpp comes with the same -I).
cxx_flags=(-std=c++17 -Wall -Wextra -Wpedantic -Werror)
# shellcheck disable=SC2046
c++ "${cxx_flags[@]}" -o "$work/examples/cxx-static" "$root/c-examples/publish.cpp" \
    $(pkg-config --cflags --libs iothttp-static) || fail "c++ + pkg-config iothttp-static"
check_linkage "c++ + pkg-config iothttp-static" "$work/examples/cxx-static" static
run_publish "c++ + pkg-config iothttp-static" "$work/examples/cxx-static"
# shellcheck disable=SC2046
c++ "${cxx_flags[@]}" -fno-exceptions -fno-rtti -o "$work/examples/cxx-shared" \
    "$root/c-examples/publish.cpp" $(pkg-config --cflags --libs iothttp) \
    -Wl,-rpath,"$(pkg-config --variable=libdir iothttp)" || fail "c++ + pkg-config iothttp"
check_linkage "c++ + pkg-config iothttp (-fno-exceptions -fno-rtti)" "$work/examples/cxx-shared" shared
run_publish "c++ + pkg-config iothttp (-fno-exceptions -fno-rtti)" "$work/examples/cxx-shared"
static_libs="$(pkg-config --static --libs iothttp)"
[[ "$static_libs" == *-lpthread* && "$static_libs" == *-liothttp* ]] ||
    fail "pkg-config --static --libs iothttp gives '$static_libs'"
note "pkg-config --static --libs iothttp: $static_libs"
unset PKG_CONFIG_PATH
ran "c-examples built 6 ways (in-tree; find_package static/shared; pkg-config static/shared via CMake; cc and c++ + pkg-config static/shared), each publish (C and C++) published to both clouds; upload examples (UCloud file, Aliyun OTA, AGC) run from the 4 CMake builds"

# Run an example under valgrind memcheck: memcheck_example <label> <binary> <args...>
memcheck_example() {
    local label="$1" log="$work/$1.memcheck.log" out="$work/$1.memcheck.out"
    shift
    if ! valgrind --error-exitcode=99 --leak-check=full \
        --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
        --track-origins=yes --suppressions="$root/tests/c/valgrind.supp" \
        --log-file="$log" "$@" >"$out" 2>&1; then
        cat "$log" "$out" >&2
        fail "$label is not valgrind-clean (or failed)"
    fi
}

if ((have_valgrind)); then
    ex="$work/examples/find-package-static"
    memcheck_example publish-ucloud "$ex/publish" ucloud demoProduct demoDevice demoSecret \
        "$IOTHTTP_EMU_UCLOUD_URL" "$IOTHTTP_EMU_CA"
    memcheck_example publish-aliyun "$ex/publish" aliyun a1demoPK demoDevice demoSecret \
        "$IOTHTTP_EMU_ALIYUN_URL" "$IOTHTTP_EMU_CA"
    memcheck_example publish_cpp-ucloud "$ex/publish_cpp" ucloud demoProduct demoDevice demoSecret \
        "$IOTHTTP_EMU_UCLOUD_URL" "$IOTHTTP_EMU_CA"
    memcheck_example publish_cpp-aliyun "$ex/publish_cpp" aliyun a1demoPK demoDevice demoSecret \
        "$IOTHTTP_EMU_ALIYUN_URL" "$IOTHTTP_EMU_CA"
    grep -Eq '^message id: [0-9]+$' "$work/publish_cpp-aliyun.memcheck.out" ||
        fail "publish_cpp under valgrind: $(cat "$work/publish_cpp-aliyun.memcheck.out")"
    memcheck_example upload_file "$ex/upload_file" demoProduct demoDevice demoSecret \
        "$upload_file_path" "$IOTHTTP_EMU_UFILE_URL" "$IOTHTTP_EMU_CA"
    grep -q '^uploaded upload-example.bin (300000 bytes)$' "$work/upload_file.memcheck.out" ||
        fail "upload_file under valgrind: $(cat "$work/upload_file.memcheck.out")"
    memcheck_example ota_upload "$ex/ota_upload" demoAccessKeyId demoAccessKeySecret \
        "$upload_file_path" bin "$IOTHTTP_EMU_ALIYUN_IOT_URL" "$IOTHTTP_EMU_CA"
    grep -Eq '^firmware url: https://.*\.bin$' "$work/ota_upload.memcheck.out" ||
        fail "ota_upload under valgrind: $(cat "$work/ota_upload.memcheck.out")"
    memcheck_example agc_upload "$ex/agc_upload" demoClientId demoClientSecret 10086 \
        "$upload_file_path" "$IOTHTTP_EMU_AGC_URL" "$IOTHTTP_EMU_CA"
    grep -Eq '^object id: .+' "$work/agc_upload.memcheck.out" ||
        fail "agc_upload under valgrind: $(cat "$work/agc_upload.memcheck.out")"
    emu_control "cut download example-dl.bin 100000 1" >/dev/null
    memcheck_example ota_download "$ex/ota_download" "$IOTHTTP_EMU_DL_URL/example-dl.bin" \
        "$work/memcheck-dl.bin" 300000 "$IOTHTTP_EXAMPLE_DL_MD5" "$IOTHTTP_EXAMPLE_DL_SHA256" \
        "$IOTHTTP_EMU_CA"
    grep -q 'verified and in place$' "$work/ota_download.memcheck.out" ||
        fail "ota_download under valgrind: $(cat "$work/ota_download.memcheck.out")"
    stored="$(emu_control objects | grep -o "\"md5\":\"$upload_md5\"" | wc -l)"
    ((stored >= 3)) || fail "examples under valgrind: $stored copies with the file's MD5 stored, expected 3"
    emu_control clear-objects >/dev/null
    note "examples under valgrind memcheck: publish and publish_cpp (ucloud, aliyun), upload_file, ota_upload, agc_upload, ota_download (resumed after a cut): 0 errors, no leaks"
    ran "examples valgrind-clean: publish and publish_cpp (both clouds), upload_file, ota_upload, agc_upload, ota_download"
fi

# ---------------------------------------------------------------------------------------
section "4. Relocated prefix"
moved="$work/relocated/somewhere/else"
mkdir -p "$(dirname "$moved")"
mv "$prefix" "$moved"
stale="$(grep -rIl -- "$prefix" "$moved" || true)"
[[ -z "$stale" ]] || fail "installed files still name the build-time prefix: $stale"
note "moved $prefix -> $moved (the old path no longer exists)"
build_example relocated-find-package-static static "$moved"
build_example relocated-find-package-shared shared "$moved" -DIOTHTTP_EXAMPLES_SHARED=ON
build_example relocated-pkg-config-static static "$moved" -DIOTHTTP_EXAMPLES_PKGCONFIG=ON
build_example relocated-pkg-config-shared shared "$moved" -DIOTHTTP_EXAMPLES_PKGCONFIG=ON \
    -DIOTHTTP_EXAMPLES_SHARED=ON
ran "relocated prefix: find_package and pkg-config, static and shared, built and published"

# ---------------------------------------------------------------------------------------
section "5. tests/c (outside project against the relocated prefix)"
uncovered="$(comm -23 <(echo "$declared") \
    <(grep -oE 'iothttp_[a-z0-9_]+\(' "$root/tests/c/test_api.c" | tr -d '(' | sort -u))"
[[ -z "$uncovered" ]] ||
    fail "tests/c/test_api.c does not call: $(tr '\n' ' ' <<<"$uncovered")(every header function must be tested)"
note "test_api.c calls all $n_declared functions of iothttp.h (test_args checks each one's arguments)"
memcheck_flag=OFF
((have_valgrind)) && memcheck_flag=ON
total_tests=0

# Configure, build and run tests/c in <dir>: run_ctest <label> <dir> <cmake args...>. Prints
# failed tests and the label summary; stops the script when a test failed.
run_ctest() {
    local label="$1" dir="$2" n
    shift 2
    quiet "$dir.configure.log" cmake -S "$root/tests/c" -B "$dir" -DCMAKE_BUILD_TYPE=Debug \
        -DCMAKE_PREFIX_PATH="$moved" -DIOTHTTP_TEST_RUSTC="$(command -v rustc)" "$@"
    quiet "$dir.build.log" cmake --build "$dir" --parallel "$jobs"
    (cd "$dir" && ctest --output-on-failure --parallel "$jobs" 2>&1) >"$dir.ctest.log" || true
    grep -E '\*\*\*|Failed|Timeout|tests passed|tests failed|sec\*proc' "$dir.ctest.log" |
        grep -v '^ *[0-9]*/[0-9]* Test *#[0-9]*: .* Passed' | sed 's/^/      /' || true
    grep -q '100% tests passed' "$dir.ctest.log" || {
        sed -n '/The following tests FAILED/,$p' "$dir.ctest.log" >&2
        fail "ctest ($label): see $dir.ctest.log"
    }
    n="$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$dir.ctest.log")"
    total_tests=$((total_tests + n))
    ctest_ran="$n"
}

# Every test runs against both linkages; the memcheck twins run once, against the static
# library (the same Rust code is in both; valgrind is the slow part of this script).
for kind in static shared; do
    dir="$work/ctest-$kind"
    shared_flag=OFF
    valgrind_flag="$memcheck_flag"
    if [[ $kind == shared ]]; then
        shared_flag=ON
        valgrind_flag=OFF
    fi
    note "ctest ($kind library$([[ $valgrind_flag == ON ]] && echo ', each test also under memcheck')):"
    run_ctest "$kind" "$dir" -DIOTHTTP_TEST_SHARED="$shared_flag" \
        -DIOTHTTP_TEST_VALGRIND="$valgrind_flag"
    check_linkage "test_api ($kind)" "$dir/test_api" "$kind"
    check_linkage "test_faults ($kind)" "$dir/test_faults" "$kind"
    check_linkage "test_args ($kind)" "$dir/test_args" "$kind"
    check_linkage "test_cxx ($kind)" "$dir/test_cxx" "$kind"
    check_linkage "test_cxx_noexc ($kind)" "$dir/test_cxx_noexc" "$kind"
    grep -q 'cxx_callback_exceptions .*Passed' "$dir.ctest.log" ||
        fail "ctest ($kind): the C++ test cxx_callback_exceptions did not pass"
    grep -q 'cxx_noexc .*Passed' "$dir.ctest.log" || fail "ctest ($kind): cxx_noexc did not pass"
    if command -v clang++ >/dev/null; then
        grep -q 'hpp_clang_noexc .*Passed' "$dir.ctest.log" ||
            fail "ctest ($kind): clang++ is installed but hpp_clang_noexc did not pass"
    fi
    n="$ctest_ran"
    if [[ $valgrind_flag == ON ]]; then
        errors="$(grep -h 'ERROR SUMMARY' "$dir/Testing/Temporary/LastTest.log" |
            awk '{s += $4} END {print s + 0}')"
        lost="$(grep -hE '(definitely|indirectly) lost:' "$dir/Testing/Temporary/LastTest.log" |
            awk '{gsub(",", "", $4); s += $4} END {print s + 0}')"
        runs="$(grep -c 'ERROR SUMMARY' "$dir/Testing/Temporary/LastTest.log" || true)"
        note "valgrind ($kind): $runs memcheck runs, $errors errors, $lost bytes definitely/indirectly lost"
        ran "tests/c $kind: $n ctest tests passed; valgrind: $runs runs, $errors errors, $lost bytes lost"
    else
        ran "tests/c $kind: $n ctest tests passed (valgrind not run)"
    fi
done
n_rows="$(grep -c '^ *ROW(' "$root/tests/c/test_faults.c")"
n_args="$(grep -cE '^ *ROWV?\(iothttp_' "$root/tests/c/test_args.c")"
note "test_faults: $n_rows rows; test_args: $n_args rows over all $n_declared header functions"

# ---------------------------------------------------------------------------------------
if [[ "${IOTHTTP_TEST_SANITIZE:-1}" != 0 ]]; then
    section "6. tests/c and c-examples under AddressSanitizer + UndefinedBehaviorSanitizer"
    dir="$work/ctest-sanitize"
    # The tests carry these in their CTest ENVIRONMENT too; exported for anything else.
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    note "ctest (static library, -fsanitize=address,undefined -fno-sanitize-recover=undefined):"
    run_ctest sanitize "$dir" -DIOTHTTP_TEST_SANITIZE=ON -DIOTHTTP_TEST_VALGRIND=OFF
    unset ASAN_OPTIONS UBSAN_OPTIONS
    check_linkage "test_api (sanitize)" "$dir/test_api" static
    for bin in test_api test_faults test_args test_cxx test_cxx_noexc publish publish_cpp upload_file \
        ota_upload agc_upload ota_download; do
        grep -q '__asan_init' <(nm "$dir/$bin") || fail "$dir/$bin is not instrumented"
        grep -q '__ubsan_handle' <(nm "$dir/$bin") || fail "$dir/$bin has no UBSan checks"
    done
    reports="$(grep -cE 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer' \
        "$dir/Testing/Temporary/LastTest.log" || true)"
    ((reports == 0)) || fail "sanitizer reports in $dir/Testing/Temporary/LastTest.log"
    suppressed="$( (grep -hvE '^ *(#|$)' "$root/tests/c/lsan.supp" "$root/tests/c/ubsan.supp" || true) | wc -l)"
    note "ASan/UBSan: $ctest_ran tests (test_api, test_faults, test_args, test_cxx both ways, the publish (C, C++) and upload examples), 0 reports, $suppressed suppression entries"
    ran "sanitizers: $ctest_ran ctest tests under ASan+UBSan (leak checks on), 0 reports, $suppressed suppressions"
fi

# ---------------------------------------------------------------------------------------
section "7. Summary"
size() { stat -c %s "$1"; }
human() { awk -v b="$1" 'BEGIN { printf "%.2f MiB (%d bytes)", b / 1048576, b }'; }
strip -o "$work/libiothttp.so.stripped" "$moved/$libdir_rel/libiothttp.so.$version"
strip -o "$work/publish.stripped" "$work/examples/find-package-static/publish"
for line in "${summary[@]}"; do
    note "- $line"
done
note "- publish binaries run against the emulator: $publish_runs"
note "- upload examples run against the emulator: $upload_runs"
# The fault matrix's outcome table (the elapsed time of the faulty call; memcheck: the same
# row under valgrind, whose result code the row asserts just the same).
printf '\n    Fault matrix (tests/c/test_faults.c; static library):\n'
printf '      %-46s %-26s %8s %10s\n' row result ms memcheck
fault_rows="$(sed -n 's/^ *ROW(\([a-z0-9_]*\),.*/\1/p' "$root/tests/c/test_faults.c" | tr '\n' ' ')"
awk -v rows="$fault_rows" '/^[0-9]+\/[0-9]+ Testing: / { name = $3 }
     /^outcome / { if (name ~ /_memcheck$/) { mc[$2] = $4 } else { code[$2] = $3; ms[$2] = $4 } }
     END {
         n = split(rows, order, " ")
         for (i = 1; i <= n; i++) {
             r = order[i]
             printf "      %-46s %-26s %8s %10s\n", r, code[r], ms[r], (r in mc) ? mc[r] : "-"
         }
     }' "$work/ctest-static/Testing/Temporary/LastTest.log"
printf '\n    Artifact sizes:\n'
sizes=(
    "libiothttp.a (installed)|$moved/$libdir_rel/libiothttp.a"
    "libiothttp.so.$version|$moved/$libdir_rel/libiothttp.so.$version"
    "libiothttp.so.$version, stripped|$work/libiothttp.so.stripped"
    "publish (static libiothttp)|$work/examples/find-package-static/publish"
    "publish (static libiothttp), stripped|$work/publish.stripped"
)
for entry in "${sizes[@]}"; do
    note "$(printf '%-40s %s' "${entry%%|*}" "$(human "$(size "${entry#*|}")")")"
done
printf '\ntests/c/run.sh: all passed in %d s\n' "$((SECONDS - started_at))"
