#!/usr/bin/env bash
# Build the iothttp wheel (bundling libiothttp.so) into bindings/python/dist.
#
#   bindings/python/build_wheel.sh [--lib PATH] [--plat TAG] [--out DIR] [--no-strip]
#
# Without --lib, the host's library is built first, the way CMakeLists.txt builds it (one
# `cargo rustc --crate-type staticlib,cdylib` with the SONAME libiothttp.so.<major>, release
# profile, into $CARGO_TARGET_DIR, default <repo>/target), and that is bundled. With --lib,
# any built library is bundled as it is: a CMake install's lib/libiothttp.so.<version>, or a
# cross build's (the platform tag then follows the library's machine: an armv7 build gives
# a linux_armv7l wheel, an aarch64 one linux_aarch64; --plat overrides, e.g.
# manylinux_2_28_aarch64, but must name the library's machine).
#
# Needs python3 only (the wheel is written by build_wheel.py, no setuptools, no network).
# Prints the wheel's path on stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
lib=""
args=()
while (($#)); do
    case "$1" in
    --lib)
        lib="$2"
        shift 2
        ;;
    --lib=*)
        lib="${1#--lib=}"
        shift
        ;;
    --plat | --out)
        args+=("$1" "$2")
        shift 2
        ;;
    --plat=* | --out=* | --no-strip)
        args+=("$1")
        shift
        ;;
    -h | --help)
        sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "build_wheel.sh: unknown argument '$1' (see --help)" >&2
        exit 2
        ;;
    esac
done

if [[ -z "$lib" ]]; then
    version="$(sed -n 's/^version *= *"\([0-9][0-9.]*\)".*/\1/p' "$root/Cargo.toml" | head -n 1)"
    major="${version%%.*}"
    target_dir="${CARGO_TARGET_DIR:-$root/target}"
    echo "build_wheel.sh: building libiothttp $version (release, SONAME libiothttp.so.$major)" >&2
    CARGO_TARGET_DIR="$target_dir" cargo rustc -q --locked -p iothttp --lib \
        --manifest-path "$root/Cargo.toml" --profile release --crate-type staticlib,cdylib \
        -- -C "link-arg=-Wl,-soname,libiothttp.so.$major" >&2
    lib="$target_dir/release/libiothttp.so"
fi

exec python3 "$here/build_wheel.py" --lib "$lib" ${args[@]+"${args[@]}"}
