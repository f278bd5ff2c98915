#!/usr/bin/env bash
# Print the path of a rustc that has the standard library for every target given (default:
# armv7-unknown-linux-gnueabihf aarch64-unknown-linux-gnu), or exit 1 when there is none.
#
#   scripts/cross-rustc.sh [target...]
#
# Candidates, in order: $IOTHTTP_RUSTC, the rustc on PATH (rustup's, after `rustup target add`),
# and Debian's rustc-web at $IOTHTTP_DISTRO_RUSTC (default /usr/bin/rustc, with
# libstd-rust-web-dev:armhf and :arm64 installed).
set -euo pipefail

targets=("$@")
((${#targets[@]})) || targets=(armv7-unknown-linux-gnueabihf aarch64-unknown-linux-gnu)

has_std() {
    local rustc="$1" target libdir
    for target in "${targets[@]}"; do
        libdir="$("$rustc" --print target-libdir --target "$target" 2>/dev/null)" || return 1
        compgen -G "$libdir/libstd-*.rlib" >/dev/null || return 1
    done
}

candidates=()
[[ -n "${IOTHTTP_RUSTC:-}" ]] && candidates+=("$IOTHTTP_RUSTC")
if path_rustc="$(command -v rustc)"; then candidates+=("$path_rustc"); fi
candidates+=("${IOTHTTP_DISTRO_RUSTC:-/usr/bin/rustc}")
for rustc in "${candidates[@]}"; do
    if [[ -x "$rustc" ]] && has_std "$rustc"; then
        printf '%s\n' "$rustc"
        exit 0
    fi
done
echo "no rustc with the standard library for ${targets[*]} (tried: ${candidates[*]})" >&2
exit 1
