"""The iothttp Python package (bindings/python) against the cloud emulator: every function,
errors by range, callbacks (cancel, exceptions), lifetimes, threads.

Run: python3 -m unittest discover -s tests/python -p 'test_package.py' (see support.py for the
environment; tests/python/run.sh runs every Python test).
"""

import gc
import hashlib
import io
import json
import logging
import os
import pickle
import tempfile
import threading
import time
import unittest

import support  # noqa: F401  (sys.path, IOTHTTP_LIB)
from support import add_device, data, emulator, endpoint, unique

import iothttp


class Records(logging.Handler):
    def __init__(self):
        super().__init__(level=1)
        self.records = []
        self.rlock = threading.Lock()

    def emit(self, record):
        with self.rlock:
            self.records.append(record)

    def messages(self):
        with self.rlock:
            return [r.getMessage() for r in self.records]


def make_logger(level):
    logger = logging.getLogger(unique("iothttp.test."))
    logger.setLevel(level)
    logger.propagate = False
    handler = Records()
    logger.addHandler(handler)
    return logger, handler


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = emulator()

    def setUp(self):
        self.client = self.make_client()

    def tearDown(self):
        self.client.close()

    def make_client(self, **kw):
        kw.setdefault("ca_file", self.emu["CA"])
        kw.setdefault("retries", (3, 0.005, 0.02))
        return iothttp.Client(**kw)

    def device(self, cloud="ucloud", client=None, **kw):
        product, device, secret = add_device(cloud)
        dev = (client or self.client).device(cloud, product, device, secret,
                                             endpoint=endpoint(cloud), **kw)
        self.addCleanup(dev.close)
        return dev, product, device

    def stored(self, store, key):
        return json.loads(self.emu.control("object %s %s" % (store, key)))

    def stored_md5s(self, store):
        return [o["md5"] for o in json.loads(self.emu.control("objects")) if o["store"] == store]

    def dl_object(self, size, seed):
        name = unique("obj") + ".bin"
        self.emu.control("dl-object %s %d %d" % (name, size, seed))
        info = json.loads(self.emu.control("dl-info " + name))
        return name, "%s/%s" % (self.emu["DL_URL"], name), info

    def tmpdir(self):
        d = tempfile.TemporaryDirectory()
        self.addCleanup(d.cleanup)
        return d.name


class VersionTest(Base):
    def test_versions_and_names(self):
        self.assertEqual(iothttp.version(), support.cargo_version())
        self.assertEqual(iothttp.__version__, support.cargo_version())
        self.assertEqual(os.path.realpath(iothttp.library_path()),
                         os.path.realpath(os.environ["IOTHTTP_LIB"]))
        self.assertEqual(iothttp.result_name(101), "IOTHTTP_E_TLS")
        self.assertEqual(iothttp.result_name(7777), "IOTHTTP_UNKNOWN")
        # The enum is the header's: every value has the library's name for it.
        for r in iothttp.Result:
            self.assertEqual(iothttp.result_name(r), "IOTHTTP_" + r.name)

    def test_typed_package(self):
        pkg = os.path.dirname(iothttp.__file__)
        self.assertTrue(os.path.exists(os.path.join(pkg, "py.typed")))
        self.assertIn("Client", iothttp.__all__)
        for name in iothttp.__all__:
            self.assertTrue(hasattr(iothttp, name), name)
        self.assertTrue(iothttp.Client.__doc__ and iothttp.Device.publish.__doc__)


