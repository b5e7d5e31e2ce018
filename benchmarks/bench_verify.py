"""Benchmark hfcache's hashing engine against ``sha256sum`` on the same, page-cached files.

``doctor --verify`` must hash a whole cache; the project's target is that
``hfcache.fs.hashing.hash_files`` (sha256) takes at most 0.35x the time of ``sha256sum`` over the
same files on the 2-core dev machine. This script generates a cache-like mix of files (a few
big ones of several hundred MB, many small ones), warms the page cache, then times both in
one run, checks they agree, and measures our peak RSS in child processes: over the full set
and over one small and one large file alone, to show that memory does not grow with file size.

    python benchmarks/bench_verify.py --total-gb 3 --files 2000

See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MiB = 1 << 20

# Runs in a child interpreter, so that its peak RSS (VmHWM) is ours alone.
CHILD = r"""
import json, os, sys, time
from hfcache.fs.hashing import Algo, HashJob, hash_files

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0

paths = json.loads(sys.stdin.read())
jobs = [HashJob(p, frozenset({Algo.SHA256}), os.path.getsize(p)) for p in paths]
base = status("VmRSS")
t = time.perf_counter()
digests = {r.job.path: r.digests.get(Algo.SHA256, r.error) for r in hash_files(jobs)}
elapsed = time.perf_counter() - t
print(json.dumps({"elapsed": elapsed, "hwm": status("VmHWM"), "base_rss": base, "digests": digests}))
"""


def make_files(root: Path, total: int, n_big: int, n_small: int, small_share: float) -> list[Path]:
    """Write ``n_big`` big files (sizes 1:2:...:n) and ``n_small`` small ones, ~``total`` bytes."""
    small_total = int(total * small_share) if n_small else 0
    weights = range(1, n_big + 1)
    big_sizes = [(total - small_total) * w // sum(weights) for w in weights]
    small_sizes = [small_total * 2 * (i + 1) // (n_small * (n_small + 1)) for i in range(n_small)]
    block = os.urandom(64 * MiB)  # random, so nothing compresses or dedups
    paths = []
    for i, size in enumerate(big_sizes + small_sizes):
        path = root / f"blob{i:05d}"
        with open(path, "wb") as f:
            f.write(b"%d\n" % i)  # distinct contents
            left = size - f.tell()
            while left > 0:
                off = (i * 4099) % MiB
                chunk = block[off : off + min(left, len(block) - off)]
                f.write(chunk)
                left -= len(chunk)
        paths.append(path)
    return paths


def warm(paths: list[Path]) -> None:
    """Read every file once so that both contenders hash from the page cache, not the disk."""
    buf = bytearray(8 * MiB)
    for p in paths:
        with open(p, "rb", buffering=0) as f:
            while f.readinto(buf):
                pass


def run_sha256sum(groups: list[list[Path]], work: Path) -> tuple[float, dict[str, str]]:
    """Time one ``sha256sum`` per group, all at once; lists and outputs go through files."""
    lists, outs = (
        [work / f"list{i}" for i in range(len(groups))],
        [work / f"out{i}" for i in range(len(groups))],
    )
    for lst, group in zip(lists, groups, strict=True):
        lst.write_bytes(b"\0".join(str(f).encode() for f in group))
    t = time.perf_counter()
    procs = []
    for lst, out in zip(lists, outs, strict=True):
        with open(out, "wb") as f:
            procs.append(subprocess.Popen(["xargs", "-0", "-a", str(lst), "sha256sum", "--"], stdout=f))
    if any(p.wait() for p in procs):
        raise RuntimeError("sha256sum failed")
    elapsed = time.perf_counter() - t
    digests = {}
    for out in outs:
        for line in out.read_text().splitlines():
            digest, _, name = line.partition("  ")
            digests[name] = digest
    return elapsed, digests


def balanced(paths: list[Path], sizes: list[int], n: int) -> list[list[Path]]:
    """Split into ``n`` groups of about equal bytes (biggest first to the lightest group)."""
    groups: list[list[Path]] = [[] for _ in range(n)]
    load = [0] * n
    for size, path in sorted(zip(sizes, paths, strict=True), reverse=True):
        k = load.index(min(load))
        groups[k].append(path)
        load[k] += size
    return [g for g in groups if g]


def run_ours(paths: list[Path]) -> tuple[float, float, dict[str, Any]]:
    """Run our engine in a child; return (wall time incl. interpreter start, hashing time, stats)."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=json.dumps([str(p) for p in paths]).encode(),
        capture_output=True,
        check=True,
        env=env,
    )
    wall = time.perf_counter() - t
    stats = json.loads(proc.stdout)
    return wall, float(stats["elapsed"]), stats


