"""Benchmark ``copy_hashed`` and bundle-style tar streams against ``cp`` and GNU ``tar``.

The targets: ``hfcache pack`` within 1.10x of ``tar -cf`` and ``unpack`` within 1.25x of
``tar -xf`` on the same data. Three parts, contenders interleaved, ``--repeat`` rounds each:

* ``copy``: one big file to another: ``cp``, a plain Python ``readinto``/``write`` loop,
  ``copy_hashed`` (sha256) as a simple loop and overlapped, and verify-only (``dst=None``).
* ``pack``: a folder (4 big files, many small) to one tar: ``tar -cf``, tarfile's own
  ``addfile`` ("w|"), and members by hand (``TarInfo.tobuf`` header, data through
  ``copy_hashed``, NUL padding) into a ``VolumeWriter``, hashed or not, split or not.
* ``unpack``: that tar back into a new folder: ``tar -xf``, tarfile's ``extractall``,
  tarfile "r|" + ``extractfile`` + ``copy_hashed`` (sha256), and headers parsed by
  ``TarInfo.fromtarfile`` with the data copied by ``copy_hashed`` straight from the stream.

Each Python contender runs in a fresh interpreter (a fresh heap, as one CLI run; the heap state
left by other contenders swung big-buffer runs by 3x in one process) and is timed inside it:
start-up and imports (printed once) come on top. Inputs are re-read just before every run
(this VM's balloon/DAMON evicts page cache within seconds; residency is printed, via
``fincore``); outputs are deleted and ``sync``-ed between runs and not fsync-ed inside the
timing, as ``tar`` and ``cp`` do not: ``VolumeWriter.commit`` is timed apart. Best and median
are printed; on a shared VM, trust the best and the ratios more than absolute times.

    python benchmarks/bench_streamcopy.py --size-gb 2 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, BinaryIO

import hfcache.fs.streamcopy as sc
from hfcache.bundle.volread import open_volumes
from hfcache.bundle.volumes import VolumeWriter
from hfcache.fs.hashing import Algo

MiB = 1 << 20
BLOCK, RECORD = tarfile.BLOCKSIZE, tarfile.RECORDSIZE
TAR_END = (tarfile.__dict__["EOFHeaderError"], tarfile.__dict__["EmptyHeaderError"])  # not in typeshed
SHA = (Algo.SHA256,)
Contender = list[str] | tuple[str, list[Any]]  # a command, or (function of this module, args)
BUFFER = [sc.BUFFER_SIZE]  # copy_hashed's buffer_size in a child (--buffer)


def copy(src: sc.Source, dst: sc.Sink | None, size: int, algos: tuple[Algo, ...]) -> None:
    sc.copy_hashed(src, dst, size, algos, buffer_size=BUFFER[0])


def _fill(path: Path, size: int, block: bytes) -> None:
    """``size`` bytes of ``block``, rotated by one byte per repeat (no two chunks alike)."""
    with open(path, "wb") as f:
        done = i = 0
        while done < size:
            piece = (block[i:] + block[:i])[: size - done]
            f.write(piece)
            done, i = done + len(piece), i + 1


def make_data(root: Path, total: int, n_small: int) -> tuple[Path, Path]:
    """``root/big.bin`` of ``total`` bytes and ``root/tree``: 4 big files (1:2:3:4) and
    ``n_small`` small ones (10% of the bytes, sizes 1:2:...:n), all incompressible."""
    block = os.urandom(64 * MiB)
    big = root / "big.bin"
    _fill(big, total, block)
    tree = root / "tree"
    (tree / "small").mkdir(parents=True)
    small_total = total // 10 if n_small else 0
    sizes = [(total - small_total) * w // 10 for w in (1, 2, 3)]
    sizes.append(total - small_total - sum(sizes))
    for i, size in enumerate(sizes):
        _fill(tree / f"blob{i}", size, block)
    for i in range(n_small):
        size = small_total * 2 * (i + 1) // (n_small * (n_small + 1))
        (tree / "small" / f"f{i:05d}").write_bytes(block[i : i + size])
    return big, tree


def files_of(tree: str | Path) -> list[Path]:
    return sorted(p for p in Path(tree).rglob("*") if p.is_file())


def warm(paths: list[Path]) -> float:
    """Read every file (into the page cache) and return the share resident after that."""
    buf = mmap.mmap(-1, MiB)
    for p in paths:
        with open(p, "rb", buffering=0) as f:
            while f.readinto(buf):
                pass
    if shutil.which("fincore") is None:
        return float("nan")
    res = size = 0
    for i in range(0, len(paths), 500):
        cmd = ["fincore", "-nb", "-o", "RES,SIZE", *map(str, paths[i : i + 500])]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
        res += sum(int(x) for x in out[0::2])
        size += sum(int(x) for x in out[1::2])
    return res / size if size else 1.0


# ---- contenders run in a child interpreter ---------------------------------------------------


def py_copy(src: str, dst: str) -> None:
    """The simplest fast Python copy: one page-aligned 1 MiB buffer, no hashing."""
    buf = mmap.mmap(-1, MiB)
    view = memoryview(buf)
    with open(src, "rb", buffering=0) as s, open(dst, "wb") as d:
        while n := s.readinto(buf):
            d.write(view[:n])


def hashed_copy(src: str, dst: str | None) -> None:
    with open(src, "rb", buffering=0) as s:
        if dst is None:
            copy(s, None, os.path.getsize(src), SHA)
        else:
            with open(dst, "wb") as d:
                copy(s, d, os.path.getsize(src), SHA)


def pack_by_hand(tree: str, out: str, hashed: bool, split: int | None) -> float:
    """Members by hand into a VolumeWriter, as pack writes them; returns the commit time."""
    w = VolumeWriter(out, split, overwrite=True)
    try:
        for p in files_of(tree):
            with open(p, "rb", buffering=0) as src:
                st = os.fstat(src.fileno())
                ti = tarfile.TarInfo(str(p.relative_to(tree)))
                ti.size, ti.mtime, ti.mode = st.st_size, int(st.st_mtime), 0o644
                w.write(ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
                copy(src, w, st.st_size, SHA if hashed else ())
            w.write(bytes(-st.st_size % BLOCK))
        w.write(bytes(2 * BLOCK))
        w.write(bytes(-w.bytes_written % RECORD))
        t = time.perf_counter()
        w.commit()
        return time.perf_counter() - t
    finally:
        w.abort()


def pack_tarfile(tree: str, out: str) -> None:
    with open(out, "wb") as f, tarfile.open(fileobj=f, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        for p in files_of(tree):
            with open(p, "rb") as src:
                tf.addfile(tf.gettarinfo(fileobj=src, arcname=str(p.relative_to(tree))), src)


def unpack_extractfile(first: str, dest: str, bufsize: int) -> None:
    """tarfile "r|" (reads of ``bufsize``) for everything, copy_hashed over ``extractfile``."""
    with open_volumes(first) as stream, tarfile.open(fileobj=stream, mode="r|", bufsize=bufsize) as tf:
        for ti in tf:
            src = tf.extractfile(ti)
            if src is None:
                continue
            path = Path(dest, ti.name)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "xb") as f:
                copy(src, f, ti.size, SHA)


class _Counted:
    """``read``/``tell`` over a stream: the ``fileobj`` that ``TarInfo.fromtarfile`` reads."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw, self.pos = raw, 0

    def read(self, n: int) -> bytes:
        data = self.raw.read(n)
        self.pos += len(data)
        return data

    def tell(self) -> int:
        return self.pos


