"""The shared library from another language: Python ctypes publishes to the emulator.

Environment:
  IOTHTTP_LIB        path to libiothttp.so (default: target/release/libiothttp.so)
  IOTHTTP_EMU_*      coordinates of a running emulator (IOTHTTP_EMU_UCLOUD_URL,
                     IOTHTTP_EMU_ALIYUN_URL, IOTHTTP_EMU_CA, IOTHTTP_EMU_CONTROL); when absent,
  IOTHTTP_EMULATOR   path of the emulator binary to start for the test
                     (default: target/debug/iothttp-emulator)

Run: python3 -m unittest tests/python/test_ctypes.py
"""

import ctypes
import os
import socket
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

IOTHTTP_OK = 0
IOTHTTP_E_INVALID_ARG = 1
IOTHTTP_E_TOO_LARGE = 2
IOTHTTP_E_BUFFER_TOO_SMALL = 4
IOTHTTP_CLOUD_UCLOUD = 0
IOTHTTP_CLOUD_ALIYUN = 1
IOTHTTP_LOG_TRACE = 5
IOTHTTP_MESSAGE_ID_LEN = 32

LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_char_p)


def load_library():
    path = os.environ.get("IOTHTTP_LIB", os.path.join(ROOT, "target/release/libiothttp.so"))
    lib = ctypes.CDLL(path)
    p = ctypes.c_void_p
    sig = {
        "iothttp_version": ([], ctypes.c_char_p),
        "iothttp_result_name": ([ctypes.c_uint32], ctypes.c_char_p),
        "iothttp_last_error": ([], ctypes.c_char_p),
        "iothttp_last_cloud_code": ([], ctypes.c_int64),
        "iothttp_last_http_status": ([], ctypes.c_uint16),
        "iothttp_config_new": ([], p),
        "iothttp_config_free": ([p], None),
        "iothttp_config_add_ca_file": ([p, ctypes.c_char_p], ctypes.c_uint32),
        "iothttp_config_set_log": ([p, LOG_FN, p, ctypes.c_uint32], ctypes.c_uint32),
        "iothttp_config_set_retries": (
            [p, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32],
            ctypes.c_uint32,
        ),
        "iothttp_client_new": ([p, ctypes.POINTER(p)], ctypes.c_uint32),
        "iothttp_client_free": ([p], None),
        "iothttp_device_new": (
            [p, ctypes.c_uint32, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(p)],
            ctypes.c_uint32,
        ),
        "iothttp_device_free": ([p], None),
        "iothttp_device_set_endpoint": ([p, ctypes.c_char_p], ctypes.c_uint32),
        "iothttp_device_publish": (
            [p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t],
            ctypes.c_uint32,
        ),
        "iothttp_device_reply_data": (
            [p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)],
            ctypes.c_uint32,
        ),
    }
    for name, (args, res) in sig.items():
        f = getattr(lib, name)
        f.argtypes = args
        f.restype = res
    return lib


