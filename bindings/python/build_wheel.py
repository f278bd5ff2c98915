#!/usr/bin/env python3
"""Build the iothttp wheel from the Python package and a built libiothttp.so. No network, no
setuptools: a wheel is a zip with a .dist-info directory (PEP 427, PEP 376 RECORD).

    python3 bindings/python/build_wheel.py --lib PATH [--plat TAG] [--out DIR] [--no-strip]

--lib    the shared library to bundle (its SONAME must be libiothttp.so.<major>): the CMake
         install's lib/libiothttp.so.<version>, or cargo's libiothttp.so built with
         `-C link-arg=-Wl,-soname,libiothttp.so.<major>`; it goes into the wheel as
         iothttp/libiothttp.so.<major>
--plat   the platform tag (default: from the library's ELF machine: linux_x86_64,
         linux_aarch64, linux_armv7l, linux_i686, linux_riscv64); a tag that does not match
         the library's machine is refused
--out    where the wheel goes (default bindings/python/dist)
--no-strip  bundle the library as it is (default: a stripped copy when a strip for its
         machine is on PATH: strip, aarch64-linux-gnu-strip, arm-linux-gnueabihf-strip, ...)

Prints the wheel's path. Reproducible: SOURCE_DATE_EPOCH (default 1980-01-01) dates every
entry, and entries are written in sorted order.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from typing import List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.join(HERE, "iothttp")
NAME = "iothttp"
SUMMARY = "Device auth, publish, uploads and downloads to IoT clouds over HTTPS (libiothttp)"

# ELF e_machine -> (platform tag, strip program for that machine besides the host's)
MACHINES = {
    0x3E: ("linux_x86_64", "x86_64-linux-gnu-strip"),
    0xB7: ("linux_aarch64", "aarch64-linux-gnu-strip"),
    0x28: ("linux_armv7l", "arm-linux-gnueabihf-strip"),
    0x03: ("linux_i686", "i686-linux-gnu-strip"),
    0xF3: ("linux_riscv64", "riscv64-linux-gnu-strip"),
}
HOST_MACHINE = {"x86_64": 0x3E, "aarch64": 0xB7, "armv7l": 0x28, "i686": 0x03, "riscv64": 0xF3}


def fail(msg: str) -> None:
    sys.stderr.write("build_wheel: %s\n" % msg)
    sys.exit(1)


def elf_info(path: str) -> Tuple[int, Optional[str]]:
    """The ELF machine and DT_SONAME of a shared library."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF":
        fail("%s is not an ELF file" % path)
    is64 = data[4] == 2
    end = "<" if data[5] == 1 else ">"
    if data[16:18] != struct.pack(end + "H", 3):
        fail("%s is not a shared object (ELF type %r)" % (path, data[16:18]))
    machine = struct.unpack_from(end + "H", data, 18)[0]
    if is64:
        shoff = struct.unpack_from(end + "Q", data, 0x28)[0]
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x3A)
    else:
        shoff = struct.unpack_from(end + "I", data, 0x20)[0]
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x2E)
    sections = []
    for i in range(shnum):
        off = shoff + i * shentsize
        if is64:
            _, sh_type, _, _, sh_offset, sh_size, sh_link = struct.unpack_from(
                end + "IIQQQQI", data, off)
        else:
            _, sh_type, _, _, sh_offset, sh_size, sh_link = struct.unpack_from(
                end + "IIIIIII", data, off)
        sections.append((sh_type, sh_offset, sh_size, sh_link))
    soname = None
    for sh_type, sh_offset, sh_size, sh_link in sections:
        if sh_type != 6:  # SHT_DYNAMIC
            continue
        strtab = sections[sh_link]
        fmt, size = (end + "qQ", 16) if is64 else (end + "iI", 8)
        for pos in range(sh_offset, sh_offset + sh_size, size):
            tag, val = struct.unpack_from(fmt, data, pos)
            if tag == 0:
                break
            if tag == 14:  # DT_SONAME
                start = strtab[1] + val
                soname = data[start:data.index(b"\0", start)].decode()
    return machine, soname


def package_version() -> str:
    with open(os.path.join(PACKAGE, "__init__.py")) as f:
        m = re.search(r'^__version__ = "([^"]+)"', f.read(), re.M)
    if not m:
        fail("no __version__ in iothttp/__init__.py")
    return m.group(1)  # type: ignore[union-attr]


def record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "sha256=" + digest


