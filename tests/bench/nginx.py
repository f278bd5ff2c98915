"""Upload and publish benchmark against nginx: iothttp against curl/libcurl, same machine,
same server, one run, alternating.

Driven by `tests/bench/run.sh nginx`, which builds the release library and the C benchmark
programs and starts nginx (tests/bench/nginx_sink.sh: TLS on 127.0.0.1, canned cloud
replies, upload bodies read to the end and dropped). Unlike the emulator, nginx hashes
nothing, so the figures carry little server work: its CPU time is reported beside them.

Flows, for a 1 MiB and a 1 GiB file:

  UCloud file      iothttp: UCloud device file upload (MD5 pass, grant request, PUT with
                   Content-MD5)  vs  `openssl dgst -md5` then `curl -T` with Content-MD5
  PUT              iothttp_put  vs  `curl -T`
  multipart POST   iothttp_post_form  vs  `curl -F`
  AGC (SHA-256)    iothttp: AppGallery Connect upload (SHA-256 pass, token, upload URL, PUT
                   with the returned x-amz-content-sha256)  vs  `openssl dgst -sha256` then
                   `curl -T` with x-amz-content-sha256

and 10,000 publishes of 1 KiB over one keep-alive connection: bench_publish with iothttp
alone (built without libcurl) against bench_publish with libcurl alone.

Downloads, of the same 1 MiB and 1 GiB files served by nginx as static files (ETag, Range):

  download         iothttp_download to a write callback that fwrite()s  vs  `curl -o`
  verified file    iothttp_download_file with size and MD5 (digest, fsync, rename)  vs
                   `curl -o f.part`, `openssl dgst -md5`, `sync f.part`, `mv f.part f`
  resumed half     the same two with the first half already in the .part (iothttp: a run
                   cancelled at half way; curl: the first half copied) and `curl -C -`; the
                   resumed prefix is re-read for the digest on both sides

Every download is checked: nginx's log line (200, or 206 for a resumed one, and its
$bytes_sent) and the MD5 of the file the client left.

Every upload is checked on nginx's side: its access-log line (written once the body has been
read to the end) has a 2xx status, and nginx's own read count over the upload (rchar in
/proc/PID/io: TLS records as received) is at least the file's size. Reported per client: wall time (median of RUNS
alternating runs), client CPU (user+sys of the client processes, median), peak RSS (max of
the client processes), nginx's CPU (median), and the ratios iothttp / curl.
"""

import json
import os
import statistics
import subprocess
import sys
import time
import hashlib

import upload  # tests/bench/upload.py: run() under the maxrss wrapper

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
PUBLISHES = int(os.environ.get("BENCH_PUBLISHES", "10000"))
# Which parts run: BENCH_FLOWS, a comma-separated subset of upload,download,publish.
FLOWS = os.environ.get("BENCH_FLOWS", "upload,download,publish").split(",")
TICK = os.sysconf("SC_CLK_TCK")