class PublishTest(Base):
    def test_publish_both_clouds(self):
        for cloud, base in (("ucloud", 349022219378098176), ("aliyun", 892687627916247040)):
            dev, product, device = self.device(cloud)
            topic = "/%s/%s/upload/event" % (product, device)
            mid = dev.publish(topic, '{"temp":21}')
            self.assertIsInstance(mid, str)
            self.assertGreaterEqual(int(mid), base)
            mid2 = dev.publish(topic, b"\x00\x01binary")
            self.assertEqual(int(mid2), int(mid) + 1)
            dev.publish(topic, bytearray(b"ba"))
            dev.publish(topic)  # empty payload
            self.assertEqual(dev.reply_data(), b"")
            stats = json.loads(self.emu.control("stats %s %s %s" % (cloud, product, device)))
            self.assertEqual(stats["auths"], 1)
            self.assertEqual([m["id"] for m in stats["messages"][:2]], [mid, mid2])
            self.assertEqual(stats["messages"][0]["sha256"],
                             hashlib.sha256(b'{"temp":21}').hexdigest())
            self.assertEqual(dev.cloud, iothttp.Cloud(cloud == "aliyun"))

    def test_reply_data(self):
        dev, product, device = self.device("aliyun")
        self.emu.control("reply-data aliyun %s %s hello from the cloud" % (product, device))
        dev.publish("/%s/%s/user/update" % (product, device), "x")
        self.assertEqual(dev.reply_data(), b"hello from the cloud")

    def test_auth_token_and_set_token(self):
        dev, product, device = self.device("ucloud")
        self.assertIsNone(dev.token)
        dev.auth()
        token = dev.token
        self.assertIsInstance(token, iothttp.Token)
        self.assertGreater(len(token.value), 20)
        self.assertGreater(token.expires_at, time.time() + 3600)
        self.assertNotIn(token.value, repr(token))
        # A "rebooted" device with the saved token publishes without an auth round trip.
        dev2 = self.client.device("ucloud", product, device, "wrong-secret-but-token-ok",
                                  endpoint=endpoint("ucloud"))
        self.addCleanup(dev2.close)
        dev2.set_token(token)
        dev2.publish("/%s/%s/upload/event" % (product, device), "x")
        dev3 = self.client.device("ucloud", product, device, "s", endpoint=endpoint("ucloud"))
        self.addCleanup(dev3.close)
        dev3.set_token(token.value)  # expiry unknown
        self.assertEqual(dev3.token, iothttp.Token(token.value, None))
        dev3.set_token(token.value, expires_at=token.expires_at)
        self.assertEqual(dev3.token, token)
        counters = json.loads(self.emu.control("counters ucloud %s %s" % (product, device)))
        self.assertEqual(counters["auths"], 1)
        self.assertEqual(counters["publishes"], 1)
        with self.assertRaises(iothttp.ArgumentError):
            dev3.set_token(token.value, expires_at=-5)

    def test_device_options(self):
        dev, product, device = self.device("aliyun", sign_method="hmacsha256",
                                           send_timestamp=True, client_id="my.client-1")
        dev.publish("/%s/%s/user/update" % (product, device), "x")
        for method in ("hmacsha1", iothttp.SignMethod.HMAC_MD5, "sha256"):
            dev.set_sign_method(method)
        with self.assertRaises(iothttp.ArgumentError):
            dev.set_sign_method("rot13")
        dev.set_region("cn-beijing")  # the endpoint keeps precedence
        dev.publish("/%s/%s/user/update" % (product, device), "y")
        with self.assertRaises(iothttp.UnsupportedError) as cm:
            dev.set_file_endpoint(self.emu["UFILE_URL"])
        self.assertEqual(cm.exception.code, "IOTHTTP_E_UNSUPPORTED")
        udev, _, _ = self.device("ucloud", region="cn-gd", file_endpoint=self.emu["UFILE_URL"])
        with self.assertRaises(iothttp.UnsupportedError):
            udev.set_client_id("x")
        with self.assertRaises(iothttp.UnsupportedError):
            udev.set_sign_method("hmacmd5")
        udev.set_sign_method("hmacsha256")
        with self.assertRaises(iothttp.ArgumentError):
            self.client.device("azure", "p", "d", "s")
        with self.assertRaises(iothttp.ArgumentError) as cm:
            self.client.device("ucloud", "bad product", "d", "s")
        self.assertIn("product", cm.exception.message)
        with self.assertRaises(TypeError):
            self.client.device("ucloud", 42, "d", "s")
        with self.assertRaises(iothttp.ArgumentError):
            self.client.device("ucloud", "p\0x", "d", "s")


