"""``hfcache pack --format oci`` against ``tar -cf`` (and the tar ``pack``), in one run; then
``hfcache unpack oci://`` from a local registry against ``skopeo copy`` of the same artifact.

Same cache, same machine, page cache warm, contenders interleaved round after round (the
helpers of bench_bundle.py). ``pack --format oci`` is timed twice: with an empty digest record
(every LFS blob is hashed on both cores before it is linked) and with the record a previous
pack left (hard links only: no copy, no hash). The target of issue 17: the second at most 0.2x
``tar -cf``, the first no slower than the tar ``pack``. The run checks it did the real work: a
flipped byte in a blob, with the record cleared, must make the pack refuse.

    python benchmarks/bench_oci.py --total-gb 2 --big 4 --small 200 --repeat 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_bundle import clean, peak_rss_mib, report, rounds
from bench_doctor_verify import build


def _flip_one_byte(blob: Path) -> None:
    with open(blob, "r+b") as f:
        f.seek(blob.stat().st_size // 2)
        b = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([b[0] ^ 0xFF]))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--total-gb", type=float, default=2.0)
    parser.add_argument("--big", type=int, default=4)
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", default=None, help="work folder (default: the system temp folder)")
    args = parser.parse_args()
    hf = f"{sys.executable} -m hfcache"
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        cache = root / "hub"
        blobs = build(cache, int(args.total_gb * 1e9), args.big, args.small)
        folder = next(p.name for p in cache.iterdir() if p.name.startswith("models--"))
        layout, bundle, theirs = root / "m.oci", root / "b.tar", root / "t.tar"
        empty, kept = root / "state-empty", root / "state-kept"
        print(
            f"data: {args.total_gb} GB in {args.big} big + {args.small} small blobs; "
            f"load {os.getloadavg()[0]:.2f}"
        )
        rev = f"--revision {'b' * 40}"
        oci = f"{hf} pack bench/verify --cache-dir {cache} {rev} --format oci -o {layout}"
        fresh = f"rm -rf {empty} && HFCACHE_STATE_DIR={empty} {oci}"
        subprocess.run(f"HFCACHE_STATE_DIR={kept} {oci} && rm -rf {layout}", shell=True, check=True)
        times = rounds(
            {
                "tar -cf": f"tar -cf {theirs} -C {cache} {folder}",
                "hfcache pack (tar bundle)": f"{hf} pack bench/verify --cache-dir {cache} {rev} -o {bundle}",
                "pack --format oci (no record)": fresh,
                "pack --format oci (on record)": f"HFCACHE_STATE_DIR={kept} {oci}",
            },
            [cache / folder],
            [layout, bundle, theirs],
            args.repeat,
        )
        report("pack --format oci, against the record-less pack", times, "pack --format oci (no record)")
        report("pack --format oci, digests on record", times, "pack --format oci (on record)")
        print(f"\npeak RSS pack --format oci (no record): {peak_rss_mib(fresh):.1f} MiB")
        shutil.rmtree(layout, ignore_errors=True)
        _flip_one_byte(blobs[0])
        t = time.perf_counter()
        run = subprocess.run(fresh, shell=True, capture_output=True, text=True)
        print(
            f"real work: a flipped byte in {blobs[0].name[:12]}… → exit {run.returncode} "
            f"({'refused' if run.returncode == 1 and 'blob-hash-mismatch' in run.stderr else 'NOT CAUGHT'}) "
            f"in {time.perf_counter() - t:.2f} s"
        )
        clean([layout])
        _flip_one_byte(blobs[0])  # put it back: the registry half needs a clean revision
        subprocess.run(f"HFCACHE_STATE_DIR={kept} {oci}", shell=True, check=True, capture_output=True)
        _registry_half(hf, root, layout, args.repeat)


def _registry_half(hf: str, root: Path, layout: Path, repeat: int) -> None:
    """``hfcache unpack oci://`` (fetch, verify, install into a cache) against ``skopeo copy`` of
    the same artifact from the same local registry to an OCI layout (fetch and verify only)."""
    repo = Path(__file__).resolve().parent.parent
    sys.path[:0] = [str(repo / "tests"), str(repo)]
    from registry import REGISTRY, SKOPEO, docker_registry

    if REGISTRY is None or SKOPEO is None:
        print("\n(docker-registry or skopeo missing: the registry half is skipped)")
        return
    with docker_registry(root / "reg") as host:
        ref = f"{host}/bench/verify:main"
        subprocess.run(
            [
                SKOPEO,
                "--insecure-policy",
                "copy",
                "--dest-tls-verify=false",
                f"oci:{layout}:main",
                f"docker://{ref}",
            ],
            check=True,
            capture_output=True,
        )
        out_skopeo, out_ours = root / "sk.oci", root / "unpacked"
        times = rounds(
            {
                "skopeo copy docker:// → oci:": f"skopeo --insecure-policy copy --src-tls-verify=false "
                f"docker://{ref} oci:{out_skopeo}:main",
                "hfcache unpack oci://": f"{hf} unpack oci://{ref} --plain-http --cache-dir {out_ours}",
            },
            [],
            [out_skopeo, out_ours],
            repeat,
        )
        report("unpack oci:// from a local registry", times, "hfcache unpack oci://")
        cmd = f"{hf} unpack oci://{ref} --plain-http --cache-dir {out_ours}"
        print(f"\npeak RSS hfcache unpack oci://: {peak_rss_mib(cmd):.1f} MiB")
        check = subprocess.run(f"{hf} doctor {out_ours} --verify", shell=True, capture_output=True, text=True)
        print(f"real work: doctor --verify of what unpack installed → exit {check.returncode}")
        clean([out_skopeo, out_ours])


if __name__ == "__main__":
    main()