class Nginx:
    def __init__(self, env):
        self.url = env["NGINX_URL"]
        self.ca = env["NGINX_CA"]
        self.pid = int(env["NGINX_PID"])
        self.log = env["NGINX_LOG"]
        self.offset = os.path.getsize(self.log)
        self.files = env["NGINX_FILES"]
        self.tls = "?"

    def cpu(self):
        """nginx's user+sys seconds so far (one process: master_process off)."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    def read_bytes(self):
        """Bytes nginx has read so far (sockets included)."""
        with open(f"/proc/{self.pid}/io") as f:
            return int(next(line for line in f if line.startswith("rchar:")).split()[1])

    def lines(self, want, timeout=5.0):
        """The access-log lines written since the last call; waits until `want(lines)`."""
        deadline = time.monotonic() + timeout
        while True:
            with open(self.log) as f:
                f.seek(self.offset)
                text = f.read()
            complete = text[: text.rfind("\n") + 1]
            rows = [parse(line) for line in complete.splitlines()]
            if want(rows) or time.monotonic() > deadline:
                self.offset += len(complete.encode())
                return rows
            time.sleep(0.02)


def parse(line):
    # $msec $connection $connection_requests $request_method $uri $status $request_length
    # $bytes_sent $request_time $ssl_protocol $ssl_cipher "$http_user_agent"
    f = line.split(" ", 11)
    return {
        "conn": f[1], "method": f[3], "uri": f[4], "status": int(f[5]), "sent": int(f[7]),
        "tls": f"{f[9]} {f[10]}", "agent": f[11].strip('"'),
    }


def step(ngx, cmd, method=None, prefix=None, size=0):
    """Run one client command: (wall, client CPU, peak RSS, nginx CPU, [stdout]).

    With `method`, the command uploads: wait for its access-log line (nginx writes it once
    the body has been read to the end), check that it is the only upload, 2xx, and that
    nginx read at least `size` bytes meanwhile; nginx's CPU then includes reading the body.
    """
    cpu0, read0 = ngx.cpu(), ngx.read_bytes()
    wall, cpu, rss, out = upload.run(cmd)
    if method:
        def mine(r):
            return r["method"] == method and r["uri"].startswith(prefix)
        rows = ngx.lines(lambda rows: any(mine(r) for r in rows))
        hits = [r for r in rows if mine(r)]
        read = ngx.read_bytes() - read0
        if len(hits) != 1 or any(not 200 <= r["status"] < 300 for r in rows) or read < size:
            raise RuntimeError(f"{method} {prefix}: not one whole 2xx upload (nginx read "
                               f"{read} bytes of {size}): {rows}")
        ngx.tls = hits[0]["tls"]
    return wall, cpu, rss, ngx.cpu() - cpu0, [out]


def digests(path):
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            md5.update(chunk)
            sha.update(chunk)
    return md5.hexdigest(), sha.hexdigest()


def upload_flows(bench, ngx, path, size, i):
    """One alternating run of every upload flow: {(flow, client): measurement}."""
    md5, sha256 = digests(path)
    curl = ["curl", "-sS", "--fail", "-o", "/dev/null", "--cacert", ngx.ca]
    octet = ["-H", "Content-Type: application/octet-stream"]
    out = {}
    ngx.lines(lambda rows: True, timeout=0)  # skip what came before

    flow = "UCloud file (MD5 pass + PUT)"
    out[(flow, "iothttp")] = step(ngx, [bench, "ufile", path, ngx.url, ngx.ca],
                                  "PUT", "/ufile/bench.bin", size)
    m = step(ngx, ["openssl", "dgst", "-md5", "-r", path])
    digest = m[4][0].split()[0]
    if digest != md5:
        raise RuntimeError(f"openssl md5 {digest} != {md5}")
    out[(flow, "curl")] = combine(m, step(
        ngx, curl + ["-T", path, "-H", f"Content-MD5: {digest}"] + octet
        + ["-H", "Authorization: Ucloud bench", f"{ngx.url}/ufile/curl-{i}.bin"],
        "PUT", f"/ufile/curl-{i}.bin", size))

    flow = "PUT"
    out[(flow, "iothttp")] = step(ngx, [bench, "put", path, f"{ngx.url}/put/bench.bin", ngx.ca],
                                  "PUT", "/put/bench.bin", size)
    out[(flow, "curl")] = step(ngx, curl + ["-T", path] + octet + [f"{ngx.url}/put/curl-{i}.bin"],
                               "PUT", f"/put/curl-{i}.bin", size)

    flow = "multipart POST"
    out[(flow, "iothttp")] = step(ngx, [bench, "form", path, f"{ngx.url}/form/", ngx.ca],
                                  "POST", "/form/", size)
    out[(flow, "curl")] = step(ngx, curl + ["-F", "key=curlform/${filename}",
                                            "-F", f"file=@{path};type=application/octet-stream",
                                            f"{ngx.url}/form/"],
                               "POST", "/form/", size)

    flow = "AGC (SHA-256 pass + PUT)"
    out[(flow, "iothttp")] = step(ngx, [bench, "agc", path, ngx.url, ngx.ca],
                                  "PUT", "/obs/bench.app", size)
    m = step(ngx, ["openssl", "dgst", "-sha256", "-r", path])
    digest = m[4][0].split()[0]
    if digest != sha256:
        raise RuntimeError(f"openssl sha256 {digest} != {sha256}")
    out[(flow, "curl")] = combine(m, step(
        ngx, curl + ["-T", path, "-H", f"x-amz-content-sha256: {digest}"] + octet
        + [f"{ngx.url}/obs/curl-{i}.app"],
        "PUT", f"/obs/curl-{i}.app", size))
    return out


def md5_of(path):
    return digests(path)[0]


def fetched(ngx, name, status, size, path, md5, tail):
    """Check a finished download: one GET of /dl/<name> with `status` that sent at least
    `tail` body bytes, and `path` is the whole file (size and MD5)."""
    rows = ngx.lines(lambda rows: any(r["uri"] == f"/dl/{name}" for r in rows))
    hits = [r for r in rows if r["uri"] == f"/dl/{name}" and r["method"] == "GET"]
    if len(hits) != 1 or hits[0]["status"] != status or hits[0]["sent"] < tail:
        raise RuntimeError(f"GET /dl/{name}: wanted one {status} of {tail} bytes: {rows}")
    if os.path.getsize(path) != size or md5_of(path) != md5:
        raise RuntimeError(f"{path}: not the served file")
    ngx.tls = hits[0]["tls"]


def download_flows(bench, ngx, name, size, md5, workdir):
    """One alternating run of every download flow: {(flow, client): measurement}."""
    url = f"{ngx.url}/dl/{name}"
    dest = os.path.join(workdir, "dl-dest.bin")
    part = dest + ".part"
    curl = ["curl", "-sS", "--fail", "--cacert", ngx.ca]
    out = {}

    def clean():
        for p in (dest, part, part + ".meta"):
            if os.path.exists(p):
                os.remove(p)

    ngx.lines(lambda rows: True, timeout=0)
    clean()
    flow = "download (to a file)"
    out[(flow, "iothttp")] = step(ngx, [bench, "fetch", dest, url, ngx.ca])
    fetched(ngx, name, 200, size, dest, md5, size)
    clean()
    out[(flow, "curl")] = step(ngx, curl + ["-o", dest, url])
    fetched(ngx, name, 200, size, dest, md5, size)
    clean()

    flow = "verified file (size + MD5, fsync, rename)"
    out[(flow, "iothttp")] = step(ngx, [bench, "download", dest, url, ngx.ca, str(size), md5])
    fetched(ngx, name, 200, size, dest, md5, size)
    clean()
    out[(flow, "curl")] = curl_verified(ngx, curl + ["-o", part, url], part, dest, md5)
    fetched(ngx, name, 200, size, dest, md5, size)
    clean()

    flow = "resumed half (verified)"
    half = size // 2
    upload.run([bench, "download", dest, url, ngx.ca, str(size), md5, str(half)])
    have = os.path.getsize(part)
    if not half <= have < size:
        raise RuntimeError(f"the cancelled run left {have} bytes in the .part")
    ngx.lines(lambda rows: any(r["uri"] == f"/dl/{name}" for r in rows))
    out[(flow, "iothttp")] = step(ngx, [bench, "download", dest, url, ngx.ca, str(size), md5])
    fetched(ngx, name, 206, size, dest, md5, size - have)
    clean()
    with open(os.path.join(ngx.files, name), "rb") as src, open(part, "wb") as dst:
        dst.write(src.read(have))
    out[(flow, "curl")] = curl_verified(ngx, curl + ["-C", "-", "-o", part, url], part, dest, md5)
    fetched(ngx, name, 206, size, dest, md5, size - have)
    clean()
    return out


def curl_verified(ngx, cmd, part, dest, md5):
    """curl's verified download: fetch to the .part, MD5 it, fsync it, rename it."""
    m = step(ngx, cmd)
    d = step(ngx, ["openssl", "dgst", "-md5", "-r", part])
    if d[4][0].split()[0] != md5:
        raise RuntimeError(f"openssl md5 of {part} is not {md5}")
    m = combine(combine(m, d), step(ngx, ["sync", part]))
    return combine(m, step(ngx, ["mv", part, dest]))


