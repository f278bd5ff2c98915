"""Upload benchmark: iothttp against the curl pipeline, same machine, same server, one run.

Driven by tests/bench/run.sh upload (which builds the release library, the emulator and
bench_upload, and starts the emulator). Compares, for a 1 MiB and a 1 GiB file:

  PUT with MD5 pre-pass   iothttp: UCloud device file upload (MD5 pass, grant, PUT with
                          Content-MD5)  vs  `openssl dgst -md5` then `curl -T` with Content-MD5
  multipart POST          iothttp_post_form  vs  `curl -F`

Every upload is verified by the server (MD5 and SHA-256 of the stored object match the file).
Reported per client: wall time (median of RUNS alternating runs), CPU time (user+sys of the
client processes) and peak RSS (max of the client processes).
"""

import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
import hashlib

RUNS = int(os.environ.get("BENCH_RUNS", "3"))


def control(addr, command):
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=60) as s:
        s.sendall(command.encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            data += chunk
    text = data.decode().strip()
    if not text.startswith("OK"):
        raise RuntimeError(f"{command}: {text}")
    return text[3:]


MAXRSS = None  # path of the maxrss wrapper (argv[4])


def run(cmd):
    """Run a command; return (wall seconds, cpu seconds, peak RSS KiB, stdout)."""
    start = time.monotonic()
    proc = subprocess.Popen([MAXRSS] + cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    out = proc.stdout.read().decode()
    err = proc.stderr.read().decode()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{cmd[0]} failed ({code}): {err.strip()}")
    rss = int(err.rsplit("maxrss_kb=", 1)[1].split()[0])
    return wall, usage.ru_utime + usage.ru_stime, rss, out


def make_file(path, size):
    block = os.urandom(min(size, 16 << 20))
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, len(block))
            f.write(block[:n])
            left -= n
    md5 = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            md5.update(chunk)
    return md5.hexdigest()


def check_stored(emu, key_suffix, md5):
    objs = json.loads(control(emu["IOTHTTP_EMU_CONTROL"], "objects"))
    match = [o for o in objs if o["key"].endswith(key_suffix)]
    if not match or match[-1]["md5"] != md5:
        raise RuntimeError(f"object {key_suffix} missing or wrong digest: {match}")


def main():
    global MAXRSS
    bench, workdir, env_file, MAXRSS = sys.argv[1:5]
    emu = dict(line.strip().split("=", 1) for line in open(env_file) if "=" in line)
    ca = emu["IOTHTTP_EMU_CA"]
    control(emu["IOTHTTP_EMU_CONTROL"], "add-device ucloud benchProduct benchDevice benchSecret")
    rows = []
    for label, size in (("1 MiB", 1 << 20), ("1 GiB", 1 << 30)):
        path = os.path.join(workdir, f"bench-{size}.bin")
        md5 = make_file(path, size)
        results = {k: [] for k in ("put_iothttp", "put_curl", "form_iothttp", "form_curl")}
        for i in range(RUNS):
            # PUT with MD5 pre-pass.
            w, c, r, out = run([bench, "ufile", path, emu["IOTHTTP_EMU_UFILE_URL"], ca])
            check_stored(emu, "benchDevice/bench.bin", md5)
            results["put_iothttp"].append((w, c, r))
            w1, c1, r1, out = run(["openssl", "dgst", "-md5", "-r", path])
            digest = out.split()[0]
            key = f"curl/{size}-{i}.bin"
            w2, c2, r2, _ = run([
                "curl", "-sS", "--fail", "--cacert", ca, "-T", path,
                "-H", f"Content-MD5: {digest}", "-H", "Content-Type: application/octet-stream",
                f"{emu['IOTHTTP_EMU_STORE_URL']}/{key}",
            ])
            check_stored(emu, key, md5)
            results["put_curl"].append((w1 + w2, c1 + c2, max(r1, r2)))
            # Multipart POST.
            w, c, r, _ = run([bench, "form", path, emu["IOTHTTP_EMU_STORE_FORM_URL"], ca])
            check_stored(emu, "bench/bench.bin", md5)
            results["form_iothttp"].append((w, c, r))
            w, c, r, _ = run([
                "curl", "-sS", "--fail", "--cacert", ca,
                "-F", "key=curlform/${filename}",
                "-F", "file=@" + path + ";type=application/octet-stream",
                emu["IOTHTTP_EMU_STORE_FORM_URL"],
            ])
            check_stored(emu, "curlform/" + os.path.basename(path), md5)
            results["form_curl"].append((w, c, r))
            control(emu["IOTHTTP_EMU_CONTROL"], "clear-objects")
        os.remove(path)
        for key, name in (
            ("put_iothttp", "PUT + MD5 pre-pass: iothttp"),
            ("put_curl", "PUT + MD5 pre-pass: openssl dgst + curl -T"),
            ("form_iothttp", "multipart POST: iothttp_post_form"),
            ("form_curl", "multipart POST: curl -F"),
        ):
            runs = results[key]
            rows.append((
                label, name,
                statistics.median(r[0] for r in runs),
                statistics.median(r[1] for r in runs),
                max(r[2] for r in runs),
            ))
    print(f"runs per cell: {RUNS} (alternating), values: median wall, median client CPU, max peak RSS\n")
    print("| file | pipeline | wall s | client CPU s | peak RSS KiB |")
    print("|---|---|---|---|---|")
    for label, name, wall, cpu, rss in rows:
        print(f"| {label} | {name} | {wall:.3f} | {cpu:.3f} | {rss} |")
    by = {(r[0], r[1]): r for r in rows}
    print()
    for label in ("1 MiB", "1 GiB"):
        put = by[(label, "PUT + MD5 pre-pass: iothttp")][2] / by[(label, "PUT + MD5 pre-pass: openssl dgst + curl -T")][2]
        form = by[(label, "multipart POST: iothttp_post_form")][2] / by[(label, "multipart POST: curl -F")][2]
        print(f"{label}: wall time iothttp / curl: PUT {put:.2f}, POST {form:.2f}")
    small = by[("1 MiB", "PUT + MD5 pre-pass: iothttp")][4]
    big = by[("1 GiB", "PUT + MD5 pre-pass: iothttp")][4]
    print(f"iothttp peak RSS growth from 1 MiB to 1 GiB (PUT): {big - small} KiB")


if __name__ == "__main__":
    main()
