"""``hfcache pack`` against ``tar -cf`` and ``hfcache unpack`` against ``tar -xf``, in one run.

Same cache, same machine. Each command is a whole process, start-up included; contenders
take turns, round after round, and outputs are deleted and ``sync``-ed between runs. pack
hashes every byte while it streams and fsyncs the bundle; unpack checks every member, verifies
every blob before installing it and makes what it installed durable. ``tar`` does neither, so
the baselines are given twice: ``tar`` alone, and ``tar`` followed by ``sync`` (the same
durability); ``hfcache ... (no sync)`` (fsync and syncfs made no-ops, information only) shows
what durability costs hfcache itself.

Page cache: ``--cache warm`` (default) re-reads every input before each run; ``--cache cold``
drops it before each run, for every contender alike: ``sync`` then ``/proc/sys/vm/drop_caches``
where writing it works (root, not in every container), else ``posix_fadvise(DONTNEED)`` on every
input file (``--drop fadvise`` forces that: it leaves other processes' cache alone, but not
the folders' and inodes' cache).

Honesty (each checked with the very commands timed, before timing): a byte flipped in a big
and in a small blob of the cache makes pack fail and leave no bundle; a byte flipped in a big
and in a small blob of the bundle makes unpack fail and install nothing. After each timed run
the output is checked (bundle size; every blob installed with its size), and after the last
one every installed byte is hashed against its name. Peak RSS of each command comes from a
tiny launcher.

    python benchmarks/bench_bundle.py --total-gb 0.84 --big 4 --small 200 --repeat 5
    python benchmarks/bench_bundle.py --total-gb 0.84 --big 4 --small 200 --repeat 5 --cache cold
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench_doctor_verify import build

COMMIT = "b" * 40
_LAUNCHER = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if r.returncode == 0 else -1)"
)
# hfcache with every fsync and syncfs a no-op: what durability costs hfcache (information only).
_NO_SYNC = (
    "import os, sys; os.fsync = lambda fd: None; "
    "import hfcache.fs.writeback as w; w.sync_filesystem = lambda path: True; "
    "import hfcache.bundle.install as i; i.sync_filesystem = w.sync_filesystem; "
    "from hfcache.cli import main; sys.argv[0] = 'hfcache'; main()"
)
DROP_CACHES = "/proc/sys/vm/drop_caches"


def files_under(paths: list[Path]) -> list[Path]:
    out = []
    for top in paths:
        out += [top] if top.is_file() else [p for p in top.rglob("*") if p.is_file() and not p.is_symlink()]
    return out


def warm(paths: list[Path]) -> None:
    """Read every file under ``paths`` so that each run starts from a warm page cache."""
    for f in files_under(paths):
        with open(f, "rb", buffering=0) as fh:
            while fh.read(1 << 20):
                pass


def can_drop_caches() -> bool:
    try:
        with open(DROP_CACHES, "w") as f:
            f.write("1")
        return True
    except OSError:
        return False


def cold(paths: list[Path], how: str) -> None:
    """Drop the page cache of ``paths`` (after writing back what is dirty)."""
    subprocess.run(["sync"], check=True)
    if how == "drop_caches":
        with open(DROP_CACHES, "w") as f:
            f.write("3")
        return
    for p in files_under(paths):
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def clean(outputs: list[Path]) -> None:
    for p in outputs:
        if p.is_dir():
            shutil.rmtree(p)
        for q in p.parent.glob(p.name + "*"):
            q.unlink()
    subprocess.run(["sync"], check=True)


def rounds(
    contenders: dict[str, str],
    inputs: list[Path],
    outputs: list[Path],
    repeat: int,
    prepare: Callable[[list[Path]], None] | None = None,
    check: Callable[[str], None] = lambda label: None,
) -> dict[str, list[float]]:
    """Wall times of each shell command, contenders interleaved within each round; ``prepare``
    (default: :func:`warm`) readies the inputs before each run; ``check`` judges each run's output
    (untimed) before the next run deletes it."""
    prepare = prepare if prepare is not None else warm
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(repeat):
        for label, cmd in contenders.items():
            clean(outputs)
            prepare(inputs)
            start = time.perf_counter()
            subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[label].append(time.perf_counter() - start)
            check(label)
    clean(outputs)
    return times


def report(
    title: str,
    times: dict[str, list[float]],
    ours: str,
    startup: float = 0.0,
    loads: tuple[float, float] | None = None,
) -> None:
    """Best and median of each, and the ratios ours / it: best to best, median to median, and
    best to best with hfcache's start-up taken off (how much of a ratio start-up is). ``loads``:
    the load average before and after the runs (default: now, for both)."""
    loads = loads if loads is not None else (os.getloadavg()[0],) * 2
    print(f"\n## {title} (load average {loads[0]:.2f} before, {loads[1]:.2f} after)\n")
    print(f"| command | best s | median s | {ours} / it, best | median | less start-up, best |")
    print("| --- | --- | --- | --- | --- | --- |")
    mine, mine_med = min(times[ours]), statistics.median(times[ours])
    for label, ts in times.items():
        best, med = min(ts), statistics.median(ts)
        ratios = f"{mine / best:.3f} | {mine_med / med:.3f} | {(mine - startup) / best:.3f}"
        print(f"| {label} | {best:.2f} | {med:.2f} | {ratios} |")


def peak_rss_mib(cmd: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, "sh", "-c", cmd], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip()) / 1024


def startup_s(repeat: int = 5, prepare: Callable[[], None] = lambda: None) -> float:
    """Best wall time of `hfcache pack --help`: interpreter, imports of the command, exit
    (each run after ``prepare``: with the page cache dropped, Python's own files come from disk)."""
    best = 1e9
    for _ in range(repeat):
        prepare()
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "hfcache", "pack", "--help"], check=True, capture_output=True)
        best = min(best, time.perf_counter() - t)
    return best