def unpack_direct(first: str, dest: str) -> None:
    """Headers by ``TarInfo.fromtarfile`` (PAX included), data by copy_hashed straight from the
    stream: no tarfile ``_Stream``/``ExFileObject`` copies and allocations in between."""
    with open_volumes(first) as stream:
        counted = _Counted(stream)
        shim = SimpleNamespace(fileobj=counted, encoding="utf-8", errors="surrogateescape", pax_headers={})
        while True:
            try:
                ti = tarfile.TarInfo.fromtarfile(shim)  # type: ignore[arg-type]
            except TAR_END:
                break
            pad = -ti.size % BLOCK
            if ti.isfile():
                path = Path(dest, ti.name)
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "xb") as f:
                    copy(stream, f, ti.size, SHA)
                counted.pos += ti.size
            else:
                pad += ti.size
            counted.read(pad)


def unpack_tarfile(first: str, dest: str) -> None:
    with open_volumes(first) as stream, tarfile.open(fileobj=stream, mode="r|") as tf:
        tf.extractall(dest)


def child(spec: str) -> None:
    """Run one contender (JSON: function, args, overlap, buffer) and print its timings."""
    name, args, overlap, buffer = json.loads(spec)
    sc.OVERLAP_MIN_SIZE = sc.OVERLAP_MIN_SIZE if overlap else 1 << 62
    BUFFER[0] = buffer
    t = time.perf_counter()
    commit = globals()[name](*args)
    print(json.dumps({"elapsed": time.perf_counter() - t, "commit": commit}))


# ---- the driver ------------------------------------------------------------------------------


def run(contender: Contender, overlap: bool, buffer: int) -> tuple[float, float | None]:
    """Seconds of one run (a child's own timing for Python), and a commit's seconds if any."""
    if isinstance(contender, list):
        t = time.perf_counter()
        subprocess.run(contender, check=True)
        return time.perf_counter() - t, None
    name, args = contender
    spec = json.dumps([name, args, overlap, buffer])
    out = subprocess.run(
        [sys.executable, __file__, "--child", spec], capture_output=True, text=True, check=True
    )
    got = json.loads(out.stdout)
    return got["elapsed"] - (got["commit"] or 0.0), got["commit"]


def remove(outputs: list[Path]) -> None:
    """Delete outputs (a folder, or a file and its volumes) and let the disk settle."""
    for p in outputs:
        if p.is_dir():
            shutil.rmtree(p)
        for q in p.parent.glob(p.name + "*"):
            q.unlink()
    os.sync()


