"""Structural check of a large cache: ``hfcache`` doctor (no hashing) against huggingface_hub's
``scan_cache_dir`` on the same cache, in one run.

The cache is synthetic but has the exact layout huggingface_hub writes: per repo, blobs named
by git sha1 or sha256, relative snapshot links (nested paths too), ``refs/main`` and a
``trees/<commit>.json`` listing. Once built and found clean by both tools, one snapshot link is
broken (it names a blob that is not there), and every timed run must show it did the real work:
the doctor reports that link as ``link-missing-blob``, ``scan_cache_dir`` warns about that repo.
The check is made on each timed run's own result, inside the timing, for both tools.

The two tools take turns (one run of each per round), so a change in the machine's load during
the benchmark weighs on both alike; best and median of the rounds are printed, with the load
average before and after. The results of the first, untimed runs are dropped before the timed
ones, so neither tool's garbage collector walks them, and each timed run starts from the same
state of the collector (a full pass first, untimed). Usage::

    python benchmarks/bench_scan.py --files 20000 --repos 400 --runs 7
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import huggingface_hub
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


def break_one_link(root: Path, n_repos: int) -> tuple[str, str]:
    """Make one snapshot link (in the middle repo) name a blob that is not there, as a copy that
    lost a blob leaves it; its path and repo folder, for the checks of every timed run."""
    folder = root / f"models--bench--repo{n_repos // 2:04d}"
    commit = hashlib.sha1(f"commit{n_repos // 2}".encode()).hexdigest()
    entry = folder / "snapshots" / commit / "dir1" / "file1.json"
    target = os.readlink(entry)
    os.unlink(entry)
    os.symlink(target[: -len("0" * 40)] + "0" * 40, entry)  # the same link, to a blob id not cached
    return str(entry), folder.name


def timed(fn: Callable[[], object], check: Callable[[object], bool]) -> float:
    """One run: the call, the check that it did the real work, and dropping its result, timed.

    Each starts from the same state of the garbage collector (a full pass first, not timed), so
    no run inherits a pass the other tool's run made due, nor is spared one by it."""
    gc.collect()
    start = time.perf_counter()
    result = fn()
    ok = check(result)
    del result
    elapsed = time.perf_counter() - start
    assert ok, "a timed run did not report the broken link"
    return elapsed


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--repos", type=int, default=400)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--dir", default=None, help="where to build the cache (default: a temp dir)")
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}, "
        f"huggingface_hub {huggingface_hub.__version__}"
    )
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp) / "hub"
        root.mkdir()
        build(root, args.files, args.repos)
        hf = scan_cache_dir(root)
        assert not hf.warnings, hf.warnings[:3]
        report = diagnose(root)
        assert not report.problems, report.problems[:3]
        print(f"cache: {report.summary.files} files in {report.summary.repos} repos ({root})")
        # Neither tool's timed runs should carry another run's objects along (a user's process does
        # not): each would make every full pass of the garbage collector longer.
        del hf, report
        broken, folder = break_one_link(root, args.repos)
        first = [(f.code, f.path) for f in diagnose(root).findings]
        assert ("link-missing-blob", broken) in first, first
        print(f"findings: {', '.join(code for code, _ in first)}")

        def doctor_found(r: object) -> bool:
            return [(f.code, f.path) for f in r.findings] == first  # type: ignore[attr-defined]

        def hf_found(r: object) -> bool:
            warnings = r.warnings  # type: ignore[attr-defined]
            return len(warnings) == 1 and folder in str(warnings[0])

        timed(lambda: scan_cache_dir(root), hf_found)  # warm the dentry cache for both
        timed(lambda: diagnose(root), doctor_found)
        print(f"load average before: {loadavg()}")
        hf_times, us_times = [], []
        for _ in range(args.runs):  # one run of each per round: a change in load weighs on both
            hf_times.append(timed(lambda: scan_cache_dir(root), hf_found))
            us_times.append(timed(lambda: diagnose(root), doctor_found))
        print(f"load average after : {loadavg()}")
        hf_best, hf_med = min(hf_times), statistics.median(hf_times)
        us_best, us_med = min(us_times), statistics.median(us_times)
        print(f"scan_cache_dir : best {hf_best:.3f} s, median {hf_med:.3f} s ({args.runs} runs)")
        print(f"hfcache doctor : best {us_best:.3f} s, median {us_med:.3f} s ({args.runs} runs)")
        print(f"every timed run: doctor reported link-missing-blob at {broken}")
        print(f"                 scan_cache_dir warned about {folder}")
        print(
            f"ratio hfcache/scan_cache_dir: {us_best / hf_best:.2f}x (best), {us_med / hf_med:.2f}x (median)"
        )


if __name__ == "__main__":
    main()
