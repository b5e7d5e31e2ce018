"""``hfcache pack`` against ``tar -cf`` and ``hfcache unpack`` against ``tar -xf``, in one run.

Same cache, same machine, page cache warm; each command is a whole process (start-up included).
pack hashes every byte while it streams; unpack checks every member and verifies every blob
before installing anything. Peak RSS of each hfcache command is read from a tiny launcher.

    python benchmarks/bench_bundle.py --total-gb 3 --big 4 --small 2000
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


def timed(cmd: list[str], before: list[Path], repeat: int) -> tuple[float, float]:
    """Best and median wall time; ``before`` paths are removed before each run."""
    times = []
    for _ in range(repeat):
        for p in before:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        subprocess.run(["sync"], check=True)
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def peak_rss_mib(cmd: list[str]) -> float:
    out = subprocess.run([sys.executable, "-c", _LAUNCHER, *cmd], capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total-gb", type=float, default=3.0)
    parser.add_argument("--big", type=int, default=4)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()}")
    hf = [sys.executable, "-m", "hfcache"]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        cache = root / "hub"
        build(cache, int(args.total_gb * 1e9), args.big, args.small)
        folder = next(p.name for p in cache.iterdir() if p.name.startswith("models--"))
        repo_id = "bench/verify"
        subprocess.run(["tar", "-cf", "/dev/null", "-C", str(cache), folder], check=True)  # warm
        ours_tar, their_tar = root / "ours.tar", root / "theirs.tar"
        t_pack = timed(["tar", "-cf", str(their_tar), "-C", str(cache), folder], [their_tar], args.repeat)
        pack_cmd = [
            *hf,
            "pack",
            repo_id,
            "--cache-dir",
            str(cache),
            "-o",
            str(ours_tar),
            "--revision",
            "b" * 40,
        ]
        o_pack = timed(pack_cmd, [ours_tar], args.repeat)
        size = ours_tar.stat().st_size / 1e9
        print(f"bundle: {size:.2f} GB ({their_tar.stat().st_size / 1e9:.2f} GB by tar -cf)")
        print(f"tar -cf       : best {t_pack[0]:.2f} s, median {t_pack[1]:.2f} s")
        print(f"hfcache pack  : best {o_pack[0]:.2f} s, median {o_pack[1]:.2f} s")
        print(f"pack ratio    : {o_pack[0] / t_pack[0]:.3f} (best), {o_pack[1] / t_pack[1]:.3f} (median)")
        out_t, out_o = root / "x-tar", root / "x-ours"
        out_t.mkdir()
        t_un = timed(["tar", "-xf", str(ours_tar), "-C", str(out_t)], [], args.repeat)
        o_un = timed([*hf, "unpack", str(ours_tar), "--cache-dir", str(out_o)], [out_o], args.repeat)
        print(f"tar -xf       : best {t_un[0]:.2f} s, median {t_un[1]:.2f} s")
        print(f"hfcache unpack: best {o_un[0]:.2f} s, median {o_un[1]:.2f} s")
        print(f"unpack ratio  : {o_un[0] / t_un[0]:.3f} (best), {o_un[1] / t_un[1]:.3f} (median)")
        ours_tar.unlink()
        print(f"peak RSS pack  : {peak_rss_mib(pack_cmd):.1f} MiB")  # writes the bundle again
        shutil.rmtree(out_o, ignore_errors=True)
        unpack_cmd = [*hf, "unpack", str(ours_tar), "--cache-dir", str(out_o)]
        print(f"peak RSS unpack: {peak_rss_mib(unpack_cmd):.1f} MiB")


if __name__ == "__main__":
    main()