def sha256sum_info() -> str:
    exe = shutil.which("sha256sum")
    if exe is None:
        sys.exit("sha256sum not found on PATH")
    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    libs = subprocess.run(["ldd", exe], capture_output=True, text=True).stdout if shutil.which("ldd") else ""
    crypto = "linked to libcrypto" if "libcrypto" in libs else "no libcrypto: its own C sha256, no SHA-NI"
    return f"{version} ({crypto})"


def cpu_info() -> str:
    flags = ""
    if os.path.exists("/proc/cpuinfo"):
        flags = Path("/proc/cpuinfo").read_text()
    shani = "sha_ni" in flags.split()
    return f"{os.cpu_count()} CPUs, {platform.machine()}, SHA-NI {'yes' if shani else 'no'}"


def load() -> str:
    """The 1-minute load average: anything else running skews every figure."""
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "?"


def fmt_rate(nbytes: int, seconds: float) -> str:
    return f"{nbytes / seconds / 1e9:6.2f} GB/s"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--total-gb", type=float, default=3.0, help="total size of the generated files (GB)")
    ap.add_argument("--big", type=int, default=4, help="number of big files (sizes in ratio 1:2:...:N)")
    ap.add_argument("--files", type=int, default=2000, help="number of small files")
    ap.add_argument("--small-share", type=float, default=0.1, help="fraction of the bytes in small files")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each contender")
    ap.add_argument("--dir", type=Path, default=None, help="where to generate (default: a temp dir in /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    ap.add_argument("--target", type=float, default=0.35, help="ratio ours/sha256sum to meet")
    ap.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    args = ap.parse_args()

    load0 = load()  # taken first: later it counts this script's own work
    root = Path(tempfile.mkdtemp(prefix="hfcache-bench-", dir=args.dir or "/tmp"))
    try:
        total = int(args.total_gb * 1e9)
        t = time.perf_counter()
        paths = make_files(root, total, args.big, args.files, args.small_share)
        sizes = [p.stat().st_size for p in paths]
        nbytes = sum(sizes)
        print(
            f"generated {len(paths)} files, {nbytes / 1e9:.2f} GB in {root} ({time.perf_counter() - t:.1f}s)"
        )
        big = sorted(sizes[: args.big])
        print(f"  big: {', '.join(f'{s / MiB:.0f} MiB' for s in big)}; small: {args.files} files")
        print(f"sha256sum: {sha256sum_info()}")
        print(f"machine: {cpu_info()}; python {platform.python_version()}; load before start {load0}")
        warm(paths)
        work = Path(tempfile.mkdtemp(prefix="work-", dir=root))

        ncpu = os.cpu_count() or 1
        par = f"{ncpu} x sha256sum, bytes pre-balanced"
        groups = balanced(paths, sizes, ncpu)
        times: dict[str, list[float]] = {"sha256sum": [], par: []}
        ours_wall: list[float] = []
        ours_inner: list[float] = []
        hwm_full = 0
        for _ in range(args.repeat):  # interleaved, so drift in machine load hits all alike
            elapsed, ref = run_sha256sum([paths], work)
            times["sha256sum"].append(elapsed)
            times[par].append(run_sha256sum(groups, work)[0])
            wall, inner, stats = run_ours(paths)
            ours_wall.append(wall)
            ours_inner.append(inner)
            hwm_full = max(hwm_full, int(stats["hwm"]))
            if stats["digests"] != ref:
                print("MISMATCH: hfcache digests differ from sha256sum's", file=sys.stderr)
                return 2
        times["hfcache hash_files"] = ours_wall
        times["hfcache hash_files (hashing only)"] = ours_inner

        print(f"\n{'contender':36} {'best':>8} {'median':>8} {'throughput':>12}")
        for name, ts in times.items():
            best, med = min(ts), statistics.median(ts)
            print(f"{name:36} {best:7.3f}s {med:7.3f}s {fmt_rate(nbytes, best):>12}")
        ratio_best = min(ours_wall) / min(times["sha256sum"])
        ratio_med = statistics.median(ours_wall) / statistics.median(times["sha256sum"])
        verdict = "meets" if ratio_best <= args.target else "MISSES"
        print(f"\nratio ours/sha256sum: {ratio_best:.3f} (best), {ratio_med:.3f} (median)")
        print(f"  {verdict} the target of <= {args.target} (ours timed with interpreter start-up)")

        small_big, large_big = (big[0], big[-1]) if big else (0, 0)
        print("\npeak RSS of our child process (VmHWM):")
        print(f"  full set ({nbytes / 1e9:.2f} GB, {len(paths)} files): {hwm_full / MiB:6.1f} MiB")
        for size in dict.fromkeys((small_big, large_big)):
            path = paths[sizes.index(size)]
            _, _, stats = run_ours([path])
            hwm, base = int(stats["hwm"]), int(stats["base_rss"])
            print(f"  one file of {size / MiB:6.0f} MiB: {hwm / MiB:6.1f} MiB (at start {base / MiB:.1f})")
        return 1 if args.check and ratio_best > args.target else 0
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