class ErrorsTest(Base):
    def test_argument_errors(self):
        dev, product, device = self.device("aliyun")
        with self.assertRaises(iothttp.ArgumentError) as cm:
            dev.publish("/%s/%s/a?b" % (product, device), "x")
        e = cm.exception
        self.assertIsInstance(e, ValueError)
        self.assertIsInstance(e, iothttp.Error)
        self.assertEqual((e.code, e.result, e.cloud_code, e.http_status),
                         ("IOTHTTP_E_INVALID_ARG", iothttp.Result.E_INVALID_ARG, 0, 0))
        self.assertIn("topic", e.message)
        self.assertEqual(str(e), "IOTHTTP_E_INVALID_ARG: " + e.message)
        with self.assertRaises(iothttp.TooLargeError) as cm:
            dev.publish("/%s/%s/big" % (product, device), b"x" * 131073)
        self.assertEqual(cm.exception.code, "IOTHTTP_E_TOO_LARGE")
        dev.publish("/%s/%s/big" % (product, device), b"x" * 131072)
        with self.assertRaises(TypeError):
            dev.publish("/t", 42)
        # Pickles (e.g. across multiprocessing) with every field.
        again = pickle.loads(pickle.dumps(e))
        self.assertIs(type(again), iothttp.ArgumentError)
        self.assertEqual((again.code, again.message), (e.code, e.message))

    def test_cloud_errors(self):
        dev, product, device = self.device("aliyun")
        topic = "/%s/%s/user/update" % (product, device)
        self.emu.control("fail publish aliyun %s %s 30001 1" % (product, device))
        with self.assertRaises(iothttp.CloudError) as cm:
            dev.publish(topic, "x")
        self.assertEqual((cm.exception.code, cm.exception.cloud_code), ("IOTHTTP_E_CLOUD", 30001))
        self.emu.control("fail publish aliyun %s %s 40000 5" % (product, device))
        with self.assertRaises(iothttp.UnavailableError) as cm:
            dev.publish(topic, "x")
        self.assertEqual(cm.exception.code, "IOTHTTP_E_RATE_LIMITED")
        self.emu.control("reset-faults")
        # Unknown device: the credentials are refused.
        stranger = self.client.device("ucloud", "noSuchProduct", "noSuchDevice", "s",
                                      endpoint=endpoint("ucloud"))
        self.addCleanup(stranger.close)
        with self.assertRaises(iothttp.AuthError) as cm:
            stranger.auth()
        self.assertIsInstance(cm.exception, iothttp.CloudError)
        self.assertNotEqual(cm.exception.cloud_code, 0)
        udev, uproduct, udevice = self.device("ucloud")
        self.emu.control("fail publish ucloud %s %s 100075 1" % (uproduct, udevice))
        with self.assertRaises(iothttp.DeniedError) as cm:
            udev.publish("/%s/%s/upload/event" % (uproduct, udevice), "x")
        self.assertEqual(cm.exception.cloud_code, 100075)
        # After a failure the next call succeeds and reports no error.
        udev.publish("/%s/%s/upload/event" % (uproduct, udevice), "x")

    def test_untrusted_ca_is_a_tls_error(self):
        # The emulator's listener with a certificate from another CA...
        dev = self.client.device("ucloud", "p", "d", "s",
                                 endpoint=self.emu["UNTRUSTED_URL"] + "/ucloud")
        self.addCleanup(dev.close)
        with self.assertRaises(iothttp.TLSError) as cm:
            dev.publish("/p/d/upload/event", "x")
        self.assertIsInstance(cm.exception, iothttp.NetworkError)
        self.assertIn("not signed by a trusted CA", cm.exception.message)
        # ... and the real emulator from a client that does not trust its CA.
        with iothttp.Client(retries=1) as bare:
            with self.assertRaises(iothttp.TLSError):
                bare.download(self.emu["DL_URL"] + "/x", lambda b: None)
        with iothttp.Client(retries=1, ca_file=self.emu["CA"]) as c:
            with self.assertRaises(iothttp.TLSError) as cm:
                c.download(self.emu["EXPIRED_URL"] + "/dl/x", lambda b: None)
            self.assertIn("expired", cm.exception.message)

    def test_plain_http(self):
        plain = self.emu.get("PLAIN_URL")
        if not plain:
            self.skipTest("the emulator runs without --plain-http")
        product, device, secret = add_device("ucloud")
        with self.assertRaises(iothttp.TLSError) as cm:
            self.client.device("ucloud", product, device, secret, endpoint=plain + "/ucloud")
        self.assertIn("http", cm.exception.message)
        with self.make_client(allow_plain_http=True) as c, c.device(
            "ucloud", product, device, secret, endpoint=plain + "/ucloud"
        ) as d:
            d.publish("/%s/%s/upload/event" % (product, device), "x")

    def test_connect_error(self):
        with self.make_client(retries=(2, 0.001, 0.002), timeouts=(2, 5)) as c:
            with self.assertRaises(iothttp.ConnectError) as cm:
                c.download("https://127.0.0.1:1/x", lambda b: None)
            self.assertIsInstance(cm.exception, iothttp.NetworkError)

    def test_error_classes_by_range(self):
        self.assertIs(iothttp.error_class(1), iothttp.ArgumentError)
        self.assertIs(iothttp.error_class(4), iothttp.ArgumentError)
        self.assertIs(iothttp.error_class(102), iothttp.TimeoutError)
        self.assertIs(iothttp.error_class(103), iothttp.NetworkError)
        self.assertIs(iothttp.error_class(201), iothttp.AuthError)
        self.assertIs(iothttp.error_class(205), iothttp.CloudError)
        self.assertIs(iothttp.error_class(300), iothttp.SourceError)
        self.assertIs(iothttp.error_class(302), iothttp.SourceError)
        self.assertIs(iothttp.error_class(304), iothttp.DigestMismatch)
        self.assertIs(iothttp.error_class(900), iothttp.InternalError)
        for cls in (iothttp.CancelledError, iothttp.DigestMismatch, iothttp.WriteError):
            self.assertTrue(issubclass(cls, iothttp.SourceError))


