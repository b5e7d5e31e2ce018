"""``hfcache serve`` against nginx serving the same file, in one run, on loopback.

Builds a cache holding one blob of ``--mib`` MiB (random bytes, so nothing compresses), starts
``hfcache serve`` over it and nginx (``sendfile on``, one worker) with the blob as a static
file, warms the page cache and the mirror's verification (the first full read hashes), then:

1. one stream: ``curl`` fetches the by-commit URL ``--repeat`` times from each, interleaved,
   and the same bytes as an OCI blob (``/v2/bench/big/blobs/sha256:...``) from hfcache;
2. ``--clients`` concurrent ``curl`` processes (every one must get the whole file, exact size);
3. ``--connections`` idle keep-alive connections held open while one more request is served;
4. the peak RSS (VmHWM) of the hfcache server process.

Prints best and median times, MB/s, and the ratio hfcache/nginx throughput (target: one stream
at no less than 0.8x nginx; ``/v2/`` blobs as fast as ``/resolve/``, 0.9x or better; 16 clients
all complete; RSS under 100 MiB).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_cache(root: Path, mib: int, name: str = "model.safetensors") -> tuple[Path, str]:
    """A repo holding one blob of random bytes as ``name`` (a second call adds another file)."""
    repo = root / "hub" / "models--bench--big"
    for folder in (repo / "blobs", repo / "refs", repo / "snapshots" / COMMIT):
        folder.mkdir(parents=True, exist_ok=True)
    tmp = repo / "blobs" / "tmp"
    h = hashlib.sha256()
    with open(tmp, "wb") as f:
        for _ in range(mib):
            chunk = os.urandom(1 << 20)
            h.update(chunk)
            f.write(chunk)
    sha = h.hexdigest()
    blob = repo / "blobs" / sha
    tmp.rename(blob)
    os.symlink(f"../../blobs/{sha}", repo / "snapshots" / COMMIT / name)
    (repo / "refs" / "main").write_text(COMMIT)
    return blob, sha


def wait_http(url: str, deadline: float = 20) -> None:
    end = time.monotonic() + deadline
    while subprocess.run(["curl", "-sf", "-o", "/dev/null", url], check=False).returncode != 0:
        if time.monotonic() > end:
            raise RuntimeError(f"{url} did not answer")
        time.sleep(0.1)


def curl_time(url: str) -> tuple[float, int]:
    out = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{time_total} %{size_download} %{http_code}", url],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    if out[2] != "200":
        raise RuntimeError(f"{url}: HTTP {out[2]}")
    return float(out[0]), int(out[1])


def concurrent(url: str, n: int, size: int) -> float:
    start = time.monotonic()
    procs = [
        subprocess.Popen(["curl", "-s", "-o", "/dev/null", "-w", "%{size_download} %{http_code}", url],
                         stdout=subprocess.PIPE, text=True)
        for _ in range(n)
    ]  # fmt: skip
    results = [p.communicate()[0].split() for p in procs]
    wall = time.monotonic() - start
    bad = [r for r in results if r != [str(size), "200"]]
    if bad:
        raise RuntimeError(f"{len(bad)} of {n} clients did not get the whole file: {bad[:3]}")
    return wall


def idle_connections(port: int, n: int, url: str) -> bool:
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            socks.append(s)
        time.sleep(0.5)
        return subprocess.run(["curl", "-sf", "-o", "/dev/null", url], check=False).returncode == 0
    finally:
        for s in socks:
            s.close()


def vmhwm(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def nginx_conf(root: Path, port: int, static: Path) -> Path:
    user = "user root;" if os.geteuid() == 0 else ""
    temp = " ".join(
        f"{k}_temp_path {root / k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = root / "nginx.conf"
    conf.write_text(
        f"{user} daemon off; worker_processes 1; pid {root / 'nginx.pid'}; error_log {root / 'nginx.err'};\n"
        "events { worker_connections 1024; }\n"
        f"http {{ access_log off; sendfile on; tcp_nopush on; {temp}\n"
        f"  server {{ listen 127.0.0.1:{port}; location / {{ root {static}; }} }}\n}}\n"
    )
    return conf


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mib", type=int, default=200)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = p.parse_args()
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    print(f"load average: {os.getloadavg()}")
    root = Path(tempfile.mkdtemp(prefix="hfcache-bench-serve-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        blob, sha = make_cache(root, args.mib)
        fresh, _ = make_cache(root, args.mib, "fresh.safetensors")  # never read before the 16-client test
        static = root / "static"
        static.mkdir()
        os.link(blob, static / "model.safetensors")
        size = blob.stat().st_size
        hport, nport = free_port(), free_port()
        env = {**os.environ, "HFCACHE_STATE_DIR": str(root / "state")}
        serve = subprocess.Popen(
            [sys.executable, "-m", "hfcache", "serve", str(root / "hub"), "--port", str(hport), "-q"],
            env=env, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        procs.append(serve)
        procs.append(subprocess.Popen([nginx, "-c", str(nginx_conf(root, nport, static)), "-p", str(root)]))
        ours = f"http://127.0.0.1:{hport}/bench/big/resolve/{COMMIT}/model.safetensors"
        theirs = f"http://127.0.0.1:{nport}/model.safetensors"
        oci = f"http://127.0.0.1:{hport}/v2/bench/big/blobs/sha256:{sha}"
        wait_http(f"http://127.0.0.1:{hport}/healthz")
        wait_http(theirs)
        first, _ = curl_time(ours)  # the first full read hashes while it sends
        print(f"{args.mib} MiB blob; first (verifying) read from hfcache: {first:.3f} s")
        times: dict[str, list[float]] = {"hfcache": [], "nginx": [], "hfcache /v2/": []}
        for _ in range(args.repeat):
            for name, url in (("hfcache", ours), ("nginx", theirs), ("hfcache /v2/", oci)):
                t, got = curl_time(url)
                assert got == size
                times[name].append(t)
        mb = size / 1e6
        for name, ts in times.items():
            lo, med = min(ts), statistics.median(ts)
            best_text = f"best {lo:.3f} s ({mb / lo:.0f} MB/s)"
            print(f"one stream, {name:12s}: {best_text}, median {med:.3f} s ({mb / med:.0f} MB/s)")
        best = min(times["nginx"]) / min(times["hfcache"])
        median = statistics.median(times["nginx"]) / statistics.median(times["hfcache"])
        print(f"hfcache throughput / nginx: best {best:.2f}x, median {median:.2f}x (target >= 0.8)")
        v2_best = min(times["hfcache"]) / min(times["hfcache /v2/"])
        v2_median = statistics.median(times["hfcache"]) / statistics.median(times["hfcache /v2/"])
        print(f"/v2/ blob / resolve throughput: best {v2_best:.2f}x, median {v2_median:.2f}x (target >= 0.9)")
        contenders = (("hfcache", ours), ("nginx", theirs), ("hfcache /v2/", oci))
        walls = {name: concurrent(url, args.clients, size) for name, url in contenders}
        # The worst case for memory and CPU: every client asks for a file never verified before.
        subprocess.run(["cat", str(fresh)], stdout=subprocess.DEVNULL, check=True)  # page cache only
        unread = ours.replace("model.safetensors", "fresh.safetensors")
        walls["hfcache, 16 first reads of an unverified file"] = concurrent(unread, args.clients, size)
        for name, wall in walls.items():
            print(f"{args.clients} concurrent clients, {name}: all complete in {wall:.2f} s "
                  f"({args.clients * mb / wall:.0f} MB/s aggregate)")  # fmt: skip
        ok = idle_connections(hport, args.connections, ours)
        verdict = "succeeded" if ok else "FAILED"
        print(f"{args.connections} idle connections held open: a further request {verdict}")
        rss = vmhwm(serve.pid)
        print(f"hfcache serve peak RSS (VmHWM): {rss:.1f} MiB (target < 100)")
        missed = best < 0.8 or v2_median < 0.9 or not ok or rss >= 100
        return 1 if args.check and missed else 0
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
