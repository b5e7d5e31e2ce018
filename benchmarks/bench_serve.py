"""``hfcache serve`` against nginx serving the same file, in one run, on loopback.

Builds a cache holding one blob of ``--mib`` MiB (random bytes, so nothing compresses), starts
``hfcache serve`` over it and nginx (``sendfile on``, one worker) with the blob as a static
file, warms the page cache and the mirror's verification (the first full read hashes), then:

1. one stream: ``curl`` fetches the by-commit URL ``--repeat`` times from each, interleaved,
   and the same bytes as an OCI blob (``/v2/bench/big/blobs/sha256:...``) from hfcache;
2. ``--clients`` concurrent clients, ``--rounds`` times, from each (interleaved): once with each
   client ``curl URL | cmp - BLOB``, so every byte of every download is compared with the file,
   and once with ``curl -o /dev/null`` (size and status checked: the lightest clients, so the
   server's own cost shows most); each client's own time is kept, to see whether one is starved;
3. as many concurrent first reads of a second blob the mirror has never verified;
4. ``--connections`` idle keep-alive connections held open while one more request is served;
5. the peak RSS (VmHWM) of the hfcache server process.

Prints best and median times, MB/s, and the ratio hfcache/nginx throughput (targets: one stream
at no less than 0.8x nginx; ``/v2/`` blobs as fast as ``/resolve/``, 0.9x or better; the
concurrent clients' aggregate at 0.9x nginx or better, the slowest client within 3x the median;
RSS under 150 MiB), and the load average before and after.

    python benchmarks/bench_serve.py --repeat 15                      # 16 clients
    python benchmarks/bench_serve.py --mib 64 --clients 256 --rounds 5 --repeat 5
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
from dataclasses import dataclass
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


@dataclass
class Fleet:
    """One round of concurrent clients: the wall time of the whole round, and each client's time."""

    wall: float
    clients: list[float]

    @property
    def spread(self) -> float:
        """The slowest client's time over the median client's (1.0: perfectly fair)."""
        return max(self.clients) / statistics.median(self.clients)