class ClientOptionsTest(Base):
    def test_ca_pem_and_builtin_roots(self):
        with open(self.emu["CA"], "rb") as f:
            pem = f.read()
        for ca in (pem, pem.decode(), [pem]):
            with iothttp.Client(ca_pem=ca, builtin_roots=False, retries=1) as c:
                chunks = []
                name, url, _ = self.dl_object(10, 1)
                c.download(url, chunks.append)
                self.assertEqual(len(b"".join(chunks)), 10)
        with self.assertRaises(iothttp.ArgumentError):
            iothttp.Client(ca_pem="-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
        with self.assertRaises(iothttp.ArgumentError) as cm:
            iothttp.Client(builtin_roots=False)  # trusts nothing
        self.assertIn("CA", cm.exception.message)
        with self.assertRaises(iothttp.SourceError) as cm:
            iothttp.Client(ca_file="/nonexistent/ca.pem")
        self.assertEqual(cm.exception.code, "IOTHTTP_E_READ")

    def test_bad_values(self):
        for kw in ({"timeouts": (0, 1)}, {"timeouts": (-1, 1)}, {"retries": 0},
                   {"retries": (3, 2.0, 1.0)}, {"deadline": 0}, {"proxy": "socks5://h:1"},
                   {"resolve": ["nonsense"]}, {"resolve": {("h", 0): "127.0.0.1"}},
                   {"resolve": {"h:443": "localhost"}}, {"secret_headers": ["bad name"]}):
            with self.assertRaises(iothttp.ArgumentError, msg=repr(kw)):
                self.make_client(**kw)
        with self.assertRaises(TypeError):
            self.make_client(timeouts="fast")
        # Good ones.
        self.make_client(timeouts=5, retries=(4, 0.1, 1), deadline=10.5,
                         proxy="http://user:pw@127.0.0.1:3128",
                         secret_headers=["x-my-sig"]).close()

    def test_resolve(self):
        host = "http-cn-sh2.iot.ucloud.cn"  # named in the emulator's certificate
        port = int(self.emu["URL"].rsplit(":", 1)[1])
        for resolve in ({(host, port): "127.0.0.1"}, {"%s:%d" % (host, port): "127.0.0.1"},
                        ["%s:%d:127.0.0.1" % (host, port)]):
            with self.make_client(resolve=resolve) as c:
                product, device, secret = add_device("ucloud")
                with c.device("ucloud", product, device, secret,
                              endpoint="https://%s:%d" % (host, port)) as dev:
                    dev.publish("/%s/%s/upload/event" % (product, device), "x")

    def test_deadline(self):
        with self.make_client(deadline=1.0, timeouts=(10, 30)) as c:
            dev, product, device = self.device("ucloud", client=c)
            topic = "/%s/%s/upload/event" % (product, device)
            dev.publish(topic, "x")
            self.emu.control("hang publish ucloud %s %s 1" % (product, device))
            started = time.monotonic()
            with self.assertRaises(iothttp.TimeoutError) as cm:
                dev.publish(topic, "x")
            self.assertLess(time.monotonic() - started, 10)
            self.assertIn("deadline", cm.exception.message)
            self.assertIsInstance(cm.exception, iothttp.NetworkError)

    def test_proxy_refused(self):
        with self.make_client(proxy="http://127.0.0.1:1", retries=(2, 0.001, 0.002)) as c:
            with self.assertRaises(iothttp.NetworkError):
                c.download(self.emu["DL_URL"] + "/x", lambda b: None)

    def test_stats(self):
        s0 = self.client.stats()
        self.assertIsInstance(s0, iothttp.Stats)
        dev, product, device = self.device("ucloud")
        dev.publish("/%s/%s/upload/event" % (product, device), "x")
        s1 = self.client.stats()
        self.assertEqual(s1.requests, s0.requests + 2)  # auth + publish
        self.assertGreaterEqual(s1.tls_handshakes, 1)


class LogTest(Base):
    def test_levels_mapped_and_no_secret(self):
        logger, records = make_logger(iothttp.TRACE)
        with self.make_client(log=logger) as c:
            product, device, secret = add_device("ucloud")
            with c.device("ucloud", product, device, secret, endpoint=endpoint("ucloud")) as d:
                d.publish("/%s/%s/upload/event" % (product, device), "x")
                token = d.token.value
        levels = {r.levelno for r in records.records}
        self.assertIn(logging.INFO, levels)
        self.assertIn(iothttp.TRACE, levels)
        self.assertLessEqual(levels, {logging.ERROR, logging.WARNING, logging.INFO,
                                      logging.DEBUG, iothttp.TRACE})
        self.assertEqual(logging.getLevelName(iothttp.TRACE), "TRACE")
        text = "\n".join(records.messages())
        self.assertIn("authenticated", text)
        self.assertNotIn(secret, text)
        self.assertNotIn(token, text)

    def test_level_from_the_logger(self):
        logger, records = make_logger(logging.INFO)
        with self.make_client(log=logger) as c:
            dev, product, device = self.device("ucloud", client=c)
            dev.publish("/%s/%s/upload/event" % (product, device), "x")
        self.assertTrue(records.records)
        self.assertEqual({r.levelno for r in records.records}, {logging.INFO})
        # log_level asks for more than the logger's level; the logger still filters.
        logger2, records2 = make_logger(logging.DEBUG)
        with self.make_client(log=logger2, log_level=iothttp.LogLevel.TRACE) as c:
            dev, product, device = self.device("ucloud", client=c)
            dev.publish("/%s/%s/upload/event" % (product, device), "x")
        self.assertIn(logging.DEBUG, {r.levelno for r in records2.records})
        self.assertNotIn(iothttp.TRACE, {r.levelno for r in records2.records})
        logger3, records3 = make_logger(logging.CRITICAL)
        for log in (logger3, False):
            with self.make_client(log=log) as c:
                dev, product, device = self.device("ucloud", client=c)
                dev.publish("/%s/%s/upload/event" % (product, device), "x")
        self.assertEqual(records3.records, [])

    def test_a_failing_handler_breaks_nothing(self):
        logger, _ = make_logger(logging.DEBUG)

        class Broken(logging.Handler):
            def emit(self, record):
                raise RuntimeError("handler bug")

            def handleError(self, record):  # noqa: N802 (logging's name)
                raise RuntimeError("handleError bug")

        logger.addHandler(Broken())
        with self.make_client(log=logger) as c:
            dev, product, device = self.device("ucloud", client=c)
            dev.publish("/%s/%s/upload/event" % (product, device), "x")


class NonSeekable(io.RawIOBase):
    def __init__(self, payload, fail_at=None):
        self.buf = io.BytesIO(payload)
        self.fail_at = fail_at

    def readable(self):
        return True

    def readinto(self, b):
        if self.fail_at is not None and self.buf.tell() >= self.fail_at:
            raise OSError("disk on fire")
        chunk = self.buf.read(min(len(b), 10000))
        b[: len(chunk)] = chunk
        return len(chunk)


class ReadOnly:
    """A file-like object with read() only."""

    def __init__(self, payload):
        self.buf = io.BytesIO(payload)

    def read(self, n):
        return self.buf.read(n)


class UploadTest(Base):
    def ufile_device(self):
        dev, product, device = self.device("ucloud", file_endpoint=self.emu["UFILE_URL"])
        return dev, "%s/%s/" % (product, device)

    def test_upload_file_sources(self):
        dev, prefix = self.ufile_device()
        payload = data(300_000, 2)
        md5 = hashlib.md5(payload).hexdigest()
        path = os.path.join(self.tmpdir(), "fw-log.bin")
        with open(path, "wb") as f:
            f.write(payload)
        seen = []
        dev.upload_file(path, progress=lambda done, total: seen.append((done, total)))
        self.assertEqual(self.stored("ufile", prefix + "fw-log.bin")["md5"], md5)
        self.assertEqual(seen[-1], (300_000, 300_000))
        self.assertEqual(seen, sorted(seen))
        dev.upload_file(payload, "bytes.bin", "application/x-test")
        obj = self.stored("ufile", prefix + "bytes.bin")
        self.assertEqual((obj["md5"], obj["content_type"]), (md5, "application/x-test"))
        dev.upload_file(io.BytesIO(payload), "bytesio.bin")
        self.assertEqual(self.stored("ufile", prefix + "bytesio.bin")["md5"], md5)
        with open(path, "rb") as f:
            f.seek(100_000)  # from the current position
            dev.upload_file(f)
        self.assertEqual(self.stored("ufile", prefix + "fw-log.bin")["size"], 200_000)
        # Not seekable: a size is needed, and the MD5 (no second pass).
        dev.upload_file(NonSeekable(payload), "pipe.bin", size=len(payload), md5=md5)
        self.assertEqual(self.stored("ufile", prefix + "pipe.bin")["md5"], md5)
        dev.upload_file(ReadOnly(payload), "ro.bin", size=len(payload), md5=md5)
        with self.assertRaises(iothttp.SourceError) as cm:
            dev.upload_file(NonSeekable(payload), "pipe2.bin", size=len(payload))
        self.assertEqual(cm.exception.code, "IOTHTTP_E_NOT_REWINDABLE")
        with self.assertRaises(iothttp.ArgumentError):
            dev.upload_file(NonSeekable(payload), "pipe3.bin")
        with self.assertRaises(iothttp.SourceError) as cm:
            dev.upload_file(io.BytesIO(payload[:10]), "short.bin", size=20)
        self.assertEqual(cm.exception.code, "IOTHTTP_E_SIZE_MISMATCH")
        with self.assertRaises(iothttp.SourceError) as cm:
            dev.upload_file(os.path.join(self.tmpdir(), "missing.bin"))
        self.assertEqual(cm.exception.code, "IOTHTTP_E_READ")
        with self.assertRaises(iothttp.ArgumentError):
            dev.upload_file(payload)  # no file name for bytes
        with self.assertRaises(TypeError):
            dev.upload_file(12345, "x.bin")
        with open(path) as text:
            with self.assertRaises(TypeError):
                dev.upload_file(text, "text.bin")

    def test_source_objects(self):
        dev, prefix = self.ufile_device()
        payload = data(50_000, 3)
        md5 = hashlib.md5(payload).hexdigest()
        path = os.path.join(self.tmpdir(), "s.bin")
        with open(path, "wb") as f:
            f.write(payload)
        with iothttp.Source.from_path(path, md5=md5) as src:
            self.assertEqual((src.size, len(src), src.name), (50_000, 50_000, "s.bin"))
            dev.upload_file(src)
            dev.upload_file(src, "again.bin")  # a second upload rewinds
        self.assertTrue(src.closed)
        with self.assertRaises(ValueError):
            src.size
        self.assertEqual(self.stored("ufile", prefix + "again.bin")["md5"], md5)
        src = iothttp.Source.from_bytes(memoryview(payload))
        src.set_md5(md5)
        src.set_sha256(hashlib.sha256(payload).hexdigest())
        dev.upload_file(src, "mv.bin")
        src.close()
        src.close()
        with self.assertRaises(iothttp.ArgumentError):
            iothttp.Source.from_bytes(b"x", md5="not-hex")
        # The file object's callbacks stay alive with the source, whatever the GC does.
        src = iothttp.Source.from_file(io.BytesIO(payload))
        gc.collect()
        dev.upload_file(src, "gc.bin")
        dev.upload_file(src, "gc2.bin")
        src.close()
        self.assertEqual(self.stored("ufile", prefix + "gc2.bin")["md5"], md5)
        with self.assertRaises(TypeError):
            iothttp.Source.from_bytes("text is not bytes")

    def test_upload_ota(self):
        payload = data(120_000, 4)
        path = os.path.join(self.tmpdir(), "fw-2.1.0.tar.gz")
        with open(path, "wb") as f:
            f.write(payload)
        seen = []
        url = self.client.upload_ota("demoAccessKeyId", "demoAccessKeySecret", path,
                                     endpoint=self.emu["ALIYUN_IOT_URL"],
                                     progress=lambda d, t: seen.append(d))
        self.assertTrue(url.startswith("https://") and url.endswith(".tar.gz"), url)
        self.assertEqual(seen[-1], 120_000)
        self.assertIn(hashlib.md5(payload).hexdigest(), self.stored_md5s("oss"))
        with self.client.aliyun_account("demoAccessKeyId", "demoAccessKeySecret",
                                        endpoint=self.emu["ALIYUN_IOT_URL"], region="cn-shanghai",
                                        instance_id="") as acct:
            self.assertTrue(acct.upload_ota(payload, "zip").endswith(".zip"))
            self.assertTrue(acct.upload_ota(io.BytesIO(payload)).endswith(".bin"))
            with self.assertRaises(iothttp.ArgumentError):
                acct.upload_ota(payload, "exe")
        with self.client.aliyun_account("demoAccessKeyId", "wrong",
                                        endpoint=self.emu["ALIYUN_IOT_URL"]) as acct:
            with self.assertRaises(iothttp.AuthError):
                acct.upload_ota(payload)

    def test_upload_agc(self):
        payload = data(90_000, 5)
        path = os.path.join(self.tmpdir(), "app-release.apk")
        with open(path, "wb") as f:
            f.write(payload)
        object_id = self.client.upload_agc("demoClientId", "demoClientSecret", "10086", path,
                                           endpoint=self.emu["AGC_URL"])
        self.assertTrue(object_id)
        with self.client.agc_client("demoClientId", "demoClientSecret",
                                    endpoint=self.emu["AGC_URL"]) as agc:
            self.assertTrue(agc.upload("10086", payload, "b.apk",
                                       sha256=hashlib.sha256(payload).hexdigest()))
            self.assertTrue(agc.upload("10086", io.BytesIO(payload), "c.apk"))
        self.assertIn(hashlib.md5(payload).hexdigest(), self.stored_md5s("obs"))
        with self.client.agc_client("demoClientId", "nope", endpoint=self.emu["AGC_URL"]) as agc:
            with self.assertRaises(iothttp.CloudError):
                agc.upload("10086", payload, "d.apk")

    def test_put_and_post_form(self):
        payload = data(123_456, 6)
        md5 = hashlib.md5(payload).hexdigest()
        store = self.emu["STORE_URL"]
        key = unique("bucket/put") + ".bin"
        self.client.put("%s/%s" % (store, key), payload,
                        {"Content-Type": "application/x-test", "x-amz-meta-a": "1"})
        obj = self.stored("store", key)
        self.assertEqual((obj["md5"], obj["headers"]["x-amz-meta-a"]), (md5, "1"))
        self.client.put("%s/%s" % (store, key), io.BytesIO(payload),
                        [("x-amz-meta-b", "2"), "x-amz-meta-c: 3"])
        obj = self.stored("store", key)
        self.assertEqual((obj["headers"]["x-amz-meta-b"], obj["headers"]["x-amz-meta-c"]),
                         ("2", "3"))
        with self.assertRaises(iothttp.HTTPError) as cm:
            self.client.put("%s/%s" % (store, key), payload,
                            {"x-amz-content-sha256": "0" * 64})
        self.assertEqual((cm.exception.http_status, cm.exception.code), (400, "IOTHTTP_E_HTTP"))
        with self.assertRaises(iothttp.ArgumentError):
            self.client.put("%s/%s" % (store, key), payload, {"Transfer-Encoding": "chunked"})
        with self.assertRaises(iothttp.ArgumentError):
            self.client.put("%s/%s" % (store, key), payload, ["no colon"])
        with self.assertRaises(TypeError):
            self.client.put("%s/%s" % (store, key), payload, "Name: value")
        form_key = unique("forms/f")
        self.client.post_form(self.emu["STORE_FORM_URL"], payload,
                              {"key": form_key + "-${filename}", "x-meta": "v"},
                              file_name="f.dat", content_type="application/x-form")
        obj = self.stored("store-form", form_key + "-f.dat")
        self.assertEqual((obj["md5"], obj["fields"]["x-meta"]), (md5, "v"))
        path = os.path.join(self.tmpdir(), "named.bin")
        with open(path, "wb") as f:
            f.write(payload)
        self.client.post_form(self.emu["STORE_FORM_URL"], path, [("key", form_key + "-${filename}")],
                              file_field="file")
        self.assertEqual(self.stored("store-form", form_key + "-named.bin")["md5"], md5)


class DownloadTest(Base):
    def test_download_to_sinks(self):
        name, url, info = self.dl_object(300_000, 11)
        chunks = []
        seen = []
        total = self.client.download(url, chunks.append,
                                     progress=lambda d, t: seen.append((d, t)))
        body = b"".join(chunks)
        self.assertEqual((total, len(body)), (300_000, 300_000))
        self.assertEqual(hashlib.md5(body).hexdigest(), info["md5"])
        self.assertEqual(seen[-1], (300_000, 300_000))
        buf = io.BytesIO()
        self.assertEqual(self.client.download(url, buf, offset=100_000), 300_000)
        self.assertEqual(buf.getvalue(), body[100_000:])
        path = os.path.join(self.tmpdir(), "raw.bin")
        with open(path, "wb", buffering=0) as raw:  # raw file: short writes are completed
            self.client.download(url, raw, headers={"If-Range": info["etag"]}, offset=5)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), body[5:])
        with self.assertRaises(iothttp.ArgumentError):
            self.client.download(url, buf, headers=["Range: bytes=0-1"])
        with self.assertRaises(TypeError):
            self.client.download(url, 42)
        with self.assertRaises(TypeError), tempfile.TemporaryFile("w") as text:
            self.client.download(url, text)

    def test_http_404(self):
        with self.assertRaises(iothttp.HTTPError) as cm:
            self.client.download(self.emu["DL_URL"] + "/" + unique("missing"), lambda b: None)
        e = cm.exception
        self.assertEqual((e.http_status, e.code, e.result), (404, "IOTHTTP_E_HTTP", 104))
        with self.assertRaises(iothttp.HTTPError) as cm:
            self.client.download_file(self.emu["DL_URL"] + "/" + unique("missing"),
                                      os.path.join(self.tmpdir(), "x"))
        self.assertEqual(cm.exception.http_status, 404)

    def test_download_file_verified(self):
        name, url, info = self.dl_object(300_000, 12)
        path = os.path.join(self.tmpdir(), "fw.bin")
        seen = []
        size = self.client.download_file(url, path, 300_000, info["md5"], info["sha256"],
                                         progress=lambda d, t: seen.append((d, t)))
        self.assertEqual(size, 300_000)
        with open(path, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), info["sha256"])
        self.assertEqual(seen[-1], (300_000, 300_000))
        self.assertFalse(os.path.exists(path + ".part"))
        self.client.download_file(url, path)  # nothing checked

    def test_digest_mismatch(self):
        name, url, info = self.dl_object(200_000, 13)
        d = self.tmpdir()
        path = os.path.join(d, "fw.bin")
        with open(path, "wb") as f:
            f.write(b"the old image")
        for kw in ({"md5": "0" * 32}, {"sha256": "f" * 64}, {"size": 199_999}):
            with self.assertRaises(iothttp.DigestMismatch, msg=repr(kw)) as cm:
                self.client.download_file(url, path, **kw)
            self.assertEqual(cm.exception.code, "IOTHTTP_E_DIGEST_MISMATCH")
            self.assertIsInstance(cm.exception, iothttp.SourceError)
            with open(path, "rb") as f:
                self.assertEqual(f.read(), b"the old image")
            self.assertEqual(sorted(os.listdir(d)), ["fw.bin"])
        with self.assertRaises(iothttp.ArgumentError):
            self.client.download_file(url, path, md5="xyz")

    def test_cancel_keeps_the_part_and_resumes(self):
        name, url, info = self.dl_object(400_000, 14)
        path = os.path.join(self.tmpdir(), "fw.bin")
        with self.assertRaises(iothttp.CancelledError) as cm:
            self.client.download_file(url, path, md5=info["md5"],
                                      progress=lambda d, t: d < 100_000)
        self.assertEqual(cm.exception.code, "IOTHTTP_E_CANCELLED")
        self.assertTrue(os.path.exists(path + ".part"))
        before = json.loads(self.emu.control("dl-stats " + name))
        self.client.download_file(url, path, 400_000, info["md5"])
        after = json.loads(self.emu.control("dl-stats " + name))
        self.assertEqual(after["ranged"], before["ranged"] + 1)  # resumed, not started over
        with open(path, "rb") as f:
            self.assertEqual(hashlib.md5(f.read()).hexdigest(), info["md5"])

    def test_cut_connection_is_resumed(self):
        name, url, info = self.dl_object(300_000, 15)
        self.emu.control("cut download %s 100000 1" % name)
        chunks = []
        self.client.download(url, chunks.append)
        self.assertEqual(hashlib.md5(b"".join(chunks)).hexdigest(), info["md5"])


