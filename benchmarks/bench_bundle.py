"""``hfcache pack`` against ``tar -cf`` and ``hfcache unpack`` against ``tar -xf``, in one run.

Same cache, same machine, page cache warm (inputs are re-read before every run: this VM evicts
page cache within seconds). Each command is a whole process, start-up included; contenders
take turns, round after round, and outputs are deleted and ``sync``-ed between runs. pack hashes
every byte while it streams and fsyncs the bundle; unpack checks every member, verifies every
blob before installing it and fsyncs what it installed. ``tar`` does neither, so the baselines
are given twice: ``tar`` alone, and ``tar`` followed by ``sync`` (the same durability). Peak RSS
of each hfcache command is read from a tiny launcher.

    python benchmarks/bench_bundle.py --total-gb 2 --big 4 --small 2000 --repeat 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_doctor_verify import build

_LAUNCHER = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if r.returncode == 0 else -1)"
)


def warm(paths: list[Path]) -> None:
    """Read every file under ``paths`` so that each run starts from a warm page cache."""
    for top in paths:
        files = [top] if top.is_file() else [p for p in top.rglob("*") if p.is_file() and not p.is_symlink()]
        for f in files:
            with open(f, "rb", buffering=0) as fh:
                while fh.read(1 << 20):
                    pass


def clean(outputs: list[Path]) -> None:
    for p in outputs:
        if p.is_dir():
            shutil.rmtree(p)
        for q in p.parent.glob(p.name + "*"):
            q.unlink()
    subprocess.run(["sync"], check=True)


def rounds(
    contenders: dict[str, str], inputs: list[Path], outputs: list[Path], repeat: int
) -> dict[str, list[float]]:
    """Wall times of each shell command, contenders interleaved within each round."""
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(repeat):
        for label, cmd in contenders.items():
            clean(outputs)
            warm(inputs)
            start = time.perf_counter()
            subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[label].append(time.perf_counter() - start)
    clean(outputs)
    return times


def report(title: str, times: dict[str, list[float]], ours: str) -> None:
    print(f"\n## {title}\n")
    print(f"| command | best s | median s | {ours} / it (best) | (median) |")
    print("| --- | --- | --- | --- | --- |")
    mine = times[ours]
    for label, ts in times.items():
        best, med = min(ts), statistics.median(ts)
        ratios = f"{min(mine) / best:.3f} | {statistics.median(mine) / med:.3f}"
        print(f"| {label} | {best:.2f} | {med:.2f} | {ratios} |")


def peak_rss_mib(cmd: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, "sh", "-c", cmd], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--total-gb", type=float, default=2.0)
    parser.add_argument("--big", type=int, default=4)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", default=None, help="work folder (default: the system temp folder)")
    args = parser.parse_args()
    hf = f"{sys.executable} -m hfcache"
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        cache = root / "hub"
        build(cache, int(args.total_gb * 1e9), args.big, args.small)
        folder = next(p.name for p in cache.iterdir() if p.name.startswith("models--"))
        bundle, theirs, x_tar, x_ours = root / "b.tar", root / "t.tar", root / "x-tar", root / "x-ours"
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "hfcache", "--help"], check=True, capture_output=True)
        print(
            f"data: {args.total_gb} GB in {args.big} big + {args.small} small blobs; "
            f"`hfcache --help` (start-up) {time.perf_counter() - t:.2f} s; load {os.getloadavg()[0]:.2f}"
        )
        pack = f"{hf} pack bench/verify --cache-dir {cache} --revision {'b' * 40} -o {bundle}"
        pack_times = rounds(
            {
                "tar -cf": f"tar -cf {theirs} -C {cache} {folder}",
                "tar -cf && sync": f"tar -cf {theirs} -C {cache} {folder} && sync",
                "hfcache pack": pack,
            },
            [cache / folder],
            [bundle, theirs],
            args.repeat,
        )
        report("pack", pack_times, "hfcache pack")
        subprocess.run(pack, shell=True, check=True, capture_output=True)
        print(f"\nbundle: {bundle.stat().st_size / 1e9:.2f} GB")
        unpack = f"{hf} unpack {bundle} --cache-dir {x_ours}"
        untar = f"mkdir {x_tar} && tar -xf {bundle} -C {x_tar}"
        unpack_times = rounds(
            {"tar -xf": untar, "tar -xf && sync": f"{untar} && sync", "hfcache unpack": unpack},
            [bundle],
            [x_tar, x_ours],
            args.repeat,
        )
        report("unpack (with verification)", unpack_times, "hfcache unpack")
        clean([x_ours])
        print(f"\npeak RSS unpack: {peak_rss_mib(unpack):.1f} MiB")
        bundle.unlink()
        print(f"peak RSS pack  : {peak_rss_mib(pack):.1f} MiB")


if __name__ == "__main__":
    main()
