#!/usr/bin/env bash
# iothttp on the boards firmware runs on: cross-compiled from a CMake toolchain file, run under
# qemu-user against the cloud emulator on this machine's loopback.
#
#   tests/cross/run.sh [armv7|aarch64 ...]      (default: both)
#
# For each target:
#  1. configure the root project with the shipped toolchain file
#     (cmake/toolchains/<target>.cmake, nothing iothttp-specific in it) and the rustc that has
#     the target's standard library (scripts/cross-rustc.sh), build and install;
#  2. check the artifacts: the ELF machine and class, the shared library's exports and the
#     archive's global symbols (only iothttp_*);
#  3. build c-examples against the installed package with the same toolchain (find_package,
#     static and shared) and run them under qemu: publish (publish.c, and publish.cpp through
#     iothttp.hpp) to both clouds, the three uploads with server-checked digests;
#  4. build tests/c the same way and run ctest through CMAKE_CROSSCOMPILING_EMULATOR: the API
#     cases (among them the 32-bit size checks), the fault matrix, the argument table, the C++
#     test (test_cxx, with and without exceptions), and the archive beside a second Rust
#     static library, against the static and the shared library.
#  4b. build the Python wheel that bundles the installed library and run it under qemu with
#     the target's own Python (publish to both clouds, a verified download);
#  5. the library's Rust unit tests (cargo test --lib, among them MD5 and HMAC-MD5 against the
#     md-5 and hmac crates), cross-compiled with the same rustc and run under qemu.
# Then, once: two builds with features left out (armv7 publish-only size build, and a host
# build of UCloud + Aliyun OTA), each running test_features and the publish example; a plain toolchain file of three lines (CMAKE_SYSTEM_NAME, CMAKE_SYSTEM_PROCESSOR,
# CMAKE_C_COMPILER) builds the library and an outside project linking iothttp::static, which
# runs; and the configure-time error for a compiler without a Rust target.
#
# Environment: IOTHTTP_TEST_JOBS (default 2), IOTHTTP_TEST_KEEP=1 (keep the work directory).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
jobs="${IOTHTTP_TEST_JOBS:-2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
work="$(mktemp -d "${TMPDIR:-/tmp}/iothttp-cross-test.XXXXXX")"
started_at=$SECONDS

# shellcheck source=../lib/harness.sh
source "$root/tests/lib/harness.sh"

cleanup_on_exit tests/cross/run.sh

targets=("$@")
((${#targets[@]})) || targets=(armv7 aarch64)

version="$(sed -n 's/^version *= *"\([0-9][0-9.]*\)".*/\1/p' "$root/Cargo.toml" | head -n 1)"
major="${version%%.*}"

# <short name>: toolchain file, GNU triple, Rust target, qemu, ELF machine and class.
target_info() {
    case "$1" in
    armv7)
        toolchain=armv7-linux-gnueabihf gnu=arm-linux-gnueabihf
        rust_target=armv7-unknown-linux-gnueabihf qemu=qemu-arm elf_machine=ARM elf_class=ELF32
        ;;
    aarch64)
        toolchain=aarch64-linux-gnu gnu=aarch64-linux-gnu
        rust_target=aarch64-unknown-linux-gnu qemu=qemu-aarch64 elf_machine=AArch64
        elf_class=ELF64
        ;;
    *) fail "unknown target '$1' (armv7 or aarch64)" ;;
    esac
    RUNNER=("$qemu" -L "/usr/$gnu" -E "LD_LIBRARY_PATH=/usr/$gnu/lib")
}

section "Cloud emulator (host, loopback)"
quiet "$work/emulator-build.log" cargo build -q --locked -p iothttp-emulator \
    --manifest-path "$root/Cargo.toml"
emu_start "$CARGO_TARGET_DIR/debug/iothttp-emulator" "$work" --plain-http ||
    fail "cannot start the emulator"
note "emulator pid $emu_pid at $IOTHTTP_EMU_URL"