class CallbackTest(Base):
    """Cancelling from a progress callback, and Python exceptions raised inside callbacks:
    they surface after the call, and the library (and the client) stay usable."""

    def assert_still_works(self, client=None):
        c = client or self.client
        dev, product, device = self.device("ucloud", client=c)
        dev.publish("/%s/%s/upload/event" % (product, device), "still fine")
        name, url, info = self.dl_object(1000, 21)
        chunks = []
        c.download(url, chunks.append)
        self.assertEqual(hashlib.md5(b"".join(chunks)).hexdigest(), info["md5"])

    def test_cancel_from_progress(self):
        store = self.emu["STORE_URL"]
        payload = data(400_000, 7)
        for verdict in (False, 0):
            key = unique("cancel/k") + ".bin"
            calls = []

            def progress(done, total):
                calls.append(done)
                return verdict if done > 0 else None

            with self.assertRaises(iothttp.CancelledError):
                self.client.put("%s/%s" % (store, key), payload, progress=progress)
            with self.assertRaises(RuntimeError):
                self.stored("store", key)  # nothing stored
        key = unique("cancel/ok") + ".bin"
        self.client.put("%s/%s" % (store, key), payload, progress=lambda d, t: True)
        self.assertEqual(self.stored("store", key)["size"], 400_000)
        name, url, _ = self.dl_object(300_000, 22)
        with self.assertRaises(iothttp.CancelledError):
            self.client.download(url, lambda b: None, progress=lambda d, t: False)
        self.assert_still_works()

    def test_exception_in_progress(self):
        class Boom(Exception):
            pass

        name, url, _ = self.dl_object(300_000, 23)
        calls = []

        def progress(done, total):
            calls.append(done)
            raise Boom("from the progress callback")

        with self.assertRaises(Boom) as cm:
            self.client.download(url, lambda b: None, progress=progress)
        self.assertEqual(str(cm.exception), "from the progress callback")
        self.assertEqual(len(calls), 1)  # the library was stopped at once
        notes = getattr(cm.exception, "__notes__", [])
        if hasattr(cm.exception, "add_note"):
            self.assertTrue(any("IOTHTTP_E_CANCELLED" in n for n in notes), notes)
        with self.assertRaises(Boom):
            self.client.put(self.emu["STORE_URL"] + "/x/boom.bin", data(200_000, 1),
                            progress=progress)
        dev, _ = UploadTest.ufile_device(self)
        with self.assertRaises(Boom):
            dev.upload_file(b"abc", "boom.bin", progress=progress)
        self.assert_still_works()

    def test_exception_in_sink_and_source(self):
        name, url, _ = self.dl_object(300_000, 24)

        def sink(chunk):
            raise ZeroDivisionError("sink")

        with self.assertRaises(ZeroDivisionError):
            self.client.download(url, sink)
        with self.assertRaises(iothttp.WriteError):
            self.client.download(url, lambda chunk: False)  # False stops: E_WRITE
        with self.assertRaises(OSError) as cm:
            self.client.put(self.emu["STORE_URL"] + "/x/src.bin",
                            NonSeekable(data(300_000, 1), fail_at=100_000), size=300_000)
        self.assertEqual(str(cm.exception), "disk on fire")
        self.assertNotIsInstance(cm.exception, iothttp.Error)

        class BadRead:
            def read(self, n):
                return "text"

        with self.assertRaises(TypeError):
            self.client.put(self.emu["STORE_URL"] + "/x/src2.bin", BadRead(), size=10)
        self.assert_still_works()

    def test_keyboard_interrupt_in_a_callback(self):
        name, url, _ = self.dl_object(300_000, 25)

        def progress(done, total):
            raise KeyboardInterrupt

        with self.assertRaises(KeyboardInterrupt):
            self.client.download(url, lambda b: None, progress=progress)
        self.assert_still_works()