def combine(a, b):
    """Two steps of one pipeline: times add up, RSS is the larger."""
    return a[0] + b[0], a[1] + b[1], max(a[2], b[2]), a[3] + b[3], a[4] + b[4]


def publish_runs(pub, pub_nocurl, ngx, token):
    out = {}
    for client, cmd in (
        ("iothttp", [pub_nocurl, ngx.url, ngx.ca, "-", str(PUBLISHES), "1024", "iothttp"]),
        ("curl", [pub, ngx.url, ngx.ca, "-", str(PUBLISHES), "1024", "curl"]),
    ):
        ngx.lines(lambda rows: True, timeout=0)
        cpu0 = ngx.cpu()
        _, _, rss, text = upload.run(cmd)
        vals = dict(kv.split("=") for kv in text.split())
        rows = ngx.lines(lambda rows: sum(r["uri"].startswith("/topic/") for r in rows) >= PUBLISHES)
        server = ngx.cpu() - cpu0
        topics = [r for r in rows if r["uri"].startswith("/topic/")]
        if len(topics) != PUBLISHES or any(r["status"] != 200 for r in rows):
            raise RuntimeError(f"publish {client}: {len(topics)} publishes in nginx's log")
        conns = len({r["conn"] for r in topics})
        out[client] = (float(vals["seconds"]), float(vals["cpu"]), rss, server, conns)
    return out


