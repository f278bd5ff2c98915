"""The iothttp command line (python -m iothttp) against the emulator: every verb, --json,
exit codes by result range, secrets from the environment, the progress bar on a terminal."""

import hashlib
import json
import os
import pty
import subprocess
import sys
import tempfile
import unittest

import support
from support import add_device, data, emulator, endpoint, unique


def run(args, env_extra=None, tty=False, stdin=None):
    emu = emulator()
    env = dict(os.environ)
    env.update(emu.env())
    env["PYTHONPATH"] = support.PACKAGE_DIR
    env["IOTHTTP_CA_FILE"] = emu["CA"]
    env.update(env_extra or {})
    cmd = [sys.executable, "-m", "iothttp"] + list(args)
    if not tty:
        p = subprocess.run(cmd, env=env, capture_output=True, timeout=60, input=stdin)
        return p.returncode, p.stdout.decode("latin-1"), p.stderr.decode()
    master, slave = pty.openpty()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    err = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        err += chunk
    out = p.stdout.read()
    p.wait(60)
    os.close(master)
    return p.returncode, out.decode(), err.decode()


class CliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = emulator()
        cls.tmp = tempfile.TemporaryDirectory()
        cls.file = os.path.join(cls.tmp.name, "fw.bin")
        cls.payload = data(300_000, 9)
        with open(cls.file, "wb") as f:
            f.write(cls.payload)
        cls.md5 = hashlib.md5(cls.payload).hexdigest()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_publish(self):
        for cloud in ("ucloud", "aliyun"):
            product, device, secret = add_device(cloud)
            topic = "/%s/%s/upload/event" % (product, device)
            base = ["publish", "--cloud", cloud, "--product", product, "--device", device,
                    "--endpoint", endpoint(cloud)]
            rc, out, err = run(base + [topic, '{"t":1}'], {"IOTHTTP_SECRET": secret})
            self.assertEqual(rc, 0, err)
            self.assertRegex(out, r"^\d+\n$")
            rc, out, err = run(base + ["--json", topic, "--payload-file", "-"],
                               {"IOTHTTP_SECRET": secret}, stdin=b"from stdin")
            self.assertEqual(rc, 0, err)
            j = json.loads(out)
            self.assertEqual((j["ok"], j["verb"], j["bytes"]), (True, "publish", 10))
            self.assertNotIn(secret, out + err)
            # Errors: no secret (2), a bad topic (3), a cloud code (5), untrusted (4).
            rc, out, err = run(base + [topic, "x"], {"IOTHTTP_SECRET": ""})
            self.assertEqual(rc, 2)
            self.assertIn("IOTHTTP_SECRET", err)
            rc, out, err = run(base + ["--json", topic + "?q", "x"], {"IOTHTTP_SECRET": secret})
            self.assertEqual(rc, 3)
            self.assertEqual(json.loads(out)["error"]["code"], "IOTHTTP_E_INVALID_ARG")
        self.emu.control("fail publish aliyun %s %s 30001 1" % (product, device))
        rc, out, err = run(base + ["--json", topic, "x"], {"IOTHTTP_SECRET": secret})
        self.assertEqual(rc, 5)
        self.assertEqual(json.loads(out)["error"]["cloud_code"], 30001)
        rc, out, err = run(["publish", "--cloud", "ucloud", "--product", "p", "--device", "d",
                            "--endpoint", self.emu["UNTRUSTED_URL"], "/p/d/t", "x"],
                           {"IOTHTTP_SECRET": "s"})
        self.assertEqual(rc, 4)
        self.assertIn("IOTHTTP_E_TLS", err)

    def test_uploads(self):
        product, device, secret = add_device("ucloud")
        rc, out, err = run(["upload-file", "--product", product, "--device", device,
                            "--endpoint", endpoint("ucloud"), "--file-endpoint",
                            self.emu["UFILE_URL"], "--json", self.file], {"IOTHTTP_SECRET": secret})
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["bytes"], 300_000)
        obj = json.loads(self.emu.control("object ufile %s/%s/fw.bin" % (product, device)))
        self.assertEqual(obj["md5"], self.md5)
        rc, out, err = run(["upload-ota", "--access-key-id", "demoAccessKeyId", "--endpoint",
                            self.emu["ALIYUN_IOT_URL"], self.file],
                           {"IOTHTTP_ACCESS_KEY_SECRET": "demoAccessKeySecret"})
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.startswith("https://") and out.strip().endswith(".bin"), out)
        rc, out, err = run(["upload-agc", "--client-id", "demoClientId", "--app-id", "10086",
                            "--endpoint", self.emu["AGC_URL"], "--json", self.file],
                           {"IOTHTTP_AGC_SECRET": "demoClientSecret"})
        self.assertEqual(rc, 0, err)
        self.assertTrue(json.loads(out)["object_id"])
        key = unique("cli/put") + ".bin"
        rc, out, err = run(["put", "%s/%s" % (self.emu["STORE_URL"], key), self.file,
                            "-H", "Content-Type: application/x-cli"])
        self.assertEqual(rc, 0, err)
        obj = json.loads(self.emu.control("object store " + key))
        self.assertEqual((obj["md5"], obj["content_type"]), (self.md5, "application/x-cli"))
        fkey = unique("forms/cli")
        rc, out, err = run(["post-form", self.emu["STORE_FORM_URL"], self.file, "-F",
                            "key=%s-${filename}" % fkey])
        self.assertEqual(rc, 0, err)
        obj = json.loads(self.emu.control("object store-form %s-fw.bin" % fkey))
        self.assertEqual(obj["md5"], self.md5)
        rc, out, err = run(["upload-ota", "--access-key-id", "demoAccessKeyId", "--endpoint",
                            self.emu["ALIYUN_IOT_URL"], os.path.join(self.tmp.name, "missing")],
                           {"IOTHTTP_ACCESS_KEY_SECRET": "demoAccessKeySecret"})
        self.assertEqual(rc, 6)

    def test_download_and_progress_bar(self):
        name = unique("cli") + ".bin"
        self.emu.control("dl-object %s 300000 5" % name)
        info = json.loads(self.emu.control("dl-info " + name))
        url = "%s/%s" % (self.emu["DL_URL"], name)
        path = os.path.join(self.tmp.name, "dl.bin")
        rc, out, err = run(["download", url, "-o", path, "--size", "300000", "--md5",
                            info["md5"], "--sha256", info["sha256"], "--json"])
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["verified"], ["size", "MD5", "SHA-256"])
        self.assertNotIn("\r", err)  # stderr is not a terminal: no bar
        rc, out, err = run(["download", url, "-o", path, "--md5", "0" * 32, "--json"])
        self.assertEqual(rc, 6)
        self.assertEqual(json.loads(out)["error"]["code"], "IOTHTTP_E_DIGEST_MISMATCH")
        rc, out, err = run(["download", url + "-missing", "-o", path, "--json"])
        self.assertEqual(rc, 4)
        self.assertEqual(json.loads(out)["error"]["http_status"], 404)
        rc, out, err = run(["download", url, "-o", "-", "--md5", info["md5"]])
        self.assertEqual(rc, 0, err)
        rc, out, err = run(["download", url, "-o", path + "2"], tty=True)
        self.assertEqual(rc, 0, err)
        self.assertIn("100%", err)
        self.assertIn("\r", err)

    def test_help_and_usage(self):
        rc, out, err = run(["--help"])
        self.assertEqual(rc, 0)
        for verb in ("publish", "upload-file", "upload-ota", "upload-agc", "put", "download"):
            self.assertIn(verb, out)
        self.assertIn("exit status", out)
        rc, out, err = run(["--version"])
        self.assertIn(support.cargo_version(), out)
        rc, out, err = run(["download", "https://x/y"])
        self.assertEqual(rc, 2)


if __name__ == "__main__":
    unittest.main()
