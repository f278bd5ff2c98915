#!/usr/bin/env bash
# Firmware sizes: what libiothttp and a program that publishes cost, per target, feature set
# and profile, through the CMake package exactly as a firmware build would use it.
#
#   tests/bench/size.sh [table|features|crates] ...
#
#   table     targets (host, armv7, aarch64) x features (all; "ucloud;tls12": publish to one
#             cloud; "ucloud": the same over TLS 1.3 only) x profile (release; size build;
#             size build + panic=abort)
#   features  armv7 size build: "ucloud;tls12" plus one feature at a time (what each costs)
#   crates    armv7 size build, "ucloud;tls12": where the bytes of the publish program go, per
#             crate (symbol sizes of the unstripped, --gc-sections-linked program)
#
# Sizes: `publish` is c-examples/publish.c (MinSizeRel, -ffunction-sections -fdata-sections,
# -Wl,--gc-sections) linked with iothttp::static and stripped; `.so` is the shared library
# stripped. The publish program uses one cloud and the vendor CA only (the emulator's CA file
# at run time). Output: Markdown rows on stdout, logs in $SIZE_WORK (default: a temp dir).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="${SIZE_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/iothttp-size.XXXXXX")}"
jobs="${IOTHTTP_TEST_JOBS:-2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
modes=("$@")
((${#modes[@]})) || modes=(table features crates)

# build <name> <target: host|armv7|aarch64> <features> <size ON|OFF> <abort ON|OFF>
# -> sets so_bytes, publish_bytes, publish_unstripped
build() {
    local name="$1" target="$2" features="$3" size="$4" abort="$5" dir="$work/$1" tc=() strip=strip
    case "$target" in
    armv7)
        tc=(-DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/armv7-linux-gnueabihf.cmake"
            -DIOTHTTP_RUSTC="$("$root/scripts/cross-rustc.sh" armv7-unknown-linux-gnueabihf)")
        strip=arm-linux-gnueabihf-strip
        ;;
    aarch64)
        tc=(-DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/aarch64-linux-gnu.cmake"
            -DIOTHTTP_RUSTC="$("$root/scripts/cross-rustc.sh" aarch64-unknown-linux-gnu)")
        strip=aarch64-linux-gnu-strip
        ;;
    esac
    cmake -S "$root" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release "${tc[@]}" \
        -DIOTHTTP_FEATURES="$features" -DIOTHTTP_SIZE_BUILD="$size" -DIOTHTTP_PANIC_ABORT="$abort" \
        -DIOTHTTP_CARGO_TARGET_DIR="$CARGO_TARGET_DIR" -DCMAKE_INSTALL_PREFIX="$dir/prefix" \
        >"$dir.log" 2>&1
    cmake --build "$dir/build" --parallel "$jobs" >>"$dir.log" 2>&1
    cmake --install "$dir/build" >>"$dir.log" 2>&1
    cmake -S "$root/c-examples" -B "$dir/ex" -DCMAKE_BUILD_TYPE=MinSizeRel "${tc[@]}" \
        -DCMAKE_PREFIX_PATH="$dir/prefix" -DCMAKE_C_FLAGS="-ffunction-sections -fdata-sections" \
        -DCMAKE_EXE_LINKER_FLAGS="-Wl,--gc-sections" >>"$dir.log" 2>&1
    cmake --build "$dir/ex" --target publish >>"$dir.log" 2>&1
    "$strip" -o "$dir/publish.stripped" "$dir/ex/publish"
    "$strip" -o "$dir/libiothttp.so.stripped" "$(find "$dir/prefix" -name 'libiothttp.so.*.*.*')"
    publish_bytes="$(stat -c %s "$dir/publish.stripped")"
    so_bytes="$(stat -c %s "$dir/libiothttp.so.stripped")"
    publish_unstripped="$dir/ex/publish"
}

mb() { awk -v b="$1" 'BEGIN { printf "%.2f MB", b / 1000000 }'; }

for mode in "${modes[@]}"; do
    case "$mode" in
    table)
        echo "| target | features | profile | publish, stripped | libiothttp.so, stripped |"
        echo "|---|---|---|---|---|"
        for target in host armv7 aarch64; do
            for row in "default release" "default size" "ucloud;tls12 size" "ucloud;tls12 size+abort" \
                "ucloud size+abort"; do
                features="${row% *}" profile="${row##* }"
                size=OFF abort=OFF
                [[ $profile == size* ]] && size=ON
                [[ $profile == *abort ]] && abort=ON
                build "t-$target-${features/;/+}-$profile" "$target" "$features" "$size" "$abort"
                echo "| $target | $features | $profile | $(mb "$publish_bytes") ($publish_bytes) | $(mb "$so_bytes") ($so_bytes) |"
            done
        done
        ;;
    features)
        build f-base armv7 "ucloud;tls12" ON OFF
        base_p="$publish_bytes" base_so="$so_bytes"
        echo "| armv7 size build | publish, stripped | libiothttp.so, stripped | .so beyond ucloud alone |"
        echo "|---|---|---|---|"
        echo "| ucloud + tls12 | $(mb "$base_p") | $(mb "$base_so") | - |"
        build f-tls13 armv7 "ucloud" ON OFF
        echo "| ucloud (no tls12) | $(mb "$publish_bytes") | $(mb "$so_bytes") | $(((so_bytes - base_so) / 1000)) kB |"
        for f in ucloud-files aliyun aliyun-ota agc generic-uploads builtin-roots; do
            build "f-$f" armv7 "ucloud;tls12;$f" ON OFF
            echo "| ucloud + tls12 + $f | $(mb "$publish_bytes") | $(mb "$so_bytes") | +$(((so_bytes - base_so) / 1000)) kB |"
        done
        build f-all armv7 default ON OFF
        echo "| all (default) | $(mb "$publish_bytes") | $(mb "$so_bytes") | +$(((so_bytes - base_so) / 1000)) kB |"
        ;;
    crates)
        for abort in OFF ON; do
            build "c-$abort" armv7 "ucloud;tls12" ON "$abort"
            echo "armv7, ucloud + tls12, size build, panic=abort $abort: publish stripped $publish_bytes bytes"
            python3 "$root/tests/bench/crate_sizes.py" arm-linux-gnueabihf-nm "$publish_unstripped" \
                arm-linux-gnueabihf-readelf
        done
        ;;
    *)
        echo "unknown mode $mode (table, features, crates)" >&2
        exit 2
        ;;
    esac
done
echo "logs: $work" >&2