def metadata(version: str) -> str:
    readme_path = os.path.join(HERE, "README.md")
    readme = open(readme_path).read() if os.path.exists(readme_path) else ""
    lines = [
        "Metadata-Version: 2.1",
        "Name: " + NAME,
        "Version: " + version,
        "Summary: " + SUMMARY,
        "License: Apache-2.0",
        "Requires-Python: >=3.8",
        "Classifier: Programming Language :: Python :: 3",
        "Classifier: Operating System :: POSIX :: Linux",
        "Classifier: Typing :: Typed",
        "Description-Content-Type: text/markdown",
        "",
        readme,
    ]
    return "\n".join(lines)


def strip_copy(lib: str, machine: int, tmp: str) -> Tuple[str, str]:
    candidates: List[str] = []
    host = HOST_MACHINE.get(os.uname().machine)
    if host == machine:
        candidates.append("strip")
    candidates.append(MACHINES[machine][1])
    for prog in candidates:
        if shutil.which(prog):
            out = os.path.join(tmp, "libiothttp.so")
            subprocess.run([prog, "--strip-unneeded", "-o", out, lib], check=True)
            return out, prog
    return lib, ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lib", required=True)
    ap.add_argument("--plat")
    ap.add_argument("--out", default=os.path.join(HERE, "dist"))
    ap.add_argument("--no-strip", action="store_true")
    args = ap.parse_args()

    version = package_version()
    major = version.split(".")[0]
    lib = os.path.realpath(args.lib)
    if not os.path.isfile(lib):
        fail("no library at %s" % args.lib)
    machine, soname = elf_info(lib)
    want_soname = "libiothttp.so." + major
    if soname != want_soname:
        fail("%s has SONAME %r, not %r: build it with -C link-arg=-Wl,-soname,%s (as CMake does)"
             % (args.lib, soname, want_soname, want_soname))
    if machine not in MACHINES:
        fail("%s is for ELF machine %#x, which has no platform tag here" % (args.lib, machine))
    plat = args.plat or MACHINES[machine][0]
    arch_of_tag = {v[0].split("_", 1)[1]: k for k, v in MACHINES.items()}
    tag_arch = plat.split("_", 1)[1] if "_" in plat else plat
    for prefix in ("manylinux", "musllinux"):
        if plat.startswith(prefix):  # manylinux_2_28_x86_64 -> x86_64
            tag_arch = re.sub(r"^%s(_\d+_\d+|\d+)_" % prefix, "", plat)
    if arch_of_tag.get(tag_arch) != machine:
        fail("platform tag %s does not match the library's machine (%s)"
             % (plat, MACHINES[machine][0]))

    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "315532800"))
    date_time = time.gmtime(max(epoch, 315532800))[:6]
    tag = "py3-none-" + plat
    dist_info = "%s-%s.dist-info" % (NAME, version)
    wheel_name = "%s-%s-%s.whl" % (NAME, version, tag)
    os.makedirs(args.out, exist_ok=True)
    target = os.path.join(args.out, wheel_name)

    with tempfile.TemporaryDirectory() as tmp:
        bundled, stripper = (lib, "") if args.no_strip else strip_copy(lib, machine, tmp)
        files: List[Tuple[str, bytes, int]] = []
        for name in sorted(os.listdir(PACKAGE)):
            if name.endswith(".py") or name == "py.typed":
                with open(os.path.join(PACKAGE, name), "rb") as f:
                    files.append(("iothttp/" + name, f.read(), 0o644))
        with open(bundled, "rb") as f:
            files.append(("iothttp/" + want_soname, f.read(), 0o755))
        files.append((dist_info + "/METADATA", metadata(version).encode(), 0o644))
        files.append((dist_info + "/WHEEL", (
            "Wheel-Version: 1.0\nGenerator: iothttp build_wheel.py\n"
            "Root-Is-Purelib: false\nTag: %s\n" % tag).encode(), 0o644))
        files.append((dist_info + "/entry_points.txt",
                      b"[console_scripts]\niothttp = iothttp.cli:main\n", 0o644))
        files.append((dist_info + "/top_level.txt", b"iothttp\n", 0o644))
        record = "".join("%s,%s,%d\n" % (n, record_hash(d), len(d)) for n, d, _ in files)
        record += "%s/RECORD,,\n" % dist_info
        files.append((dist_info + "/RECORD", record.encode(), 0o644))

        partial = target + ".partial"
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data, mode in files:
                info = zipfile.ZipInfo(name, date_time)
                info.external_attr = (0o100000 | mode) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, data)
        os.replace(partial, target)
    sys.stderr.write("build_wheel: %s (%s, %s%s)\n" % (
        target, plat, want_soname, ", stripped with " + stripper if stripper else ""))
    print(target)


if __name__ == "__main__":
    main()