# run_wheel <target> <installed libiothttp.so.VERSION>: build the wheel that bundles the cross
# library (bindings/python/build_wheel.sh: the platform tag from its ELF machine), unpack it
# as pip would, and use it from the target's own Python under qemu: Debian's libpython3.X for
# the target (scripts/bootstrap.sh test) behind a two-line interpreter linked here. The
# package must load the bundled library (IOTHTTP_LIB unset), publish to both clouds and
# download a verified file through the command line.
run_wheel() {
    local t="$1" so="$2" wd="$dir/wheel" libpy out md5 name="wheel-$1.bin"
    case "$t" in
    armv7) wheel_plat=linux_armv7l ;;
    aarch64) wheel_plat=linux_aarch64 ;;
    esac
    mkdir -p "$wd"
    wheel="$("$root/bindings/python/build_wheel.sh" --lib "$so" --out "$wd" 2>"$wd/build.log")" ||
        { cat "$wd/build.log" >&2; fail "$t: build_wheel.sh failed"; }
    [[ "$wheel" == *"-$wheel_plat.whl" ]] || fail "$t: the wheel $wheel is not tagged $wheel_plat"
    python3 -m zipfile -e "$wheel" "$wd/site"
    "$gnu-readelf" -h "$wd/site/iothttp/libiothttp.so.$major" | grep -q "Machine:.*$elf_machine" ||
        fail "$t: the wheel does not bundle an $elf_machine library"
    libpy="$(compgen -G "/usr/lib/$gnu/libpython3.*.so.1.0" | head -n 1)" ||
        fail "$t: no /usr/lib/$gnu/libpython3.X.so.1.0: run scripts/bootstrap.sh test"
    printf '%s\n' 'extern int Py_BytesMain(int argc, char **argv);' \
        'int main(int argc, char **argv) { return Py_BytesMain(argc, argv); }' >"$wd/python.c"
    quiet "$wd/python.log" "$gnu-gcc" -O2 "$wd/python.c" -o "$wd/python3" \
        "-L/usr/lib/$gnu" "-l:${libpy##*/}" "-Wl,-rpath-link=/usr/lib/$gnu"
    local py=("$qemu" -L "/usr/$gnu" -E "LD_LIBRARY_PATH=/usr/$gnu/lib:/usr/lib/$gnu"
        -E PYTHONHOME=/usr -E "PYTHONPATH=$wd/site" -E PYTHONDONTWRITEBYTECODE=1
        -U IOTHTTP_LIB -E IOTHTTP_SECRET=demoSecret "$wd/python3")
    out="$("${py[@]}" -c 'import ctypes, platform, iothttp, iothttp._lib as l
print(platform.machine(), 8 * ctypes.sizeof(ctypes.c_void_p), l.lib().path)' 2>&1)" ||
        { printf '%s\n' "$out" >&2; fail "$t: the wheel's package does not import under $qemu"; }
    [[ "$out" == *" $wd/site/iothttp/libiothttp.so.$major" ]] ||
        fail "$t: the package did not load the bundled library: $out"
    note "$t wheel: ${wheel##*/}; python on ${out% *}"
    local cloud product
    for cloud in ucloud aliyun; do
        if [[ $cloud == ucloud ]]; then product=demoProduct; else product=a1demoPK; fi
        local url_var="IOTHTTP_EMU_${cloud^^}_URL"
        out="$("${py[@]}" -m iothttp publish --cloud "$cloud" --product "$product" \
            --device demoDevice --endpoint "${!url_var}" --ca-file "$IOTHTTP_EMU_CA" \
            "/$product/demoDevice/upload/event" '{"from":"the wheel"}' 2>"$wd/publish.err")" ||
            { cat "$wd/publish.err" >&2; fail "$t: the wheel's iothttp publish to $cloud failed"; }
        [[ "$out" =~ ^[0-9]+$ ]] || fail "$t: the wheel's publish to $cloud printed: $out"
    done
    emu_control "dl-object $name 300000 5" >/dev/null
    md5="$(emu_control "dl-info $name" | sed -E 's/.*"md5":"([0-9a-f]+)".*/\1/')"
    out="$("${py[@]}" -m iothttp download --ca-file "$IOTHTTP_EMU_CA" --size 300000 --md5 "$md5" \
        --no-progress -o "$wd/$name" "$IOTHTTP_EMU_DL_URL/$name" 2>&1)" ||
        { printf '%s\n' "$out" >&2; fail "$t: the wheel's iothttp download failed"; }
    [[ "$(md5sum "$wd/$name" | cut -d' ' -f1)" == "$md5" ]] || fail "$t: the wheel's download has the wrong MD5"
    note "$t wheel: iothttp publish (ucloud, aliyun) and a verified download under $qemu"
}