def concurrent(url: str, n: int, blob: Path, exact: bool = True) -> Fleet:
    """``n`` clients at once. ``exact``: each is ``curl URL | cmp - BLOB``, so every byte of every
    download is compared with the file (a short, long or wrong body fails the round); else each is
    ``curl -o /dev/null`` and only its size and status are checked (the server's throughput with
    the lightest clients).

    Each client's own time is curl's ``time_total`` (connect to last byte)."""
    size = blob.stat().st_size
    pairs: list[tuple[subprocess.Popen[str], subprocess.Popen[bytes] | None]] = []
    start = time.monotonic()
    for _ in range(n):
        out = [] if exact else ["-o", "/dev/null"]
        get = subprocess.Popen(
            ["curl", "-s", *out, "-w", "%{stderr}%{time_total} %{size_download} %{http_code}", url],
            stdout=subprocess.PIPE if exact else None, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        cmp = None
        if exact:
            cmp = subprocess.Popen(["cmp", "-s", "-", str(blob)], stdin=get.stdout)
            assert get.stdout is not None
            get.stdout.close()
        pairs.append((get, cmp))
    times, bad = [], []
    for get, cmp in pairs:
        err = get.communicate()[1].split()
        same = cmp is None or cmp.wait() == 0
        if get.returncode != 0 or err[1:] != [str(size), "200"] or not same:
            bad.append(f"curl exit {get.returncode}, {err}, bytes {'equal' if same else 'DIFFER'}")
        else:
            times.append(float(err[0]))
    wall = time.monotonic() - start
    if bad:
        raise RuntimeError(f"{len(bad)} of {n} clients did not get the exact file: {bad[:3]}")
    return Fleet(wall, times)


def fleet_table(fleets: dict[str, list[Fleet]], n: int, mb: float) -> None:
    print("| server | round best s (median) | aggregate MB/s best (median) | client median s | "
          "slowest client s | slowest / median (worst round) |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- |")
    for name, fl in fleets.items():
        walls = [f.wall for f in fl]
        lo, med = min(walls), statistics.median(walls)
        clients = statistics.median(c for f in fl for c in f.clients)
        slowest = max(max(f.clients) for f in fl)
        spread = max(f.spread for f in fl)
        rate = f"{n * mb / lo:.0f} ({n * mb / med:.0f})"
        print(f"| {name} | {lo:.2f} ({med:.2f}) | {rate} | {clients:.2f} | {slowest:.2f} | {spread:.2f} |")


def ratios(fleets: dict[str, list[Fleet]]) -> tuple[float, float, float]:
    """hfcache's aggregate throughput / nginx's (best, median), and the worst slowest/median of hfcache."""
    best = min(f.wall for f in fleets["nginx"]) / min(f.wall for f in fleets["hfcache"])
    median = statistics.median(f.wall for f in fleets["nginx"]) / statistics.median(
        f.wall for f in fleets["hfcache"]
    )
    spread = max(f.spread for name in ("hfcache", "hfcache /v2/") for f in fleets[name])
    return best, median, spread


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
    p.add_argument("--rounds", type=int, default=3, help="rounds of the concurrent clients, interleaved")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = p.parse_args()
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    print(f"load average: {os.getloadavg()} (the clients of the concurrent rounds add their own)")
    root = Path(tempfile.mkdtemp(prefix="hfcache-bench-serve-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        blob, sha = make_cache(root, args.mib)
        fresh, _ = make_cache(root, args.mib, "fresh.safetensors")  # never read before the first-reads test
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
        n = args.clients
        exact: dict[str, list[Fleet]] = {name: [] for name, _ in contenders}
        light: dict[str, list[Fleet]] = {name: [] for name, _ in contenders}
        for _ in range(args.rounds):  # interleaved, round after round
            for name, url in contenders:
                exact[name].append(concurrent(url, n, blob))
                light[name].append(concurrent(url, n, blob, exact=False))
        # The worst case for memory and CPU: every client asks for a file never verified before.
        subprocess.run(["cat", str(fresh)], stdout=subprocess.DEVNULL, check=True)  # page cache only
        unread = ours.replace("model.safetensors", "fresh.safetensors")
        exact[f"hfcache, {n} first reads of an unverified file"] = [concurrent(unread, n, fresh)]
        print(f"\n{n} concurrent clients, {args.rounds} rounds, each client `curl | cmp` (every byte "
              f"compared with the file): all exact")  # fmt: skip
        fleet_table(exact, n, mb)
        fleet_best, fleet_median, spread = ratios(exact)
        print(f"hfcache aggregate throughput / nginx: best {fleet_best:.2f}x, median {fleet_median:.2f}x "
              f"(target >= 0.9); slowest client / median: {spread:.2f} (target <= 3)")  # fmt: skip
        print("\nthe same, each client `curl -o /dev/null` (size and status checked)")
        fleet_table(light, n, mb)
        light_best, light_median, light_spread = ratios(light)
        print(f"hfcache aggregate throughput / nginx: best {light_best:.2f}x, median {light_median:.2f}x "
              f"(target >= 0.9); slowest client / median: {light_spread:.2f} (target <= 3)")  # fmt: skip
        ok = idle_connections(hport, args.connections, ours)
        verdict = "succeeded" if ok else "FAILED"
        print(f"{args.connections} idle connections held open: a further request {verdict}")
        rss = vmhwm(serve.pid)
        print(f"hfcache serve peak RSS (VmHWM): {rss:.1f} MiB (target < 150)")
        print(f"load average at the end: {os.getloadavg()}")
        missed = best < 0.8 or v2_median < 0.9 or not ok or rss >= 150
        missed = missed or min(fleet_median, light_median) < 0.9 or max(spread, light_spread) > 3
        return 1 if args.check and missed else 0
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
