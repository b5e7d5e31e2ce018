"""The ``sha256sum`` file beside split volumes, and the checks that name a bad or missing volume.

``pack --split-size`` writes ``big.tar.sha256`` in ``sha256sum`` format (``sha256sum -c`` reads
it), so a stick can be checked before it leaves and again where it arrives. ``unpack --check``
hashes every volume against it; every read of volumes uses its list of names to say which one is
missing, instead of a truncation error somewhere inside a blob.
"""

from __future__ import annotations

import os
import re

from hfcache.bundle.volnames import CHECKSUM_SUFFIX, VOLUME_NAME
from hfcache.errors import BundleError
from hfcache.fs.hashing import Algo, HashJob, hash_files
from hfcache.progress import NO_PROGRESS, Progress

_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)")
MAX_CHECKSUM_BYTES = 1 << 20


def checksum_file(first: str) -> str | None:
    """The checksum file of the split bundle whose volume ``first`` is, if there is one."""
    match = VOLUME_NAME.fullmatch(first)
    if match is None:
        return None
    path = match.group(1) + CHECKSUM_SUFFIX
    return path if os.path.isfile(path) else None


def read_checksums(path: str) -> dict[str, str]:
    """Volume file name → sha256, from a ``sha256sum`` file; :class:`BundleError` if it is not one."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CHECKSUM_BYTES + 1)
    except OSError as e:
        raise BundleError(f"cannot read {path}: {e.strerror or e}") from None
    sums: dict[str, str] = {}
    for line in raw.decode("utf-8", "replace").splitlines():
        match = _LINE.fullmatch(line.strip())
        name = os.path.basename(match.group(2)) if match else ""
        if match is None or len(raw) > MAX_CHECKSUM_BYTES or not VOLUME_NAME.fullmatch(name):
            raise BundleError(f"{path} is not a sha256sum file of bundle volumes")
        sums[name] = match.group(1)
    return sums


def missing_volumes(first: str, paths: list[str]) -> list[str]:
    """Volumes the checksum file lists that the folder does not have (beyond ``paths``)."""
    listed = checksum_file(first)
    if listed is None:
        return []
    have = {os.path.basename(p) for p in paths}
    start = _number(os.path.basename(first))
    folder = os.path.dirname(first)
    return [
        os.path.join(folder, n)
        for n in sorted(read_checksums(listed))
        if n not in have and _number(n) > start
    ]


def _number(name: str) -> int:
    match = VOLUME_NAME.fullmatch(name)
    return int(match.group(2)) if match else 0


def verify_volumes(paths: list[str], progress: Progress = NO_PROGRESS) -> tuple[str | None, list[str]]:
    """Hash every volume against the checksum file: (that file or ``None``, one line per bad volume)."""
    listed = checksum_file(paths[0]) if paths else None
    if listed is None:
        return None, []
    sums = read_checksums(listed)
    bad = [f"{p} is missing" for p in missing_volumes(paths[0], paths)]
    jobs = [HashJob(p, frozenset({Algo.SHA256}), os.path.getsize(p)) for p in paths]
    progress.start("volumes", sum(j.size or 0 for j in jobs))
    try:
        for result in hash_files(jobs, progress=progress.advance):
            name = os.path.basename(result.job.path)
            if name not in sums:
                bad.append(f"{result.job.path} is not listed in {listed}")
            elif result.digests.get(Algo.SHA256) != sums[name]:
                bad.append(f"{result.job.path} does not match {listed}: the copy is damaged, copy it again")
    finally:
        progress.finish()
    return listed, sorted(bad)