for t in "${targets[@]}"; do
    target_info "$t"
    rustc="$("$root/scripts/cross-rustc.sh" "$rust_target")" ||
        fail "no rustc with the $rust_target standard library: run scripts/bootstrap.sh test"
    for tool in "$gnu-gcc" "$gnu-g++" "$gnu-nm" "$gnu-readelf" "$qemu"; do
        command -v "$tool" >/dev/null || fail "'$tool' is missing: run scripts/bootstrap.sh test"
    done
    tc="$root/cmake/toolchains/$toolchain.cmake"
    dir="$work/$t"
    prefix="$dir/prefix"
    mkdir -p "$dir"

    section "$t: build and install with $tc ($rustc)"
    quiet "$dir/configure.log" cmake -S "$root" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_TOOLCHAIN_FILE="$tc" -DIOTHTTP_RUSTC="$rustc" \
        -DIOTHTTP_CARGO_TARGET_DIR="$CARGO_TARGET_DIR" -DCMAKE_INSTALL_PREFIX="$prefix"
    grep -q "iothttp: Rust target $rust_target (from the C compiler's triple $gnu)" \
        "$dir/configure.log" || fail "$t: configure did not derive $rust_target: $(grep iothttp: "$dir/configure.log")"
    quiet "$dir/build.log" cmake --build "$dir/build" --parallel "$jobs"
    quiet "$dir/install.log" cmake --install "$dir/build"
    libdir="$prefix/lib"
    [[ -d "$libdir" ]] || libdir="$(dirname "$(find "$prefix" -name libiothttp.a | head -n 1)")"
    note "Rust target $rust_target derived from $gnu-gcc; installed into $prefix"

    section "$t: artifacts"
    so="$libdir/libiothttp.so.$version"
    header="$("$gnu-readelf" -h "$so")"
    grep -q "Machine:.*$elf_machine" <<<"$header" || fail "$t: $so is not $elf_machine: $header"
    grep -q "Class:.*$elf_class" <<<"$header" || fail "$t: $so is not $elf_class"
    ar_obj="$dir/archive-member.o"
    (cd "$dir" && "$gnu-ar" x "$libdir/libiothttp.a" && mv ./*.o "$ar_obj")
    "$gnu-readelf" -h "$ar_obj" | grep -q "Machine:.*$elf_machine" || fail "$t: libiothttp.a is not $elf_machine"
    check_symbols "$prefix/include/iothttp.h" "$libdir" "$gnu-nm"
    grep -q "set(iothttp_RUST_TARGET \"$rust_target\")" "$libdir/cmake/iothttp/iothttpConfig.cmake" ||
        fail "$t: the installed package does not record its Rust target"
    ran "$t: $elf_class $elf_machine libiothttp.a and .so; only iothttp_* global in both"

    section "$t: c-examples under $qemu"
    for kind in static shared; do
        ex="$dir/examples-$kind"
        shared_flag=OFF
        [[ $kind == shared ]] && shared_flag=ON
        quiet "$ex.configure.log" cmake -S "$root/c-examples" -B "$ex" -DCMAKE_BUILD_TYPE=Release \
            -DCMAKE_TOOLCHAIN_FILE="$tc" -DCMAKE_PREFIX_PATH="$prefix" \
            -DIOTHTTP_EXAMPLES_SHARED="$shared_flag"
        quiet "$ex.build.log" cmake --build "$ex" --parallel "$jobs"
        "$gnu-readelf" -h "$ex/publish" | grep -q "Machine:.*$elf_machine" || fail "$t: publish is not $elf_machine"
        "$gnu-readelf" -h "$ex/publish_cpp" | grep -q "Machine:.*$elf_machine" ||
            fail "$t: publish_cpp is not $elf_machine"
        check_linkage "$t $kind" "$ex/publish" "$kind"
        check_linkage "$t $kind C++" "$ex/publish_cpp" "$kind"
        run_publish "$t find_package $kind" "$ex/publish"
        run_publish "$t find_package $kind C++ ($gnu-g++, iothttp.hpp)" "$ex/publish_cpp"
        run_uploads "$t find_package $kind" "$ex"
    done
    ran "$t: c-examples (find_package static and shared; publish in C and C++) published to both clouds and uploaded to the three stores under $qemu"

    section "$t: the Python wheel of the installed library under $qemu"
    run_wheel "$t" "$so"
    ran "$t: the $wheel_plat wheel (bundling the installed library) published and downloaded from the $gnu Python under $qemu"

    section "$t: tests/c under $qemu (ctest, CMAKE_CROSSCOMPILING_EMULATOR)"
    for kind in static shared; do
        ct="$dir/ctest-$kind"
        shared_flag=OFF
        [[ $kind == shared ]] && shared_flag=ON
        quiet "$ct.configure.log" cmake -S "$root/tests/c" -B "$ct" -DCMAKE_BUILD_TYPE=Debug \
            -DCMAKE_TOOLCHAIN_FILE="$tc" -DCMAKE_PREFIX_PATH="$prefix" \
            -DIOTHTTP_TEST_SHARED="$shared_flag" -DIOTHTTP_TEST_VALGRIND=OFF \
            -DIOTHTTP_TEST_RUSTC="$rustc"
        quiet "$ct.build.log" cmake --build "$ct" --parallel "$jobs"
        check_linkage "$t test_api ($kind)" "$ct/test_api" "$kind"
        # Emulated code is slower: the same margins as under valgrind.
        (cd "$ct" && IOTHTTP_TEST_MARGIN_MS=5000 IOTHTTP_TEST_SLOW=1 \
            ctest --output-on-failure --parallel "$jobs" 2>&1) >"$ct.ctest.log" || true
        grep -q '100% tests passed' "$ct.ctest.log" || {
            sed -n '/The following tests FAILED/,$p' "$ct.ctest.log" >&2
            fail "$t ctest ($kind): see $ct.ctest.log"
        }
        n="$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$ct.ctest.log")"
        secs="$(sed -n 's/^Total Test time (real) = *\([0-9.]*\) sec/\1/p' "$ct.ctest.log")"
        if [[ $kind == static ]]; then
            grep -q 'two_rust_libs_a .*Passed' "$ct.ctest.log" || fail "$t: two_rust_libs_a did not run"
        fi
        grep -q 'cxx_uploads .*Passed' "$ct.ctest.log" || fail "$t: the C++ test cxx_uploads did not run"
        grep -q 'cxx_noexc .*Passed' "$ct.ctest.log" || fail "$t: the C++ test cxx_noexc did not run"
        note "$t $kind: $n ctest tests passed under $qemu in ${secs} s"
        ran "$t tests/c $kind: $n ctest tests passed under $qemu"
    done

    section "$t: the library's Rust unit tests under $qemu (cargo test --lib)"
    t_upper="$(tr 'a-z-' 'A-Z_' <<<"$rust_target")"
    t_lower="${rust_target//-/_}"
    quiet "$dir/unit.log" env RUSTC="$rustc" "CARGO_TARGET_${t_upper}_LINKER=$gnu-gcc" \
        "CC_${t_lower}=$gnu-gcc" "AR_${t_lower}=$gnu-ar" \
        "CARGO_TARGET_${t_upper}_RUNNER=${RUNNER[*]}" \
        cargo test --locked --lib --target "$rust_target" --manifest-path "$root/Cargo.toml"
    n="$(sed -n 's/^test result: ok\. \([0-9]*\) passed.*/\1/p' "$dir/unit.log")"
    n_md5="$(grep -c '^test md5::tests::.* ok$' "$dir/unit.log" || true)"
    ((n_md5 >= 7)) || fail "$t: only $n_md5 MD5 unit tests passed (see $dir/unit.log)"
    note "$t: $n unit tests passed under $qemu, $n_md5 of them MD5 / HMAC-MD5"
    ran "$t: $n Rust unit tests of the library passed under $qemu ($n_md5 MD5 / HMAC-MD5)"
done

# A build with features left out: reduced_build <label> <toolchain file or ""> <features>
# <size build ON|OFF> <runner...>. Builds and installs it, runs test_features through ctest,
# publishes with the publish example (UCloud: works; Aliyun: unsupported unless built), and
# reports the stripped size of the publish program linked with --gc-sections.
reduced_build() {
    local label="$1" tc="$2" features="$3" size="$4" rdir="$work/reduced-$1" tc_args=() nm=nm strip=strip
    shift 4
    RUNNER=("$@")
    if [[ -n "$tc" ]]; then
        tc_args=(-DCMAKE_TOOLCHAIN_FILE="$tc" -DIOTHTTP_RUSTC="$rustc")
        nm="$gnu-nm" strip="$gnu-strip"
    fi
    section "$label: IOTHTTP_FEATURES=$features, IOTHTTP_SIZE_BUILD=$size"
    quiet "$rdir.configure.log" cmake -S "$root" -B "$rdir/build" -DCMAKE_BUILD_TYPE=Release \
        "${tc_args[@]}" -DIOTHTTP_FEATURES="$features" -DIOTHTTP_SIZE_BUILD="$size" \
        -DIOTHTTP_CARGO_TARGET_DIR="$CARGO_TARGET_DIR" -DCMAKE_INSTALL_PREFIX="$rdir/prefix"
    quiet "$rdir.build.log" cmake --build "$rdir/build" --parallel "$jobs"
    quiet "$rdir.install.log" cmake --install "$rdir/build"
    local rlib
    rlib="$(dirname "$(find "$rdir/prefix" -name libiothttp.a | head -n 1)")"
    check_symbols "$rdir/prefix/include/iothttp.h" "$rlib" "$nm"
    quiet "$rdir.ctest.configure.log" cmake -S "$root/tests/c" -B "$rdir/ctest" \
        -DCMAKE_BUILD_TYPE=Debug "${tc_args[@]}" -DCMAKE_PREFIX_PATH="$rdir/prefix" \
        -DIOTHTTP_TEST_VALGRIND=OFF
    grep -q "only test_features" "$rdir.ctest.configure.log" || fail "$label: tests/c did not see the features"
    quiet "$rdir.ctest.build.log" cmake --build "$rdir/ctest" --parallel "$jobs" --target test_features
    (cd "$rdir/ctest" && IOTHTTP_TEST_MARGIN_MS=5000 ctest --output-on-failure -L features 2>&1) \
        >"$rdir.ctest.log" || true
    grep -q '100% tests passed' "$rdir.ctest.log" || {
        cat "$rdir.ctest.log" >&2
        fail "$label: test_features failed"
    }
    quiet "$rdir.ex.configure.log" cmake -S "$root/c-examples" -B "$rdir/ex" \
        -DCMAKE_BUILD_TYPE=MinSizeRel "${tc_args[@]}" -DCMAKE_PREFIX_PATH="$rdir/prefix" \
        -DCMAKE_EXE_LINKER_FLAGS="-Wl,--gc-sections"
    quiet "$rdir.ex.build.log" cmake --build "$rdir/ex" --parallel "$jobs" --target publish
    local out
    out="$("${RUNNER[@]}" "$rdir/ex/publish" ucloud demoProduct demoDevice demoSecret \
        "$IOTHTTP_EMU_UCLOUD_URL" "$IOTHTTP_EMU_CA" 2>&1)" || fail "$label: UCloud publish: $out"
    grep -Eq '^message id: [0-9]+$' <<<"$out" || fail "$label: UCloud publish printed: $out"
    if [[ ";$features;" != *";aliyun;"* ]]; then
        out="$("${RUNNER[@]}" "$rdir/ex/publish" aliyun a1demoPK demoDevice demoSecret \
            "$IOTHTTP_EMU_ALIYUN_URL" "$IOTHTTP_EMU_CA" 2>&1)" && fail "$label: Aliyun publish worked"
        grep -q "IOTHTTP_E_UNSUPPORTED.*'aliyun'" <<<"$out" || fail "$label: Aliyun publish printed: $out"
    fi
    "$strip" -o "$rdir/publish.stripped" "$rdir/ex/publish"
    local bytes
    bytes="$(stat -c %s "$rdir/publish.stripped")"
    note "$label: test_features passed; publish to UCloud works, the rest is IOTHTTP_E_UNSUPPORTED"
    note "$label: stripped publish program (MinSizeRel, --gc-sections): $bytes bytes"
    ran "$label ($features, size build $size): only iothttp_* global, test_features passed, publish works; stripped publish $bytes bytes"
}

target_info armv7
rustc="$("$root/scripts/cross-rustc.sh" "$rust_target")"
reduced_build armv7-size "$root/cmake/toolchains/$toolchain.cmake" ucloud ON "${RUNNER[@]}"
reduced_build host-ucloud-aliyun-ota-tls12 "" "ucloud;aliyun-ota;tls12" OFF

section "A plain toolchain file (three lines), an outside project linking iothttp::static"
target_info aarch64
rustc="$("$root/scripts/cross-rustc.sh" "$rust_target")"
plain="$work/plain-toolchain.cmake"
cat >"$plain" <<EOF
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER $gnu-gcc)
EOF
pdir="$work/plain"
quiet "$pdir.configure.log" cmake -S "$root" -B "$pdir/build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_TOOLCHAIN_FILE="$plain" -DIOTHTTP_RUSTC="$rustc" \
    -DIOTHTTP_CARGO_TARGET_DIR="$CARGO_TARGET_DIR" -DCMAKE_INSTALL_PREFIX="$pdir/prefix"
