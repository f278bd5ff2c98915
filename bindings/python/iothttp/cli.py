"""The ``iothttp`` command line (also ``python -m iothttp``).

    iothttp publish --cloud ucloud --product P --device D TOPIC '{"temp":21.5}'
    iothttp upload-file --product P --device D fw.log
    iothttp upload-ota --access-key-id ID firmware-2.1.0.bin
    iothttp upload-agc --client-id ID --app-id 10086 app-release.apk
    iothttp put URL FILE [-H 'Name: value']...
    iothttp post-form URL FILE [-F name=value]...
    iothttp download URL -o PATH [--size N] [--md5 HEX] [--sha256 HEX]

Secrets come from environment variables, never from the command line: IOTHTTP_SECRET (the
device secret), IOTHTTP_ACCESS_KEY_SECRET (Alibaba AccessKey secret), IOTHTTP_AGC_SECRET
(AppGallery Connect client secret); ``--secret-env NAME`` reads another variable.

Standard output carries the result only (the message id, the FirmwareUrl, the objectId, the
downloaded bytes with ``-o -``), or with ``--json`` one JSON object; messages, the log and
the progress bar (only when standard error is a terminal) go to standard error.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import os
import shutil
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from . import __version__
from ._core import TRACE, Client
from ._errors import DigestMismatch, Error, Result
from ._lib import LibraryNotFound

EXIT_OK = 0
EXIT_FAILURE = 1  # anything else: a local file that cannot be read, an unexpected error
EXIT_USAGE = 2  # bad command line, a missing secret variable
EXIT_ARGUMENT = 3  # results 1-99: the library refused an argument; nothing was sent
EXIT_NETWORK = 4  # results 100-199: connect, TLS, timeout, broken connection, HTTP status
EXIT_CLOUD = 5  # results 200-299: the cloud refused (auth, ACL, throttled, unavailable)
EXIT_SOURCE = 6  # results 300-399: source or sink, size or digest mismatch, cancelled
EXIT_INTERNAL = 9  # results 900+: a library bug
EXIT_INTERRUPTED = 130  # Ctrl-C

EXIT_CODES_HELP = """\
exit status:
  0    success
  1    another failure (e.g. a local file that cannot be read)
  2    usage error (bad arguments, a missing secret variable)
  3    the library refused an argument (results 1-99); nothing was sent
  4    network or protocol (100-199): connect, TLS, timeout, I/O, HTTP status, bad reply
  5    the cloud said no (200-299): auth, token, denied, rate limited, unavailable
  6    source or download (300-399): read, size or digest mismatch, cancelled, write
  9    library bug (900+)
  130  interrupted (Ctrl-C)

environment:
  IOTHTTP_SECRET             device secret (publish, upload-file)
  IOTHTTP_ACCESS_KEY_SECRET  Alibaba AccessKey secret (upload-ota)
  IOTHTTP_AGC_SECRET         AppGallery Connect client secret (upload-agc)
  IOTHTTP_CA_FILE            a CA file to trust (as --ca-file)
  IOTHTTP_LIB                the libiothttp.so to use instead of the bundled one
