#!/usr/bin/env bash
# Tests of scripts/bootstrap.sh: with tools hidden from PATH and the package manager replaced
# by stubs that record what they were asked, it must ask for exactly the missing packages, say
# plainly what to run when it may not install, and do nothing (silently) when nothing is
# missing. Nothing is installed for real.
#
#   tests/bootstrap/run.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/iothttp-bootstrap-test.XXXXXX")"
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
failures=0
cases=0

fail() {
    printf 'FAIL  %s\n' "$*" >&2
    failures=$((failures + 1))
}

# fake_path <dir> <hidden tool...>: a directory holding a link to every program on PATH but
# the hidden ones, and stubs for apt-get and dpkg that log to <dir>/calls. sudo is never there.
fake_path() {
    local dir="$1" d f name
    shift
    mkdir -p "$dir"
    local IFS=:
    for d in $PATH; do
        [[ -d "$d" ]] || continue
        for f in "$d"/*; do
            name="${f##*/}"
            [[ -x "$f" && ! -e "$dir/$name" ]] || continue
            ln -s "$f" "$dir/$name"
        done
    done
    unset IFS
    rm -f "$dir/apt-get" "$dir/dpkg" "$dir/sudo"
    for h in "$@"; do
        rm -f "$dir/$h"
    done
    : >"$dir/calls"
    # apt-get: log; `install` links each hidden tool back (the package "arrives").
    cat >"$dir/apt-get" <<EOF
#!/bin/sh
echo "apt-get \$*" >>"$dir/calls"
if [ "\$1" = install ]; then
    for h in $*; do
        [ -e "$dir/\$h" ] || ln -s "\$(PATH='$PATH' command -v "\$h")" "$dir/\$h"
    done
fi
exit 0
EOF
    cat >"$dir/dpkg" <<EOF
#!/bin/sh
echo "dpkg \$*" >>"$dir/calls"
exit 0
EOF
    chmod 755 "$dir" "$dir/apt-get" "$dir/dpkg"
    : >"$dir/calls"
    chmod 666 "$dir/calls"
}

# expect <name> <want exit> <want calls (a regex over the joined call log, or "none")>
#        <want stderr regex, or "quiet"> -- <env/command...>
expect() {
    local name="$1" want_rc="$2" want_calls="$3" want_err="$4" rc=0 calls err
    shift 5
    cases=$((cases + 1))
    "$@" >"$work/$name.out" 2>"$work/$name.err" || rc=$?
    calls="$(tr '\n' '|' <"$dir/calls")"
    err="$(cat "$work/$name.out" "$work/$name.err" | tr '\n' ' ' | sed 's/ $//')"
    if [[ $rc != "$want_rc" ]]; then
        fail "$name: exit $rc, expected $want_rc: $err"
        return
    fi
    if [[ $want_calls == none ]]; then
        [[ -z "$calls" ]] || {
            fail "$name: the package manager was called: $calls"
            return
        }
    elif ! grep -Eq -- "$want_calls" <<<"$calls"; then
        fail "$name: package manager calls '$calls' do not match '$want_calls'"
        return
    fi
    if [[ $want_err == quiet ]]; then
        [[ -z "$err" ]] || {
            fail "$name: printed something: $err"
            return
        }
    elif ! grep -Eq -- "$want_err" <<<"$err"; then
        fail "$name: output does not match '$want_err': $err"
        return
    fi
    printf 'ok    %s\n' "$name"
}

bootstrap="$root/scripts/bootstrap.sh"

dir="$work/all"
fake_path "$dir"
expect nothing_missing_test 0 none quiet -- env PATH="$dir" "$bootstrap" test
expect nothing_missing_demo 0 none quiet -- env PATH="$dir" "$bootstrap" demo

dir="$work/cmake-qemu"
fake_path "$dir" cmake qemu-aarch64
expect installs_exactly_the_missing 0 \
    '^apt-get update -qq\|apt-get install -y -qq cmake qemu-user\|$' 'installing: cmake qemu-user' \
    -- env PATH="$dir" "$bootstrap" test
: >"$dir/calls"
expect then_nothing_missing 0 none quiet -- env PATH="$dir" "$bootstrap" test

dir="$work/valgrind"
fake_path "$dir" valgrind
expect demo_needs_no_valgrind 0 none quiet -- env PATH="$dir" "$bootstrap" demo
expect test_needs_valgrind 0 'apt-get install -y -qq valgrind\|$' 'installing: valgrind' \
    -- env PATH="$dir" "$bootstrap" test

# clang++ (the C++ header's second compiler): the tests' profile only.
dir="$work/clang"
fake_path "$dir" clang++
expect demo_needs_no_clang 0 none quiet -- env PATH="$dir" "$bootstrap" demo
expect test_needs_clang 0 'apt-get install -y -qq clang\|$' 'installing: clang' \
    -- env PATH="$dir" "$bootstrap" test

