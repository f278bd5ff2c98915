#!/usr/bin/env bash
# Make sure this machine has what one of the README's two commands (or the benchmarks) needs,
# installing only what is missing with the system package manager. The commands run it first;
# it prints nothing when nothing is missing.
#
#   scripts/bootstrap.sh demo     what c-examples/demo.sh needs: cargo, a C compiler, CMake
#   scripts/bootstrap.sh test     what tests/run.sh needs: the above plus g++, clang (clang++
#                                 checks iothttp.hpp), pkg-config,
#                                 binutils, valgrind, python3, and for the firmware targets the
#                                 armv7 and aarch64 cross compilers, qemu-user, iproute2 (the
#                                 network-namespace tests), python3-venv (the Python
#                                 wheel test's venv), a rustc with the armv7 and aarch64
#                                 standard libraries, and Debian's libpython3.X for armhf
#                                 and arm64 (the cross wheels, run under qemu)
#   scripts/bootstrap.sh bench    what tests/bench/run.sh needs: cargo, a C compiler, python3,
#                                 curl, openssl, libcurl's headers (libcurl4-openssl-dev)
#   scripts/bootstrap.sh bench-nginx  the same plus nginx (`tests/bench/run.sh nginx`)
#
# Installing: with apt-get, as root or through `sudo -n`. When it may not install (not root and
# no password-less sudo, or IOTHTTP_BOOTSTRAP_INSTALL=0), it names the missing packages and the
# command that installs them, and exits 1 before anything is built.
#
# Rust itself (cargo) is never installed here: get it from https://rustup.rs.
#
# The cross standard libraries: a rustc that has them for both targets is used as it is (the
# one on PATH after `rustup target add armv7-unknown-linux-gnueabihf aarch64-unknown-linux-gnu`,
# or $IOTHTTP_RUSTC); otherwise Debian's rustc-web at $IOTHTTP_DISTRO_RUSTC (default
# /usr/bin/rustc) with libstd-rust-web-dev for armhf and arm64. scripts/cross-rustc.sh prints
# the one to use.
#
# Exit status: 0 when everything is there (or was installed), 1 when something is missing and
# could not be installed, 2 on a usage error.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mode="${1:-}"
case "$mode" in
demo | test | bench | bench-nginx) ;;
*)
    sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac

say() { printf 'bootstrap: %s\n' "$*" >&2; }

if ! command -v cargo >/dev/null; then
    say "cargo (Rust) is not installed: install it from https://rustup.rs, then run this again."
    exit 1
fi

# tool=package pairs: a tool missing from PATH means its package is installed.
tools=(cmake=cmake cc=gcc)
if [[ $mode == test ]]; then
    tools+=(
        c++=g++ pkg-config=pkg-config nm=binutils readelf=binutils objcopy=binutils
        strip=binutils valgrind=valgrind python3=python3 clang++=clang
        arm-linux-gnueabihf-gcc=gcc-arm-linux-gnueabihf
        arm-linux-gnueabihf-g++=g++-arm-linux-gnueabihf
        aarch64-linux-gnu-gcc=gcc-aarch64-linux-gnu
        aarch64-linux-gnu-g++=g++-aarch64-linux-gnu
        qemu-arm=qemu-user qemu-aarch64=qemu-user ip=iproute2 unshare=util-linux
    )
fi
if [[ $mode == bench* ]]; then
    tools=(cc=gcc python3=python3 curl=curl openssl=openssl curl-config=libcurl4-openssl-dev)
fi
if [[ $mode == bench-nginx ]]; then
    # nginx lives in /usr/sbin, which a user's PATH may lack.
    PATH="$PATH:/usr/sbin"
    tools+=(nginx=nginx)
fi

packages=()
missing=()
add_package() {
    local p
    for p in "${packages[@]}"; do
        [[ $p == "$1" ]] && return 0
    done
    packages+=("$1")
}
for pair in "${tools[@]}"; do
    tool="${pair%%=*}"
    if ! command -v "$tool" >/dev/null; then
        missing+=("$tool")
        add_package "${pair#*=}"
    fi
done