class LifetimeTest(Base):
    def test_close_and_context_managers(self):
        c = self.make_client()
        dev, product, device = self.device("ucloud", client=c)
        c.close()
        c.close()
        self.assertTrue(c.closed)
        with self.assertRaises(ValueError):
            c.stats()
        with self.assertRaises(ValueError):
            c.device("ucloud", "p", "d", "s")
        # A device outlives its client (the C library keeps the transport alive).
        dev.publish("/%s/%s/upload/event" % (product, device), "after the client")
        dev.close()
        with self.assertRaises(ValueError):
            dev.publish("/%s/%s/upload/event" % (product, device), "x")
        with self.make_client() as c2:
            self.assertFalse(c2.closed)
        self.assertTrue(c2.closed)

    def test_garbage_collected_client_and_log(self):
        logger, records = make_logger(logging.INFO)
        product, device, secret = add_device("ucloud")
        dev = self.make_client(log=logger).device("ucloud", product, device, secret,
                                                  endpoint=endpoint("ucloud"))
        gc.collect()  # the client lives on through its device, and so does the log
        dev.publish("/%s/%s/upload/event" % (product, device), "x")
        self.assertIn("authenticated", "\n".join(records.messages()))
        dev.close()
        del dev
        gc.collect()

    def test_close_while_another_thread_calls(self):
        c = self.make_client()
        name, url, info = self.dl_object(500_000, 31)
        started, go = threading.Event(), threading.Event()
        result = {}

        def progress(done, total):
            started.set()
            go.wait(10)

        def worker():
            chunks = []
            try:
                c.download(url, chunks.append, progress=progress)
                result["md5"] = hashlib.md5(b"".join(chunks)).hexdigest()
            except BaseException as e:  # noqa: B036
                result["error"] = e

        t = threading.Thread(target=worker)
        t.start()
        self.assertTrue(started.wait(10))
        c.close()  # returns at once; the handle is freed when the download returns
        self.assertTrue(c.closed)
        with self.assertRaises(ValueError):
            c.stats()
        go.set()
        t.join(30)
        self.assertEqual(result.get("md5"), info["md5"], result)
        self.assertIsNone(c._ptr)


