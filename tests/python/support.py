"""Shared by the Python tests: the package under test, the library, the cloud emulator.

Environment:
  IOTHTTP_LIB        libiothttp.so with the SONAME libiothttp.so.0 (default:
                     $CARGO_TARGET_DIR or target, then release/libiothttp.so)
  IOTHTTP_EMU_*      coordinates of a running emulator (IOTHTTP_EMU_CONTROL set: use it);
                     otherwise one is started (and stopped at exit):
  IOTHTTP_EMULATOR   the emulator binary (default: <target>/debug/iothttp-emulator)

The package is imported from bindings/python (put first on sys.path).
"""

import atexit
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE_DIR = os.path.join(ROOT, "bindings", "python")
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
os.environ.setdefault("IOTHTTP_LIB", os.path.join(TARGET, "release", "libiothttp.so"))
if PACKAGE_DIR not in sys.path:
    sys.path.insert(0, PACKAGE_DIR)


def control(addr, command):
    """One command on the emulator's control port; the reply after "OK "."""
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(command.encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    text = reply.decode().strip()
    if not text.startswith("OK"):
        raise RuntimeError("emulator: %r -> %s" % (command, text))
    return text[3:]


class Emulator:
    """Uses a running emulator from the environment, or starts one (with --plain-http)."""

    def __init__(self):
        self.proc = None
        self.tmp = None
        if os.environ.get("IOTHTTP_EMU_CONTROL"):
            self.info = {k: v for k, v in os.environ.items() if k.startswith("IOTHTTP_EMU_")}
            return
        binary = os.environ.get(
            "IOTHTTP_EMULATOR", os.path.join(TARGET, "debug", "iothttp-emulator")
        )
        self.tmp = tempfile.TemporaryDirectory()
        info_file = os.path.join(self.tmp.name, "emu.env")
        self.proc = subprocess.Popen(
            [binary, "--quiet", "--plain-http", "--info-file", info_file, "--exit-on-stdin-eof"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.time() + 30
        while not (os.path.exists(info_file) and os.path.getsize(info_file)):
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("emulator did not start")
            time.sleep(0.05)
        time.sleep(0.05)
        with open(info_file) as f:
            self.info = dict(line.strip().split("=", 1) for line in f if "=" in line)

    def __getitem__(self, key):
        return self.info["IOTHTTP_EMU_" + key]

    def get(self, key):
        return self.info.get("IOTHTTP_EMU_" + key)

    def control(self, command):
        return control(self.info["IOTHTTP_EMU_CONTROL"], command)

    def env(self):
        """The IOTHTTP_EMU_* variables, for a child process."""
        return dict(self.info)

    def close(self):
        if self.proc:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
            self.proc = None
        if self.tmp:
            self.tmp.cleanup()
            self.tmp = None


_emu = None
_emu_lock = threading.Lock()


def emulator():
    """The one emulator of this test process."""
    global _emu
    with _emu_lock:
        if _emu is None:
            _emu = Emulator()
            atexit.register(_emu.close)
        return _emu


_serial = [0]
_serial_lock = threading.Lock()


def unique(prefix):
    """A name no other test (nor an earlier run against the same emulator) uses."""
    with _serial_lock:
        _serial[0] += 1
        n = _serial[0]
    return "%s%d%d" % (prefix, os.getpid(), n)


def add_device(cloud, prefix="py"):
    """Register a fresh device; returns (product, device, secret)."""
    product = unique(prefix + "P")
    device = unique(prefix + "D")
    secret = "secret-" + unique("s")
    emulator().control("add-device %s %s %s %s" % (cloud, product, device, secret))
    return product, device, secret


def endpoint(cloud):
    return emulator()["UCLOUD_URL" if cloud == "ucloud" else "ALIYUN_URL"]


def data(n, seed=1):
    """n deterministic pseudo-random bytes."""
    import random

    return random.Random(seed).randbytes(n) if hasattr(random.Random, "randbytes") else bytes(
        random.Random(seed).getrandbits(8) for _ in range(n)
    )


def cargo_version():
    with open(os.path.join(ROOT, "Cargo.toml")) as f:
        for line in f:
            if line.startswith("version"):
                return line.split('"')[1]
    raise RuntimeError("no version in Cargo.toml")
