"""The wheel: bindings/python/build_wheel.sh bundles the library; the wheel installs with
pip --no-index into a fresh venv and works from there (import, publish, the iothttp script)."""

import base64
import hashlib
import os
import subprocess
import sys
import tempfile
import unittest
import zipfile

import support
from support import add_device, emulator, endpoint

BUILD = os.path.join(support.PACKAGE_DIR, "build_wheel.sh")


class WheelTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = emulator()
        cls.tmp = tempfile.TemporaryDirectory()
        out = subprocess.run([BUILD, "--lib", os.environ["IOTHTTP_LIB"], "--out", cls.tmp.name],
                             capture_output=True, check=True, timeout=120)
        cls.wheel = out.stdout.decode().strip()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_contents_and_record(self):
        name = os.path.basename(self.wheel)
        self.assertEqual(name, "iothttp-%s-py3-none-linux_%s.whl"
                         % (support.cargo_version(), os.uname().machine))
        with zipfile.ZipFile(self.wheel) as z:
            names = set(z.namelist())
            for want in ("iothttp/__init__.py", "iothttp/cli.py", "iothttp/py.typed",
                         "iothttp/libiothttp.so.0"):
                self.assertIn(want, names)
            info = [n for n in names if n.endswith(".dist-info/RECORD")][0]
            dist = info.rsplit("/", 1)[0]
            self.assertIn("Tag: py3-none-linux_", z.read(dist + "/WHEEL").decode())
            self.assertIn("iothttp = iothttp.cli:main", z.read(dist + "/entry_points.txt").decode())
            rows = [r.split(",") for r in z.read(info).decode().splitlines()]
            self.assertEqual({r[0] for r in rows}, names)
            for path, digest, size in rows:
                if path == info:
                    continue
                body = z.read(path)
                want = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=")
                self.assertEqual((digest, int(size)), ("sha256=" + want.decode(), len(body)))

    def test_refuses_wrong_inputs(self):
        for args in (["--lib", os.environ["IOTHTTP_LIB"], "--plat", "linux_aarch64"],
                     ["--lib", sys.executable]):
            p = subprocess.run([BUILD] + args + ["--out", self.tmp.name], capture_output=True)
            self.assertNotEqual(p.returncode, 0, args)

    def test_installs_into_a_fresh_venv(self):
        venv = os.path.join(self.tmp.name, "venv")
        subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=120)
        env = {k: v for k, v in os.environ.items()
               if k not in ("IOTHTTP_LIB", "PYTHONPATH") and not k.startswith("PIP_")}
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "--no-index", "-q",
                        self.wheel], check=True, env=env, timeout=120)
        product, device, secret = add_device("ucloud")
        topic = "/%s/%s/upload/event" % (product, device)
        code = (
            "import iothttp, sys\n"
            "assert iothttp.library_path().startswith(sys.prefix), iothttp.library_path()\n"
            "with iothttp.Client(ca_file=%r) as c, c.device('ucloud', %r, %r, %r, endpoint=%r) as d:\n"
            "    print(d.publish(%r, 'from the venv'))\n"
            % (self.emu["CA"], product, device, secret, endpoint("ucloud"), topic)
        )
        p = subprocess.run([os.path.join(venv, "bin", "python"), "-c", code], env=env,
                           capture_output=True, cwd=self.tmp.name, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertRegex(p.stdout.decode(), r"^\d+\n$")
        env.update(IOTHTTP_SECRET=secret, IOTHTTP_CA_FILE=self.emu["CA"])
        p = subprocess.run([os.path.join(venv, "bin", "iothttp"), "publish", "--cloud", "ucloud",
                            "--product", product, "--device", device, "--endpoint",
                            endpoint("ucloud"), topic, "from the script"],
                           env=env, capture_output=True, cwd=self.tmp.name, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertRegex(p.stdout.decode(), r"^\d+\n$")


if __name__ == "__main__":
    unittest.main()