class ThreadTest(Base):
    def test_threads_share_one_client(self):
        logger, records = make_logger(logging.INFO)
        client = self.make_client(log=logger)
        self.addCleanup(client.close)
        shared, sproduct, sdevice = self.device("ucloud", client=client)
        stopic = "/%s/%s/upload/event" % (sproduct, sdevice)
        name, url, info = self.dl_object(200_000, 41)
        errors = []
        ids = []
        lock = threading.Lock()
        barrier = threading.Barrier(8)

        def worker(i):
            try:
                cloud = "ucloud" if i % 2 else "aliyun"
                product, device, secret = add_device(cloud)
                topic = "/%s/%s/upload/event" % (product, device)
                with client.device(cloud, product, device, secret,
                                   endpoint=endpoint(cloud)) as dev:
                    barrier.wait(10)
                    for n in range(3):
                        mid = dev.publish(topic, "thread %d message %d" % (i, n))
                        smid = shared.publish(stopic, "thread %d" % i)
                        with lock:
                            ids.extend([mid, smid])
                        chunks = []
                        client.download(url, chunks.append)
                        digest = hashlib.md5(b"".join(chunks)).hexdigest()
                        assert digest == info["md5"], "thread %d: wrong download" % i
                        # Errors are per thread: each sees its own.
                        bad = "/%s/%s/%s?x" % (product, device, "a" * i)
                        try:
                            dev.publish(bad, "x")
                            raise AssertionError("an invalid topic was accepted")
                        except iothttp.ArgumentError as e:
                            at = "at byte %d" % (len(bad) - 2)
                            assert at in e.message, (i, e.message)
                        missing = "%s/missing-%d-%d" % (self.emu["DL_URL"], i, n)
                        try:
                            client.download(missing, lambda b: None)
                            raise AssertionError("a missing object was downloaded")
                        except iothttp.HTTPError as e:
                            assert e.http_status == 404 and missing in e.message, (i, e)
                    counters = json.loads(self.emu.control(
                        "counters %s %s %s" % (cloud, product, device)))
                    assert counters["publishes"] == 3, counters
            except BaseException as e:  # noqa: B036
                with lock:
                    errors.append((i, e))

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])
        self.assertEqual(len(ids), 48)
        self.assertEqual(len(set(ids)), 48)
        counters = json.loads(self.emu.control("counters ucloud %s %s" % (sproduct, sdevice)))
        self.assertEqual((counters["publishes"], counters["auths"]), (24, 1))
        self.assertGreaterEqual(client.stats().requests, 24 + 24 + 24 + 24)


if __name__ == "__main__":
    unittest.main()
