"""End to end: ``hfcache doctor CACHE --verify`` against ``sha256sum`` over the same blobs, in one run.

Where ``bench_verify.py`` times the hashing engine alone, this times the whole command a user
runs (interpreter start-up, scan, checks, hashing, JSON output) on a cache laid out exactly as
huggingface_hub writes it: LFS blobs named by sha256, small files by git sha1, relative
snapshot links and a tree listing. It also reports the command's peak RSS, for two sizes of
the biggest file, to show memory does not grow with file size.

    python benchmarks/bench_doctor_verify.py --total-gb 3 --big 4 --small 2000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CHUNK = 8 * 1024 * 1024


def _random_file(path: Path, size: int) -> str:
    """Write ``size`` random bytes, returning their sha256."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(_CHUNK, left))
            h.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    return h.hexdigest()


def build(root: Path, total: int, n_big: int, n_small: int) -> list[Path]:
    """One repo whose big files are LFS (sha256 names) and small ones regular (git sha1 names)."""
    folder = root / "models--bench--verify"
    commit = "b" * 40
    blobs, snap = folder / "blobs", folder / "snapshots" / commit
    for d in (blobs, snap, folder / "refs", folder / "trees"):
        d.mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    small_size = max(1, total // 10 // max(1, n_small))
    weights = list(range(1, n_big + 1))
    listing: dict[str, dict[str, object]] = {}
    paths = []
    for i, w in enumerate(weights):
        size = (total - small_size * n_small) * w // sum(weights)
        tmp = blobs / f"tmp{i}"
        etag = _random_file(tmp, size)
        tmp.rename(blobs / etag)
        listing[f"model-{i:05d}.bin"] = {
            "size": size,
            "blob_id": "0" * 40,
            "lfs_sha256": etag,
            "lfs_size": size,
        }
    for i in range(n_small):
        data = os.urandom(small_size)
        etag = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        (blobs / etag).write_bytes(data)
        listing[f"small/file{i}.json"] = {"size": len(data), "blob_id": etag}
    for name, info in listing.items():
        etag = str(info.get("lfs_sha256") or info["blob_id"])
        entry = snap / name
        entry.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(blobs / etag, entry.parent), entry)
        paths.append(blobs / etag)
    (folder / "trees" / f"{commit}.json").write_text(json.dumps({"format_version": 1, "files": listing}))
    return paths


def timed(cmd: list[str], repeat: int, stdin_text: str | None = None) -> tuple[float, float, str]:
    """Best and median wall time of ``cmd`` over ``repeat`` runs, and its last stdout."""
    times, out = [], ""
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(
            cmd, input=stdin_text.encode() if stdin_text else None, capture_output=True, check=False
        )
        times.append(time.perf_counter() - start)
        out = done.stdout.decode()
    return min(times), statistics.median(times), out


_LAUNCHER = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], capture_output=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def peak_rss(cache: Path) -> int:
    """Peak RSS of `hfcache doctor --verify` in KiB.

    Measured from a tiny launcher process: a child's high-water mark includes the memory of
    the process it was forked from, and this script holds far more than the launcher does.
    """
    cmd = [sys.executable, "-m", "hfcache", "doctor", str(cache), "--verify", "--rehash", "--json"]
    out = subprocess.run([sys.executable, "-c", _LAUNCHER, *cmd], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total-gb", type=float, default=3.0)
    parser.add_argument("--big", type=int, default=4)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()}")
    print(subprocess.run(["sha256sum", "--version"], capture_output=True, text=True).stdout.splitlines()[0])
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        os.environ["HFCACHE_STATE_DIR"] = str(Path(tmp) / "state")  # the digest record, private to this run
        cache = Path(tmp) / "hub"
        blobs = build(cache, int(args.total_gb * 1e9), args.big, args.small)
        listing = "\0".join(map(str, blobs))
        subprocess.run(
            ["cat", *map(str, blobs)], stdout=subprocess.DEVNULL, check=True
        )  # warm the page cache
        sha = ["xargs", "-0", "sha256sum"]
        # --rehash: every run hashes every byte, as sha256sum does (no digests kept from a run before).
        ours = [sys.executable, "-m", "hfcache", "doctor", str(cache), "--verify", "--rehash", "--json"]
        s_best, s_med, _ = timed(sha, args.repeat, listing)
        o_best, o_med, out = timed(ours, args.repeat)
        again = [sys.executable, "-m", "hfcache", "doctor", str(cache), "--verify", "--json"]
        timed(again, 1)  # records every digest
        r_best, r_med, r_out = timed(again, args.repeat)
        reused = json.loads(r_out)["summary"]
        doc = json.loads(out)
        assert doc["summary"]["errors"] == 0 and doc["summary"]["bytes_hashed"] > 0, doc["summary"]
        gb = doc["summary"]["bytes_hashed"] / 1e9
        print(f"cache: {len(blobs)} blobs, {gb:.2f} GB")
        print(f"sha256sum            : best {s_best:.2f} s, median {s_med:.2f} s ({gb / s_best:.2f} GB/s)")
        print(f"hfcache doctor --verify: best {o_best:.2f} s, median {o_med:.2f} s ({gb / o_best:.2f} GB/s)")
        print(f"ratio ours/sha256sum : {o_best / s_best:.3f} (best), {o_med / s_med:.3f} (median)")
        print(
            f"re-verify, nothing changed: best {r_best:.2f} s, median {r_med:.2f} s "
            f"({reused['bytes_reused'] / 1e9:.2f} GB not hashed again, {reused['bytes_hashed']} B hashed)"
        )
        print(f"peak RSS of hfcache doctor --verify: {peak_rss(cache) / 1024:.1f} MiB")
    # Memory must not grow with file size: one small and one 4x bigger file alone.
    for size in (256 * 2**20, 1024 * 2**20):
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            cache = Path(tmp) / "hub"
            build(cache, size, 1, 1)
            print(f"peak RSS, one {size >> 20} MiB blob: {peak_rss(cache) / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