grep -q "iothttp: Rust target $rust_target" "$pdir.configure.log" ||
    fail "plain toolchain: $rust_target not derived: $(grep iothttp: "$pdir.configure.log")"
quiet "$pdir.build.log" cmake --build "$pdir/build" --parallel "$jobs"
quiet "$pdir.install.log" cmake --install "$pdir/build"
mkdir -p "$pdir/app"
cat >"$pdir/app/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.16)
project(firmware LANGUAGES C)
find_package(iothttp 0.1 CONFIG REQUIRED)
add_executable(firmware firmware.c)
target_link_libraries(firmware PRIVATE iothttp::static)
EOF
cp "$root/c-examples/publish.c" "$pdir/app/firmware.c"
cp "$root/c-examples/common.h" "$pdir/app/"
quiet "$pdir/app.configure.log" cmake -S "$pdir/app" -B "$pdir/app/build" \
    -DCMAKE_TOOLCHAIN_FILE="$plain" -DCMAKE_PREFIX_PATH="$pdir/prefix"
quiet "$pdir/app.build.log" cmake --build "$pdir/app/build"
run_publish "plain toolchain file, iothttp::static" "$pdir/app/build/firmware"
ran "a three-line toolchain file: the library built for $rust_target, an outside project linked iothttp::static and published under ${RUNNER[0]}"

section "A compiler without a Rust target: a clear configure error"
out="$(cmake -S "$root" -B "$work/no-target" -DCMAKE_SYSTEM_NAME=Linux \
    -DCMAKE_C_COMPILER_TARGET=sparc-sun-solaris2.11 2>&1)" && fail "configure succeeded for sparc-sun-solaris2.11"
grep -q "IOTHTTP_RUST_TARGET" <<<"$out" || fail "the error does not name IOTHTTP_RUST_TARGET: $out"
grep -q "sparc-sun-solaris2.11" <<<"$out" || fail "the error does not name the triple: $out"
note "$(grep -m1 -o "iothttp: cross-compiling.*" <<<"$out" | cut -c1-100)..."
ran "no Rust target for the C compiler: configure fails naming IOTHTTP_RUST_TARGET"

section "Summary"
for line in "${summary[@]}"; do
    note "- $line"
done
note "- publish binaries run under qemu: $publish_runs; upload examples: $upload_runs"
printf '\ntests/cross/run.sh: all passed in %d s\n' "$((SECONDS - started_at))"