def flip(path: Path, offset: int) -> Callable[[], None]:
    """Flip one byte of ``path`` in place; returns what puts it back (bytes and times)."""
    st = path.stat()
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))

    def restore() -> None:
        with open(path, "r+b") as f:
            f.seek(offset)
            f.write(byte)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))

    return restore


def blob_members(bundle: Path) -> dict[str, tuple[int, int]]:
    """Blob name → (offset of its data in the bundle, size)."""
    with tarfile.open(bundle) as tf:
        return {ti.name.rsplit("/", 1)[-1]: (ti.offset_data, ti.size) for ti in tf if "/blobs/" in ti.name}


def must_fail(cmd: str, what: str, left: Path) -> None:
    """``cmd`` fails and leaves nothing: no bundle (nor a partial one) at ``left``, or no blob
    installed under the folder ``left``."""
    done = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if left.suffix == ".tar":
        leftovers = [p for p in left.parent.iterdir() if p.name.startswith((left.name, "." + left.name))]
    else:
        leftovers = [p for p in files_under([left]) if "/blobs/" in str(p)] if left.is_dir() else []
    if done.returncode == 0 or leftovers:
        sys.exit(f"HONESTY CHECK FAILED: {what}: exit {done.returncode}, left {leftovers[:3]}")
    print(f"checked: {what}: refused ({done.stderr.strip().splitlines()[-1][:100]})")