"""


def exit_code_for(result: int) -> int:
    """The exit status for a library result code (by its range)."""
    if result == 0:
        return EXIT_OK
    if 1 <= result <= 99:
        return EXIT_ARGUMENT
    if 100 <= result <= 199:
        return EXIT_NETWORK
    if 200 <= result <= 299:
        return EXIT_CLOUD
    if 300 <= result <= 399:
        return EXIT_SOURCE
    if result >= 900:
        return EXIT_INTERNAL
    return EXIT_FAILURE


class UsageError(Exception):
    pass


# ---------------------------------------------------------------------------- progress


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0
    return "%.1f TiB" % n  # pragma: no cover


class ProgressBar:
    """A one-line progress bar on a terminal (redrawn at most 10 times a second)."""

    def __init__(self, stream: Any, label: str) -> None:
        self.stream = stream
        self.label = label
        self.started = time.monotonic()
        self.last_draw = 0.0
        self.drawn = False
        self.done = 0
        self.total: Optional[int] = None

    def __call__(self, done: int, total: Optional[int]) -> None:
        self.done, self.total = done, total
        now = time.monotonic()
        if now - self.last_draw >= 0.1 or (total and done >= total):
            self.last_draw = now
            self.draw(now)

    def draw(self, now: float) -> None:
        width = shutil.get_terminal_size((80, 24)).columns
        elapsed = max(now - self.started, 1e-6)
        rate = "%s/s" % _human(self.done / elapsed)
        if self.total:
            frac = min(self.done / self.total, 1.0)
            tail = " %3d%% %s/%s %s" % (frac * 100, _human(self.done), _human(self.total), rate)
        else:
            frac = None
            tail = " %s %s" % (_human(self.done), rate)
        label = self.label[: max(10, width // 3)]
        bar_w = max(width - len(label) - len(tail) - 4, 10)
        if frac is None:
            pos = int(elapsed * 10) % bar_w
            bar = " " * pos + "#" + " " * (bar_w - pos - 1)
        else:
            fill = int(frac * bar_w)
            bar = "#" * fill + "-" * (bar_w - fill)
        self.stream.write("\r%s [%s]%s" % (label, bar, tail))
        self.stream.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            self.draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()


# ---------------------------------------------------------------------------- arguments


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("connection")
    g.add_argument("--ca-file", action="append", metavar="PEM",
                   help="trust the CA(s) in this PEM file besides the built-in roots "
                        "(repeatable; default $IOTHTTP_CA_FILE)")
    g.add_argument("--no-builtin-roots", action="store_true",
                   help="trust only the CAs given with --ca-file")
    g.add_argument("--connect-timeout", type=float, metavar="S", default=None,
                   help="lookup + connect + TLS budget in seconds (default 10)")
    g.add_argument("--timeout", type=float, metavar="S", default=None,
                   help="each socket read/write and each reply wait, in seconds (default 30)")
    g.add_argument("--retries", type=int, metavar="N", default=None,
                   help="attempts per request, counting the first (default 3)")
    g.add_argument("--deadline", type=float, metavar="S", default=None,
                   help="bound each auth and publish call to S seconds in all")
    g.add_argument("--resolve", action="append", metavar="HOST:PORT:ADDR",
                   help="connect to ADDR for HOST:PORT, like curl --resolve (repeatable)")
    g.add_argument("--proxy", metavar="URL", help="an HTTP CONNECT proxy http://host:port")
    g.add_argument("--allow-plain-http", action="store_true", help="allow http:// URLs")
    o = p.add_argument_group("output")
    o.add_argument("--json", action="store_true",
                   help="print one JSON object with the result or the error on stdout")
    o.add_argument("--no-progress", action="store_true",
                   help="no progress bar (there is one only when stderr is a terminal)")
    o.add_argument("-q", "--quiet", action="store_true", help="no messages on stderr but errors")
    o.add_argument("-v", "--verbose", action="count", default=0,
                   help="the library's log on stderr: -v info, -vv debug, -vvv trace")


def _device_args(p: argparse.ArgumentParser, cloud: bool) -> None:
    g = p.add_argument_group("device")
    if cloud:
        g.add_argument("--cloud", choices=("ucloud", "aliyun"),
                       default=os.environ.get("IOTHTTP_CLOUD"),
                       help="the device's cloud (default $IOTHTTP_CLOUD)")
    g.add_argument("--product", default=os.environ.get("IOTHTTP_PRODUCT"),
                   help="ProductSN / productKey (default $IOTHTTP_PRODUCT)")
    g.add_argument("--device", default=os.environ.get("IOTHTTP_DEVICE"),
                   help="DeviceSN / deviceName (default $IOTHTTP_DEVICE)")
    g.add_argument("--secret-env", default="IOTHTTP_SECRET", metavar="VAR",
                   help="the environment variable holding the device secret "
                        "(default IOTHTTP_SECRET)")
    g.add_argument("--endpoint", metavar="URL", help="auth and publish base URL")
    g.add_argument("--region", help="the cloud region (cn-sh2, cn-shanghai, ...)")
    if cloud:
        g.add_argument("--client-id", help="Aliyun: the clientId sent at auth")
        g.add_argument("--sign-method", choices=("hmacmd5", "hmacsha1", "hmacsha256"),
                       help="Aliyun: how auth is signed (default hmacmd5)")
        g.add_argument("--timestamp", action="store_true", help="send a timestamp at auth")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="iothttp",
        description="Publish, upload and download with IoT clouds over HTTPS (libiothttp).",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version",
                        version="iothttp (Python) %s" % __version__)
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True

    def verb(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text,
                           epilog=EXIT_CODES_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        return p

    p = verb("publish", "publish a message as a device (UCloud or Aliyun)")
    p.add_argument("topic")
    p.add_argument("payload", nargs="?", help="the message text (or --payload-file)")
    p.add_argument("--payload-file", metavar="PATH", help="read the payload from PATH ('-': stdin)")
    _device_args(p, cloud=True)
    _common(p)

    p = verb("upload-file", "upload a file as a UCloud device (UCloud file service)")
    p.add_argument("path")
    p.add_argument("--name", help="the file name on the service (default: the path's base name)")
    p.add_argument("--content-type", default="application/octet-stream")
    p.add_argument("--md5", metavar="HEX", help="the file's MD5, if known (saves a pass)")
    p.add_argument("--file-endpoint", metavar="URL", help="the file service's base URL")
    _device_args(p, cloud=False)
    _common(p)

    p = verb("upload-ota", "upload a firmware file for Alibaba OTA; prints the FirmwareUrl")
    p.add_argument("path")
    p.add_argument("--access-key-id", default=os.environ.get("IOTHTTP_ACCESS_KEY_ID"),
                   help="the AccessKey id (default $IOTHTTP_ACCESS_KEY_ID)")
    p.add_argument("--secret-env", default="IOTHTTP_ACCESS_KEY_SECRET", metavar="VAR",
                   help="the variable holding the AccessKey secret "
                        "(default IOTHTTP_ACCESS_KEY_SECRET)")
    p.add_argument("--suffix", help="bin, apk, tar, gz, tar.gz, zip, gzip (default: from the name)")
    p.add_argument("--endpoint", metavar="URL", help="the IoT API base URL")
    p.add_argument("--region", help="the region (default cn-shanghai)")
    p.add_argument("--instance-id", help="the IoT instance id of an enterprise instance")
    _common(p)

    p = verb("upload-agc", "upload an app package to AppGallery Connect; prints the objectId")
    p.add_argument("path")
    p.add_argument("--client-id", default=os.environ.get("IOTHTTP_AGC_CLIENT_ID"),
                   help="the API client id (default $IOTHTTP_AGC_CLIENT_ID)")
    p.add_argument("--secret-env", default="IOTHTTP_AGC_SECRET", metavar="VAR",
                   help="the variable holding the client secret (default IOTHTTP_AGC_SECRET)")
    p.add_argument("--app-id", required=True)
    p.add_argument("--name", help="the package's file name (default: the path's base name)")
    p.add_argument("--sha256", metavar="HEX", help="the file's SHA-256, if known")
    p.add_argument("--endpoint", metavar="URL", help="the API host (default Huawei's)")
    _common(p)

    p = verb("put", "upload a file with PUT to a presigned URL")
    p.add_argument("url")
    p.add_argument("path")
    p.add_argument("-H", "--header", action="append", default=[], metavar="'NAME: VALUE'",
                   help="a header to send (repeatable)")
    _common(p)

    p = verb("post-form", "upload a file in a multipart/form-data POST (presigned POST policy)")
    p.add_argument("url")
    p.add_argument("path")
    p.add_argument("-F", "--field", action="append", default=[], metavar="NAME=VALUE",
                   help="a text field, sent in order before the file (repeatable)")
    p.add_argument("--file-field", default="file", help="the file part's field name (default file)")
    p.add_argument("--name", help="the file part's file name (default: the path's base name)")
    p.add_argument("--content-type", help="the file part's type (default application/octet-stream)")
    _common(p)

    p = verb("download", "download URL to a file (verified, resumable) or to stdout")
    p.add_argument("url")
    p.add_argument("-o", "--output", required=True, metavar="PATH",
                   help="the file to write (through PATH.part, renamed when verified); '-': stdout")
    p.add_argument("--size", type=int, help="the expected size in bytes")
    p.add_argument("--md5", metavar="HEX", help="the expected MD5")
    p.add_argument("--sha256", metavar="HEX", help="the expected SHA-256")
    p.add_argument("--offset", type=int, default=0, help="with -o -: start at this byte")
    p.add_argument("-H", "--header", action="append", default=[], metavar="'NAME: VALUE'",
                   help="with -o -: a header to send (repeatable)")
    _common(p)
    return parser


# ---------------------------------------------------------------------------- running


class Run:
    def __init__(self, args: argparse.Namespace, stdout: Any, stderr: Any) -> None:
        self.args = args
        self.stdout = stdout
        self.stderr = stderr
        self.bars: List[ProgressBar] = []

    def say(self, text: str) -> None:
        if not self.args.quiet:
            self.stderr.write(text + "\n")
            self.stderr.flush()

    def secret(self) -> str:
        var = self.args.secret_env
        value = os.environ.get(var)
        if not value:
            raise UsageError("the secret is read from the environment: set %s" % var)
        return value

    def need(self, **values: Any) -> None:
        for flag, value in values.items():
            if not value:
                raise UsageError("--%s is required" % flag.replace("_", "-"))

    def client(self) -> Client:
        a = self.args
        ca = a.ca_file or ([os.environ["IOTHTTP_CA_FILE"]] if os.environ.get("IOTHTTP_CA_FILE") else None)
        timeouts = None
        if a.connect_timeout is not None or a.timeout is not None:
            timeouts = (a.connect_timeout or 10.0, a.timeout or 30.0)
        return Client(
            ca_file=ca,
            builtin_roots=False if a.no_builtin_roots else None,
            timeouts=timeouts,
            retries=a.retries,
            deadline=a.deadline,
            resolve=a.resolve,
            proxy=a.proxy,
            allow_plain_http=a.allow_plain_http,
            log=logging.getLogger("iothttp"),
        )

    def progress(self, label: str) -> Optional[Callable[[int, Optional[int]], None]]:
        a = self.args
        if a.no_progress or a.quiet or not _isatty(self.stderr):
            return None
        bar = ProgressBar(self.stderr, label)
        self.bars.append(bar)
        return bar

    def finish_bars(self) -> None:
        for bar in self.bars:
            bar.finish()
        self.bars = []

    # -- verbs: each returns the JSON result fields and prints the human result

    def publish(self) -> Dict[str, Any]:
        a = self.args
        self.need(cloud=a.cloud, product=a.product, device=a.device)
        if a.payload is not None and a.payload_file is not None:
            raise UsageError("give the payload or --payload-file, not both")
        if a.payload_file == "-":
            payload = sys.stdin.buffer.read()
        elif a.payload_file is not None:
            with open(a.payload_file, "rb") as f:
                payload = f.read()
        elif a.payload is not None:
            payload = a.payload.encode("utf-8", "surrogateescape")
        else:
            raise UsageError("give the payload or --payload-file")
        secret = self.secret()
        with self.client() as client, client.device(
            a.cloud, a.product, a.device, secret, endpoint=a.endpoint, region=a.region,
            client_id=a.client_id, sign_method=a.sign_method,
            send_timestamp=True if a.timestamp else None,
        ) as dev:
            mid = dev.publish(a.topic, payload)
            reply = dev.reply_data()
        out: Dict[str, Any] = {"message_id": mid, "topic": a.topic, "bytes": len(payload)}
        if reply:
            try:
                out["reply_data"] = reply.decode("utf-8")
            except UnicodeDecodeError:
                out["reply_data_base64"] = base64.b64encode(reply).decode()
        if not a.json:
            self.stdout.write(mid + "\n")
            self.say("published %d bytes to %s" % (len(payload), a.topic))
        return out

    def upload_file(self) -> Dict[str, Any]:
        a = self.args
        self.need(product=a.product, device=a.device)
        secret = self.secret()
        name = a.name or os.path.basename(a.path)
        with self.client() as client, client.device(
            "ucloud", a.product, a.device, secret, endpoint=a.endpoint,
            file_endpoint=a.file_endpoint, region=a.region,
        ) as dev:
            dev.upload_file(a.path, name, a.content_type, md5=a.md5,
                            progress=self.progress(name))
        self.finish_bars()
        size = os.path.getsize(a.path)
        self.say("uploaded %s (%d bytes)" % (name, size))
        return {"file_name": name, "bytes": size}

    def upload_ota(self) -> Dict[str, Any]:
        a = self.args
        self.need(access_key_id=a.access_key_id)
        secret = self.secret()
        with self.client() as client:
            url = client.upload_ota(a.access_key_id, secret, a.path, a.suffix,
                                    endpoint=a.endpoint, region=a.region,
                                    instance_id=a.instance_id,
                                    progress=self.progress(os.path.basename(a.path)))
        self.finish_bars()
        size = os.path.getsize(a.path)
        if not a.json:
            self.stdout.write(url + "\n")
            self.say("uploaded %s (%d bytes)" % (os.path.basename(a.path), size))
        return {"firmware_url": url, "bytes": size}

    def upload_agc(self) -> Dict[str, Any]:
        a = self.args
        self.need(client_id=a.client_id)
        secret = self.secret()
        name = a.name or os.path.basename(a.path)
        with self.client() as client:
            object_id = client.upload_agc(a.client_id, secret, a.app_id, a.path, name,
                                          endpoint=a.endpoint, sha256=a.sha256,
                                          progress=self.progress(name))
        self.finish_bars()
        size = os.path.getsize(a.path)
        if not a.json:
            self.stdout.write(object_id + "\n")
            self.say("uploaded %s (%d bytes)" % (name, size))
        return {"object_id": object_id, "file_name": name, "bytes": size}

    def put(self) -> Dict[str, Any]:
        a = self.args
        with self.client() as client:
            client.put(a.url, a.path, a.header, progress=self.progress(os.path.basename(a.path)))
        self.finish_bars()
        size = os.path.getsize(a.path)
        self.say("uploaded %s (%d bytes)" % (a.path, size))
        return {"url": _redact(a.url), "bytes": size}

    def post_form(self) -> Dict[str, Any]:
        a = self.args
        fields = []
        for f in a.field:
            name, sep, value = f.partition("=")
            if not sep or not name:
                raise UsageError("--field %r is not NAME=VALUE" % f)
            fields.append((name, value))
        name = a.name or os.path.basename(a.path)
        with self.client() as client:
            client.post_form(a.url, a.path, fields, file_field=a.file_field, file_name=name,
                             content_type=a.content_type, progress=self.progress(name))
        self.finish_bars()
        size = os.path.getsize(a.path)
        self.say("uploaded %s (%d bytes)" % (name, size))
        return {"url": _redact(a.url), "file_name": name, "bytes": size}

    def download(self) -> Dict[str, Any]:
        a = self.args
        label = os.path.basename(a.url.split("?", 1)[0]) or "download"
        if a.output == "-":
            if a.json:
                raise UsageError("--json cannot be used with -o - (stdout carries the bytes)")
            return self._download_stdout(label)
        if a.header or a.offset:
            raise UsageError("-H and --offset apply to -o - only (a file download resumes by itself)")
        with self.client() as client:
            size = client.download_file(a.url, a.output, a.size, a.md5, a.sha256,
                                        progress=self.progress(label))
        self.finish_bars()
        checks = [n for n, v in (("size", a.size), ("MD5", a.md5), ("SHA-256", a.sha256)) if v]
        self.say("downloaded %s (%d bytes)%s" % (
            a.output, size, ": %s verified" % ", ".join(checks) if checks else ""))
        return {"path": a.output, "bytes": size, "verified": checks}

    def _download_stdout(self, label: str) -> Dict[str, Any]:
        a = self.args
        out = self.stdout.buffer if hasattr(self.stdout, "buffer") else self.stdout
        md5 = hashlib.md5() if a.md5 else None
        sha = hashlib.sha256() if a.sha256 else None
        count = [0]

        def sink(data: bytes) -> None:
            out.write(data)
            count[0] += len(data)
            if md5:
                md5.update(data)
            if sha:
                sha.update(data)

        with self.client() as client:
            total = client.download(a.url, sink, a.offset, a.header,
                                    progress=self.progress(label))
        out.flush()
        self.finish_bars()
        problems = []
        if a.size is not None and count[0] != a.size:
            problems.append("%d bytes arrived, %d were expected" % (count[0], a.size))
        if md5 and md5.hexdigest() != a.md5.lower():
            problems.append("MD5 is %s, %s was expected" % (md5.hexdigest(), a.md5))
        if sha and sha.hexdigest() != a.sha256.lower():
            problems.append("SHA-256 is %s, %s was expected" % (sha.hexdigest(), a.sha256))
        if problems:
            raise DigestMismatch(Result.E_DIGEST_MISMATCH, "download %s to stdout: %s" % (
                _redact(a.url), "; ".join(problems)))
        self.say("downloaded %d bytes of %d" % (count[0], total))
        return {"bytes": count[0], "total": total}


def _redact(url: str) -> str:
    """A URL without its query (presigned URLs carry signatures there)."""
    return url.split("?", 1)[0]


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


VERBS = {
    "publish": Run.publish,
    "upload-file": Run.upload_file,
    "upload-ota": Run.upload_ota,
    "upload-agc": Run.upload_agc,
    "put": Run.put,
    "post-form": Run.post_form,
    "download": Run.download,
}


def main(argv: Optional[Sequence[str]] = None, stdout: Any = None, stderr: Any = None) -> int:
    """Run the command line; returns the exit status."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = build_parser()
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}.get(args.verbose, TRACE)
    if args.quiet and not args.verbose:
        level = logging.ERROR
    logger = logging.getLogger("iothttp")
    handler = logging.StreamHandler(stderr)
    handler.setFormatter(logging.Formatter("iothttp: %(levelname)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    run = Run(args, stdout, stderr)

    def fail(code: int, kind: str, message: str, error: Optional[Error] = None) -> int:
        run.finish_bars()
        if args.json:
            body: Dict[str, Any] = {"code": kind, "message": message}
            if error is not None:
                body.update(result=int(error.result), cloud_code=error.cloud_code,
                            http_status=error.http_status)
            json.dump({"ok": False, "verb": args.verb, "exit": code, "error": body}, stdout)
            stdout.write("\n")
        detail = ""
        if error is not None and (error.cloud_code or error.http_status):
            parts = []
            if error.cloud_code:
                parts.append("cloud code %d" % error.cloud_code)
            if error.http_status:
                parts.append("HTTP %d" % error.http_status)
            detail = " (%s)" % ", ".join(parts)
        stderr.write("iothttp %s: %s: %s%s\n" % (args.verb, kind, message, detail))
        stderr.flush()
        return code

    try:
        result = VERBS[args.verb](run)
    except UsageError as e:
        if args.json:
            return fail(EXIT_USAGE, "usage", str(e))
        run.finish_bars()
        parser.exit(EXIT_USAGE, "iothttp %s: error: %s\n" % (args.verb, e))
    except Error as e:
        return fail(exit_code_for(int(e.result)), e.code, e.message, e)
    except LibraryNotFound as e:
        return fail(EXIT_FAILURE, "library", str(e))
    except OSError as e:
        return fail(EXIT_FAILURE, "os", "%s" % e)
    except KeyboardInterrupt:
        return fail(EXIT_INTERRUPTED, "interrupted", "interrupted")
    finally:
        logger.removeHandler(handler)
    if args.json:
        json.dump(dict({"ok": True, "verb": args.verb}, **result), stdout)
        stdout.write("\n")
    stdout.flush()
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