# The benchmarks' profile: no CMake needed; nginx and libcurl's headers (stubs here when the
# machine has none, so that only the hidden tool is missing).
dir="$work/bench"
fake_path "$dir" cmake openssl
for stub in nginx curl-config; do
    [[ -e "$dir/$stub" ]] || { printf '#!/bin/sh\nexit 0\n' >"$dir/$stub" && chmod 755 "$dir/$stub"; }
done
expect bench_installs_exactly_the_missing 0 '^apt-get update -qq\|apt-get install -y -qq openssl\|$' \
    'installing: openssl' -- env PATH="$dir" "$bootstrap" bench-nginx
: >"$dir/calls"
expect bench_then_nothing_missing 0 none quiet -- env PATH="$dir" "$bootstrap" bench-nginx
expect bench_without_nginx_needs_none 0 none quiet -- env PATH="$dir" "$bootstrap" bench

# No rustc with the armv7/aarch64 standard libraries: Debian's rustc-web and the two
# libstd packages, after enabling the two foreign architectures. The stub installs nothing
# of it, so the check afterwards fails, saying so.
dir="$work/rustc"
fake_path "$dir"
expect cross_std_missing 1 \
    '^dpkg --print-foreign-architectures\|dpkg --add-architecture armhf\|dpkg --add-architecture arm64\|apt-get update -qq\|apt-get install -y -qq rustc-web libstd-rust-web-dev:armhf libstd-rust-web-dev:arm64\|$' \
    'no rustc with the armv7 and aarch64 standard libraries after installing' \
    -- env PATH="$dir" IOTHTTP_DISTRO_RUSTC=/nonexistent/rustc "$bootstrap" test

# No Python runtime for armhf and arm64 (Debian's libpython3.X, Multi-Arch: same, which the
# cross wheel test runs under qemu): asked for after enabling the two architectures; the stub
# installs nothing, so the check afterwards fails, saying so.
dir="$work/xpython"
fake_path "$dir"
expect cross_python_missing 1 \
    '^dpkg --print-foreign-architectures\|dpkg --add-architecture armhf\|dpkg --add-architecture arm64\|apt-get update -qq\|apt-get install -y -qq libpython3\.[0-9]+:armhf libpython3\.[0-9]+:arm64\|$' \
    'installing: libpython3\.[0-9]+:armhf libpython3\.[0-9]+:arm64.*no armv7 and aarch64 Python runtime \(libpython3.X\) after installing it' \
    -- env PATH="$dir" IOTHTTP_BOOTSTRAP_SYSROOT=/nonexistent "$bootstrap" test
: >"$dir/calls"
expect cross_python_demo_needs_nothing 0 none quiet \
    -- env PATH="$dir" IOTHTTP_BOOTSTRAP_SYSROOT=/nonexistent "$bootstrap" demo

# python3 without venv's pip (ensurepip: Debian's python3-venv): asked for in test mode only.
# The module is hidden by a shadowing package on PYTHONPATH; the stub installs nothing, so the
# check afterwards fails, saying so.
dir="$work/venv"
fake_path "$dir"
mkdir -p "$work/shadow/ensurepip"
echo 'raise ImportError("hidden by the test")' >"$work/shadow/ensurepip/__init__.py"
expect venv_demo_needs_nothing 0 none quiet -- env PATH="$dir" PYTHONPATH="$work/shadow" "$bootstrap" demo
expect venv_missing 1 '^apt-get update -qq\|apt-get install -y -qq python3-venv\|$' \
    "installing: python3-venv.*python3 module 'ensurepip' is still missing after installing python3-venv" \
    -- env PATH="$dir" PYTHONPATH="$work/shadow" "$bootstrap" test

# May not install: names the packages and the command, installs nothing, exit 1.
dir="$work/refused"
fake_path "$dir" cmake pkg-config
expect not_allowed 1 none \
    'missing: cmake, pkg-config.*apt-get update && apt-get install -y cmake pkg-config' \
    -- env PATH="$dir" IOTHTTP_BOOTSTRAP_INSTALL=0 "$bootstrap" test
if [[ "$(id -u)" == 0 ]] && command -v setpriv >/dev/null; then
    # Really not root, and no sudo on PATH (nor, maybe, read access to root's cargo: a stub).
    printf '#!/bin/sh\necho cargo-stub\n' >"$dir/cargo.stub"
    chmod 755 "$dir/cargo.stub"
    rm -f "$dir/cargo" && mv "$dir/cargo.stub" "$dir/cargo"
    expect not_root 1 none 'missing: cmake, pkg-config.* apt-get install -y cmake pkg-config.*run this command again' \
        -- setpriv --reuid=65534 --regid=65534 --clear-groups \
        env PATH="$dir" HOME="$work" "$bootstrap" test
fi
expect usage 2 none 'bootstrap.sh demo' -- env PATH="$dir" "$bootstrap" nonsense

dir="$work/nocargo"
fake_path "$dir" cargo
expect no_cargo 1 none 'cargo \(Rust\) is not installed: install it from https://rustup.rs' \
    -- env PATH="$dir" "$bootstrap" demo

if ((failures)); then
    printf '%d of %d bootstrap cases failed\n' "$failures" "$cases" >&2
    exit 1
fi
printf '%d bootstrap cases passed\n' "$cases"