def control(addr, command):
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(command.encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
    text = reply.decode().strip()
    if not text.startswith("OK"):
        raise RuntimeError(f"emulator: {command!r} -> {text}")
    return text[3:]


class Emulator:
    """Uses a running emulator from the environment, or starts one."""

    def __init__(self):
        self.proc = None
        self.tmp = None
        if os.environ.get("IOTHTTP_EMU_CONTROL"):
            self.info = {k: v for k, v in os.environ.items() if k.startswith("IOTHTTP_EMU_")}
            return
        binary = os.environ.get(
            "IOTHTTP_EMULATOR", os.path.join(ROOT, "target/debug/iothttp-emulator")
        )
        self.tmp = tempfile.TemporaryDirectory()
        info_file = os.path.join(self.tmp.name, "emu.env")
        self.proc = subprocess.Popen(
            [binary, "--quiet", "--info-file", info_file, "--exit-on-stdin-eof"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.time() + 30
        while not os.path.exists(info_file):
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("emulator did not start")
            time.sleep(0.05)
        with open(info_file) as f:
            self.info = dict(line.strip().split("=", 1) for line in f if "=" in line)

    def close(self):
        if self.proc:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        if self.tmp:
            self.tmp.cleanup()


class CtypesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lib = load_library()
        cls.emu = Emulator()

    @classmethod
    def tearDownClass(cls):
        cls.emu.close()

    def setUp(self):
        lib = self.lib
        self.lines = []
        # Keep the callback object alive as long as the client.
        self.log_fn = LOG_FN(lambda _ud, level, msg: self.lines.append((level, msg.decode())))
        cfg = lib.iothttp_config_new()
        self.assertTrue(cfg)
        ca = self.emu.info["IOTHTTP_EMU_CA"].encode()
        self.assertEqual(lib.iothttp_config_add_ca_file(cfg, ca), IOTHTTP_OK)
        self.assertEqual(lib.iothttp_config_set_log(cfg, self.log_fn, None, IOTHTTP_LOG_TRACE), 0)
        self.assertEqual(lib.iothttp_config_set_retries(cfg, 3, 5, 20), 0)
        self.client = ctypes.c_void_p()
        self.assertEqual(lib.iothttp_client_new(cfg, ctypes.byref(self.client)), IOTHTTP_OK)
        lib.iothttp_config_free(cfg)

    def tearDown(self):
        self.lib.iothttp_client_free(self.client)

    def device(self, cloud, product, name, secret):
        lib = self.lib
        kind = "ucloud" if cloud == IOTHTTP_CLOUD_UCLOUD else "aliyun"
        control(self.emu.info["IOTHTTP_EMU_CONTROL"], f"add-device {kind} {product} {name} {secret}")
        dev = ctypes.c_void_p()
        rc = lib.iothttp_device_new(
            self.client, cloud, product.encode(), name.encode(), secret.encode(), ctypes.byref(dev)
        )
        self.assertEqual(rc, IOTHTTP_OK, lib.iothttp_last_error())
        url = self.emu.info["IOTHTTP_EMU_UCLOUD_URL" if kind == "ucloud" else "IOTHTTP_EMU_ALIYUN_URL"]
        self.assertEqual(lib.iothttp_device_set_endpoint(dev, url.encode()), IOTHTTP_OK)
        return dev

    def publish(self, dev, topic, payload):
        buf = ctypes.create_string_buffer(IOTHTTP_MESSAGE_ID_LEN)
        rc = self.lib.iothttp_device_publish(dev, topic.encode(), payload, len(payload), buf, len(buf))
        return rc, buf.value.decode()

    def test_version(self):
        self.assertRegex(self.lib.iothttp_version().decode(), r"^\d+\.\d+\.\d+$")
        self.assertEqual(self.lib.iothttp_result_name(101), b"IOTHTTP_E_TLS")

    def test_publish_both_clouds(self):
        for cloud, product, base in (
            (IOTHTTP_CLOUD_UCLOUD, "pyProdU", 349022219378098176),
            (IOTHTTP_CLOUD_ALIYUN, "pyProdA", 892687627916247040),
        ):
            dev = self.device(cloud, product, "pyDev", "py-secret-value")
            try:
                rc, mid = self.publish(dev, f"/{product}/pyDev/upload/event", b'{"temp":21}')
                self.assertEqual(rc, IOTHTTP_OK, self.lib.iothttp_last_error())
                self.assertGreaterEqual(int(mid), base)
                self.assertEqual(self.lib.iothttp_last_error(), b"")
                self.assertEqual(self.lib.iothttp_last_http_status(), 200)
                data_len = ctypes.c_size_t(99)
                rc = self.lib.iothttp_device_reply_data(dev, None, 0, ctypes.byref(data_len))
                self.assertEqual((rc, data_len.value), (IOTHTTP_OK, 0))
            finally:
                self.lib.iothttp_device_free(dev)
        self.assertTrue(any("authenticated" in m for _, m in self.lines))
        self.assertFalse(any("py-secret-value" in m for _, m in self.lines))

    def test_errors(self):
        lib = self.lib
        dev = self.device(IOTHTTP_CLOUD_ALIYUN, "pyProdE", "pyDevE", "py-secret-e")
        try:
            rc, _ = self.publish(dev, "/pyProdE/pyDevE/a?b", b"x")
            self.assertEqual(rc, IOTHTTP_E_INVALID_ARG)
            self.assertIn(b"topic", lib.iothttp_last_error())
            rc, _ = self.publish(dev, "/pyProdE/pyDevE/big", b"x" * 131073)
            self.assertEqual(rc, IOTHTTP_E_TOO_LARGE)
            small = ctypes.create_string_buffer(8)
            rc = lib.iothttp_device_publish(dev, b"/pyProdE/pyDevE/t", b"x", 1, small, len(small))
            self.assertEqual(rc, IOTHTTP_E_BUFFER_TOO_SMALL)
            control(self.emu.info["IOTHTTP_EMU_CONTROL"], "fail publish aliyun pyProdE pyDevE 30001 1")
            rc, _ = self.publish(dev, "/pyProdE/pyDevE/t", b"x")
            self.assertEqual(lib.iothttp_result_name(rc), b"IOTHTTP_E_CLOUD")
            self.assertEqual(lib.iothttp_last_cloud_code(), 30001)
            rc = lib.iothttp_device_publish(None, b"/t", b"x", 1, None, 0)
            self.assertEqual(rc, IOTHTTP_E_INVALID_ARG)
            self.assertIn(b"'dev' is NULL", lib.iothttp_last_error())
        finally:
            lib.iothttp_device_free(dev)


if __name__ == "__main__":
    unittest.main()
