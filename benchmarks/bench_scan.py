"""Structural check of a large cache: ``hfcache`` doctor (no hashing) against huggingface_hub's
``scan_cache_dir`` on the same cache, in one run.

The cache is synthetic but has the exact layout huggingface_hub writes: per repo, blobs named
by git sha1 or sha256, relative snapshot links (nested paths too), ``refs/main`` and a
``trees/<commit>.json`` listing. Usage::

    python benchmarks/bench_scan.py --files 20000 --repos 100
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from huggingface_hub import scan_cache_dir

from hfcache.doctor import diagnose


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def build(root: Path, n_files: int, n_repos: int) -> None:
    """``n_files`` snapshot files spread over ``n_repos`` repos, one revision each."""
    per_repo = max(1, n_files // n_repos)
    for r in range(n_repos):
        folder = root / f"models--bench--repo{r:04d}"
        commit = hashlib.sha1(f"commit{r}".encode()).hexdigest()
        snap = folder / "snapshots" / commit
        (folder / "blobs").mkdir(parents=True)
        (folder / "refs").mkdir()
        (folder / "trees").mkdir()
        (folder / "refs" / "main").write_text(commit)
        listing: dict[str, dict[str, object]] = {}
        for i in range(per_repo):
            name = f"dir{i % 7}/file{i}.json" if i % 3 else f"file{i}.json"
            data = f"{r}-{i}".encode() * 8
            lfs = i % 10 == 0
            etag = hashlib.sha256(data).hexdigest() if lfs else git_sha1(data)
            (folder / "blobs" / etag).write_bytes(data)
            entry = snap / name
            entry.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.path.relpath(folder / "blobs" / etag, entry.parent), entry)
            info: dict[str, object] = {"size": len(data), "blob_id": git_sha1(data)}
            if lfs:
                info.update(lfs_sha256=etag, lfs_size=len(data))
            listing[name] = info
        tree = {"format_version": 1, "files": listing}
        (folder / "trees" / f"{commit}.json").write_text(json.dumps(tree))


def best_of(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--repos", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where to build the cache (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp) / "hub"
        root.mkdir()
        build(root, args.files, args.repos)
        hf = scan_cache_dir(root)
        assert not hf.warnings, hf.warnings[:3]
        report = diagnose(root)
        assert not report.problems, report.problems[:3]
        print(f"cache: {report.summary.files} files in {report.summary.repos} repos ({root})")
        scan_cache_dir(root)  # warm the dentry cache for both
        hf_best, hf_med = best_of(lambda: scan_cache_dir(root), args.runs)
        us_best, us_med = best_of(lambda: diagnose(root), args.runs)
        print(f"scan_cache_dir : best {hf_best:.3f} s, median {hf_med:.3f} s")
        print(f"hfcache doctor : best {us_best:.3f} s, median {us_med:.3f} s")
        print(
            f"ratio hfcache/scan_cache_dir: {us_best / hf_best:.2f}x (best), {us_med / hf_med:.2f}x (median)"
        )


if __name__ == "__main__":
    main()