def bench(
    name: str,
    contenders: dict[str, Contender],
    args: argparse.Namespace,
    inputs: list[Path],
    outputs: list[Path],
) -> None:
    times: dict[str, list[float]] = {k: [] for k in contenders}
    commits: dict[str, list[float]] = {}
    low = 1.0
    for _ in range(args.repeat):
        for label, contender in contenders.items():
            remove(outputs)
            low = min(low, warm(inputs))
            seconds, commit = run(contender, "simple loop" not in label, args.buffer << 10)
            times[label].append(seconds)
            if commit is not None:
                commits.setdefault(label, []).append(commit)
    remove(outputs)
    ref = next(iter(times))
    print(f"\n## {name} (inputs at least {low:.1%} in page cache before each run)\n")
    print(f"| contender | best s | median s | best / {ref} | median / {ref} |")
    print("| --- | --- | --- | --- | --- |")
    for label, ts in times.items():
        best, med = min(ts), statistics.median(ts)
        print(
            f"| {label} | {best:.2f} | {med:.2f} | {best / min(times[ref]):.2f} | "
            f"{med / statistics.median(times[ref]):.2f} |"
        )
    if commits:
        spent = ", ".join(f"{label}: {statistics.median(ts):.2f}" for label, ts in commits.items())
        print(f"\nNot included above, VolumeWriter.commit (fsync + rename), median s: {spent}")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--size-gb", type=float, default=2.0)
    ap.add_argument("--small", type=int, default=500, help="small files in the tree (10%% of bytes)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--parts", default="copy,pack,unpack")
    ap.add_argument("--buffer", type=int, default=sc.BUFFER_SIZE >> 10, help="copy_hashed buffer, KiB")
    ap.add_argument("--dir", help="work directory (default: a temp dir in /tmp)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    work = Path(tempfile.mkdtemp(prefix="bench-streamcopy-", dir=args.dir))
    try:
        big, tree = make_data(work, int(args.size_gb * (1 << 30)), args.small)
        imports = "import tarfile, hfcache.fs.streamcopy, hfcache.bundle.volumes"
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", imports], check=True)
        print(
            f"data: {big.stat().st_size / 1e9:.2f} GB; tree: 4 big + {args.small} small files; "
            f"copy_hashed buffer {args.buffer} KiB; "
            f"python start-up + imports {time.perf_counter() - t:.2f} s; "
            f"load {os.getloadavg()[0]:.2f}"
        )
        dst, tar, vol, x = (str(work / n) for n in ("dst.bin", "out.tar", "vol.tar", "x"))
        parts = args.parts.split(",")
        if "copy" in parts:
            bench(
                "copy one file",
                {
                    "cp": ["cp", str(big), dst],
                    "python loop, no hash": ("py_copy", [str(big), dst]),
                    "copy_hashed sha256, simple loop": ("hashed_copy", [str(big), dst]),
                    "copy_hashed sha256, overlapped": ("hashed_copy", [str(big), dst]),
                    "verify only (dst None), simple loop": ("hashed_copy", [str(big), None]),
                    "verify only (dst None), overlapped": ("hashed_copy", [str(big), None]),
                },
                args,
                [big],
                [Path(dst)],
            )
        if "pack" in parts:
            bench(
                "pack a tree into one tar",
                {
                    "tar -cf": ["tar", "-cf", tar, "-C", str(tree), "."],
                    "tarfile addfile w| (no hash)": ("pack_tarfile", [str(tree), tar]),
                    "by hand, no hash": ("pack_by_hand", [str(tree), tar, False, None]),
                    "by hand, sha256 simple loop": ("pack_by_hand", [str(tree), tar, True, None]),
                    "by hand, sha256 overlapped": ("pack_by_hand", [str(tree), tar, True, None]),
                    "by hand, sha256 overlapped, 256 MiB volumes": (
                        "pack_by_hand",
                        [str(tree), tar, True, 256 * MiB],
                    ),
                },
                args,
                files_of(tree),
                [Path(tar)],
            )
        if "unpack" in parts:
            pack_by_hand(str(tree), tar, False, None)
            pack_by_hand(str(tree), vol, False, 256 * MiB)
            vols = sorted(work.glob("vol.tar.*"))
            bench(
                "unpack a tar into a new folder",
                {
                    "tar -xf": ["sh", "-c", 'mkdir "$1" && tar -xf "$2" -C "$1"', "-", x, tar],
                    "tarfile extractall (no hash)": ("unpack_tarfile", [tar, x]),
                    "r| 10 KiB reads, extractfile + copy_hashed sha256": (
                        "unpack_extractfile",
                        [tar, x, RECORD],
                    ),
                    "r| 1 MiB reads, extractfile + copy_hashed sha256": ("unpack_extractfile", [tar, x, MiB]),
                    "fromtarfile headers + copy_hashed sha256 from the stream": ("unpack_direct", [tar, x]),
                    "same, from 256 MiB volumes": ("unpack_direct", [str(vols[0]), x]),
                },
                args,
                [Path(tar), *vols],
                [Path(x)],
            )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