def honesty(pack: str, unpack: str, blobs: Path, bundle: Path, target: Path) -> None:
    """A flipped byte is caught by the very commands timed."""
    big = max(blobs.iterdir(), key=lambda p: p.stat().st_size)
    small = min((p for p in blobs.iterdir() if len(p.name) == 40), key=lambda p: p.stat().st_size)
    for blob, kind in ((big, "big"), (small, "small")):
        restore = flip(blob, blob.stat().st_size // 2)
        try:
            must_fail(pack, f"pack with a byte flipped in a {kind} blob of the cache", bundle)
        finally:
            restore()
    subprocess.run(pack, shell=True, check=True, capture_output=True)
    members = blob_members(bundle)
    for name, kind in ((big.name, "big"), (small.name, "small")):
        offset, size = members[name]
        restore = flip(bundle, offset + size // 2)
        try:
            must_fail(unpack, f"unpack with a byte flipped in a {kind} blob of the bundle", target)
        finally:
            restore()
            clean([target])
    bundle.unlink()


def hash_installed(cache: Path) -> int:
    """Hash every installed blob against its name (sha256, or git's blob sha1); the count."""
    blobs = [p for p in (cache / "models--bench--verify" / "blobs").iterdir()]
    for p in blobs:
        data = p.read_bytes()
        if len(p.name) == 64:
            got = hashlib.sha256(data).hexdigest()
        else:
            got = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        if got != p.name:
            sys.exit(f"CHECK FAILED: {p} does not hash to its name")
    return len(blobs)


def machine() -> str:
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    with open("/proc/meminfo") as f:
        mem = next((int(line.split()[1]) for line in f if line.startswith("MemTotal")), 0)
    tar = subprocess.run(["tar", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    return (
        f"{time.strftime('%Y-%m-%d %H:%M')}; {os.cpu_count()} x {cpu}, {mem / 2**20:.0f} GiB RAM; "
        f"Linux {platform.release()}; Python {platform.python_version()}; {tar}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--total-gb", type=float, default=2.0)
    parser.add_argument("--big", type=int, default=4)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cache", choices=("warm", "cold"), default="warm", help="page cache before runs")
    parser.add_argument("--drop", choices=("auto", "drop_caches", "fadvise"), default="auto")
    parser.add_argument("--no-sync-variant", action="store_true", help="also time hfcache with fsync off")
    parser.add_argument(
        "--compare",
        metavar="DIR",
        help="also time the hfcache package in DIR (a `git archive` of an earlier commit) in the same rounds",
    )
    parser.add_argument("--dir", default=None, help="work folder (default: the system temp folder)")
    args = parser.parse_args()
    args.dir = os.path.abspath(args.dir) if args.dir else None
    args.compare = os.path.abspath(args.compare) if args.compare else None
    hf = f"{sys.executable} -m hfcache"
    nosync = f"{sys.executable} -c {_NO_SYNC!r}"
    how = args.drop if args.drop != "auto" else ("drop_caches" if can_drop_caches() else "fadvise")
    prepare: Callable[[list[Path]], None] = warm if args.cache == "warm" else (lambda paths: cold(paths, how))
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        os.chdir(root)  # `python -m hfcache` imports from the current folder first: not from a checkout
        os.environ["HFCACHE_STATE_DIR"] = str(root / "state")  # the digest record, private to this run
        where = subprocess.run(
            [sys.executable, "-c", "import hfcache, sys; sys.stdout.write(hfcache.__file__)"],
            capture_output=True, text=True, check=True,
        ).stdout
        also = f"; compared with {args.compare}" if args.compare else ""
        print(f"hfcache: {os.path.dirname(where)}{also}")
        cache = root / "hub"
        build(cache, int(args.total_gb * 1e9), args.big, args.small)
        folder = next(p.name for p in cache.iterdir() if p.name.startswith("models--"))
        blobs = cache / folder / "blobs"
        sizes = {p.name: p.stat().st_size for p in blobs.iterdir()}
        bundle, theirs, x_tar, x_ours = root / "b.tar", root / "t.tar", root / "x-tar", root / "x-ours"
        startup = startup_s()
        page = "warm" if args.cache == "warm" else f"cold ({how} before each run)"
        print(
            f"data: {args.total_gb} GB in {args.big} big + {args.small} small blobs; page cache {page}; "
            f"start-up (`hfcache pack --help`, best of 5) {startup:.2f} s"
        )
        if args.cache == "cold" and how == "drop_caches":  # Python's own files are dropped too
            startup = startup_s(3, lambda: cold([], how))
            print(f"start-up with the page cache dropped (best of 3): {startup:.2f} s (used below)")
        pack = f"{hf} pack bench/verify --cache-dir {cache} --revision {COMMIT} -o {bundle}"
        unpack = f"{hf} unpack {bundle} --cache-dir {x_ours}"
        honesty(pack, unpack, blobs, bundle, x_ours)

        def pack_check(label: str) -> None:
            out = bundle if label.startswith("hfcache") else theirs
            if out.stat().st_size < sum(sizes.values()):
                sys.exit(f"CHECK FAILED: {label} wrote {out.stat().st_size} bytes")

        contenders = {
            "tar -cf": f"tar -cf {theirs} -C {cache} {folder}",
            "tar -cf && sync": f"tar -cf {theirs} -C {cache} {folder} && sync",
            "hfcache pack": pack,
        }
        if args.no_sync_variant:
            contenders["hfcache pack (no sync)"] = pack.replace(hf, nosync, 1)
        if args.compare:
            contenders["hfcache pack (compared)"] = f"PYTHONPATH={args.compare} {pack}"
        load = os.getloadavg()[0]
        pack_times = rounds(contenders, [cache / folder], [bundle, theirs], args.repeat, prepare, pack_check)
        report("pack", pack_times, "hfcache pack", startup, (load, os.getloadavg()[0]))
        subprocess.run(pack, shell=True, check=True, capture_output=True)
        print(f"\nbundle: {bundle.stat().st_size / 1e9:.2f} GB; `hfcache unpack --check` on it: ", end="")
        ok = subprocess.run(f"{hf} unpack --check {bundle}", shell=True, capture_output=True)
        print("verified" if ok.returncode == 0 else sys.exit(f"FAILED: {ok.stderr!r}"))

        def unpack_check(label: str) -> None:
            if not label.startswith("hfcache"):
                return
            got = {p.name: p.stat().st_size for p in (x_ours / folder / "blobs").iterdir()}
            if got != sizes:
                sys.exit(f"CHECK FAILED: {label} installed {len(got)} of {len(sizes)} blobs, or wrong sizes")

        untar = f"mkdir {x_tar} && tar -xf {bundle} -C {x_tar}"
        contenders = {"tar -xf": untar, "tar -xf && sync": f"{untar} && sync", "hfcache unpack": unpack}
        if args.no_sync_variant:
            contenders["hfcache unpack (no sync)"] = unpack.replace(hf, nosync, 1)
        if args.compare:
            contenders["hfcache unpack (compared)"] = f"PYTHONPATH={args.compare} {unpack}"
        load = os.getloadavg()[0]
        unpack_times = rounds(contenders, [bundle], [x_tar, x_ours], args.repeat, prepare, unpack_check)
        loads = (load, os.getloadavg()[0])
        report("unpack (with verification)", unpack_times, "hfcache unpack", startup, loads)
        subprocess.run(unpack, shell=True, check=True, capture_output=True)
        print(f"\nafter the runs: all {hash_installed(x_ours)} installed blobs hash to their names")
        clean([x_ours])
        print(f"peak RSS unpack: {peak_rss_mib(unpack):.1f} MiB")
        bundle.unlink()
        print(f"peak RSS pack  : {peak_rss_mib(pack):.1f} MiB")


if __name__ == "__main__":
    main()