# module=package pairs: a Python module python3 cannot import means its package is installed
# (the Python tests make a venv with pip in it: venv + ensurepip, Debian's python3-venv).
pymods=()
if [[ $mode == test ]]; then
    pymods+=(ensurepip=python3-venv)
fi
pymod_missing() {
    command -v python3 >/dev/null || return 0
    ! python3 -c "import $1" >/dev/null 2>&1
}
for pair in "${pymods[@]+"${pymods[@]}"}"; do
    if pymod_missing "${pair%%=*}"; then
        missing+=("python3 module ${pair%%=*}")
        add_package "${pair#*=}"
    fi
done

foreign=()
if [[ $mode == test ]] && ! "$here/cross-rustc.sh" >/dev/null 2>&1; then
    missing+=("a rustc with the armv7 and aarch64 standard libraries")
    add_package rustc-web
    add_package libstd-rust-web-dev:armhf
    add_package libstd-rust-web-dev:arm64
    foreign=(armhf arm64)
fi

# The armv7 and aarch64 Python runtime (Debian's libpython3.X for armhf and arm64, Multi-Arch:
# same, beside the host's): tests/cross runs the cross-built wheel with it under qemu, through
# a small interpreter linked there. Looked up under $IOTHTTP_BOOTSTRAP_SYSROOT (default /).
cross_python_missing() {
    local t
    for t in arm-linux-gnueabihf aarch64-linux-gnu; do
        compgen -G "${IOTHTTP_BOOTSTRAP_SYSROOT:-}/usr/lib/$t/libpython3.*.so.1.0" >/dev/null || return 0
    done
    return 1
}
if [[ $mode == test ]] && cross_python_missing; then
    # The Python version of the distribution (libpython3-stdlib depends on libpython3.X-stdlib).
    pyver="$(apt-cache depends libpython3-stdlib 2>/dev/null |
        sed -n 's/.*Depends: libpython\(3\.[0-9]*\)-stdlib.*/\1/p' | head -n 1)"
    missing+=("the armv7 and aarch64 Python runtime (libpython${pyver:-3.X})")
    add_package "libpython${pyver:-3}:armhf"
    add_package "libpython${pyver:-3}:arm64"
    foreign=(armhf arm64)
fi

((${#packages[@]} == 0)) && exit 0

install_cmd="apt-get update && apt-get install -y ${packages[*]}"
if ((${#foreign[@]})); then
    install_cmd="dpkg --add-architecture armhf && dpkg --add-architecture arm64 && $install_cmd"
fi

sudo=()
may_install=0
if [[ "${IOTHTTP_BOOTSTRAP_INSTALL:-1}" != 0 ]] && command -v apt-get >/dev/null; then
    if [[ "$(id -u)" == 0 ]]; then
        may_install=1
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        may_install=1
        sudo=(sudo -n)
    fi
fi

if ((!may_install)); then
    say "missing: $(printf '%s, ' "${missing[@]}" | sed 's/, $//')"
    say "install them (as root) with:"
    say "  $install_cmd"
    say "then run this command again."
    exit 1
fi

say "installing: ${packages[*]}"
if ((${#foreign[@]})); then
    have="$(dpkg --print-foreign-architectures)"
    for arch in "${foreign[@]}"; do
        grep -qx "$arch" <<<"$have" || "${sudo[@]}" dpkg --add-architecture "$arch"
    done
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >/dev/null
"${sudo[@]}" apt-get install -y -qq "${packages[@]}" >/dev/null
for pair in "${tools[@]}"; do
    tool="${pair%%=*}"
    command -v "$tool" >/dev/null || {
        say "'$tool' is still missing after installing ${pair#*=}"
        exit 1
    }
done
for pair in "${pymods[@]+"${pymods[@]}"}"; do
    if pymod_missing "${pair%%=*}"; then
        say "python3 module '${pair%%=*}' is still missing after installing ${pair#*=}"
        exit 1
    fi
done
if [[ $mode == test ]] && cross_python_missing; then
    say "no armv7 and aarch64 Python runtime (libpython3.X) after installing it"
    exit 1
fi
if ((${#foreign[@]})) && ! "$here/cross-rustc.sh" >/dev/null; then
    say "no rustc with the armv7 and aarch64 standard libraries after installing them"
    exit 1
fi
say "done"