def main():
    bench, pub, pub_nocurl, workdir, env_file, upload.MAXRSS = sys.argv[1:7]
    env = dict(line.strip().split("=", 1) for line in open(env_file) if "=" in line)
    ngx = Nginx(env)
    load0 = loadavg()
    token = json.loads(subprocess.run(
        ["curl", "-sS", "--fail", "--cacert", ngx.ca, "-X", "POST", "-d", "{}", f"{ngx.url}/auth"],
        check=True, capture_output=True, text=True).stdout)["Token"]
    os.environ["BENCH_TOKEN"] = token

    rows = []
    for label, size in (("1 MiB", 1 << 20), ("1 GiB", 1 << 30)):
        path = os.path.join(workdir, f"bench-{size}.bin")
        md5 = upload.make_file(path, size)
        runs = {}
        for i in range(RUNS):
            got = upload_flows(bench, ngx, path, size, i) if "upload" in FLOWS else {}
            if "download" in FLOWS:
                name = os.path.basename(path)
                served = os.path.join(ngx.files, name)
                if not os.path.exists(served):
                    os.link(path, served)
                    os.chmod(served, 0o644)
                got.update(download_flows(bench, ngx, name, size, md5, workdir))
            for k, v in got.items():
                runs.setdefault(k, []).append(v)
        os.remove(path)
        if os.path.exists(os.path.join(ngx.files, os.path.basename(path))):
            os.remove(os.path.join(ngx.files, os.path.basename(path)))
        for (flow, client), ms in runs.items():
            rows.append((flow, label, client,
                         statistics.median(m[0] for m in ms),
                         statistics.median(m[1] for m in ms),
                         max(m[2] for m in ms),
                         statistics.median(m[3] for m in ms)))

    pubs = {"iothttp": [], "curl": []}
    for _ in range(RUNS if "publish" in FLOWS else 0):
        for client, v in publish_runs(pub, pub_nocurl, ngx, token).items():
            pubs[client].append(v)
    conns = {c: max((v[4] for v in vs), default=0) for c, vs in pubs.items()}
    for client, vs in pubs.items() if "publish" in FLOWS else ():
        rows.append((f"{PUBLISHES:,} publishes of 1 KiB", "-", client,
                     statistics.median(v[0] for v in vs),
                     statistics.median(v[1] for v in vs),
                     max(v[2] for v in vs),
                     statistics.median(v[3] for v in vs)))

    print(f"nginx {nginx_version()}, {ngx.tls}; load average (1 min) {load0} at the start, "
          f"{loadavg()} at the end")
    print(f"runs per cell: {RUNS} (alternating); values: median wall, median client CPU, max "
          "peak RSS, median nginx CPU\n")
    print("| flow | file | client | wall s | client CPU s | peak RSS KiB | nginx CPU s |")
    print("|---|---|---|---|---|---|---|")
    for flow, label, client, wall, cpu, rss, server in rows:
        name = "iothttp" if client == "iothttp" else curl_name(flow)
        print(f"| {flow} | {label} | {name} | {wall:.3f} | {cpu:.3f} | {rss} | {server:.3f} |")
    by = {(r[0], r[1], r[2]): r for r in rows}
    print("\nRatios iothttp / curl (wall, client CPU, peak RSS):\n")
    print("| flow | file | wall | client CPU | peak RSS |")
    print("|---|---|---|---|---|")
    seen = []
    for flow, label, *_ in rows:
        if (flow, label) in seen:
            continue
        seen.append((flow, label))
        a, b = by[(flow, label, "iothttp")], by[(flow, label, "curl")]
        print(f"| {flow} | {label} | {ratio(a[3], b[3])} | {ratio(a[4], b[4])} | {ratio(a[5], b[5])} |")
    if "publish" not in FLOWS:
        return
    print(f"\npublish: {PUBLISHES / by[(rows[-1][0], '-', 'iothttp')][3]:.0f} messages/s iothttp, "
          f"{PUBLISHES / by[(rows[-1][0], '-', 'curl')][3]:.0f} libcurl; connections seen by nginx "
          f"per run: iothttp {conns['iothttp']}, libcurl {conns['curl']}")


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def curl_name(flow):
    return {
        "UCloud file (MD5 pass + PUT)": "openssl dgst -md5 + curl -T",
        "PUT": "curl -T",
        "multipart POST": "curl -F",
        "AGC (SHA-256 pass + PUT)": "openssl dgst -sha256 + curl -T",
        "download (to a file)": "curl -o",
        "verified file (size + MD5, fsync, rename)": "curl -o + openssl dgst -md5 + sync + mv",
        "resumed half (verified)": "curl -C - + openssl dgst -md5 + sync + mv",
    }.get(flow, f"libcurl {curl_version()}")


def ratio(a, b):
    return f"{a / b:.2f}" if b else "-"


def curl_version():
    return subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout.split()[1]


def nginx_version():
    nginx = "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else "nginx"
    err = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr
    return err.strip().rsplit("/", 1)[-1]


if __name__ == "__main__":
    main()
