"""A delta bundle's expected blobs, found in the target and verified before anything installs.

A delta leaves out the blobs its target already holds (``pack --exclude-present``). Once the
bundle itself is verified, each expected blob is looked for where the revision will use it
(its own repo folder, or, for a plain folder, the file at its path) and then in every other
repo folder of the cache (a fine-tune sharing its base's tokenizer), and hashed against both
names the manifest gives it. One in another repo is staged by a hard link (a copy where the file
system refuses one), so the installer renames it into place like any blob the bundle carried.
Any expected blob that is missing or not what its name says stops the unpack: nothing is
installed, and the message names the files and what the delta was packed against.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from hfcache import layout
from hfcache.bundle.manifest import FileEntry, Manifest
from hfcache.bundle.receive import existing_ok
from hfcache.bundle.received import Received
from hfcache.errors import BundleError
from hfcache.fs import fsops
from hfcache.fs.digests import DigestStore
from hfcache.fs.hashing import Algo, algo_for
from hfcache.fs.streamcopy import copy_hashed

SHOWN = 5


class DeltaBaseMissing(BundleError):
    """The target lacks blobs a delta expects (or holds other bytes under their names)."""


def _repo_folders(cache_root: str) -> list[str]:
    try:
        names = sorted(os.listdir(cache_root))
    except OSError:
        return []
    return [n for n in names if layout.parse_repo_folder(n) is not None]


def find_elsewhere(
    cache_root: str, etag: str, f: FileEntry, skip: str, store: DigestStore | None = None
) -> str | None:
    """A verified file holding blob ``etag`` in any repo folder of the cache but ``skip``."""
    for folder in _repo_folders(cache_root):
        if folder == skip:
            continue
        path = fsops.blob_file(cache_root, os.path.join(cache_root, folder), etag)
        if path is not None and existing_ok(path, etag, f.sha256, f.size, store):
            return path
    return None


def _stage_from(path: str, dest: str, f: FileEntry) -> None:
    """``path``'s bytes at ``dest``: a hard link, or a copy checked against both names."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    try:
        os.link(path, dest, follow_symlinks=False)
        return
    except OSError:
        pass
    algos = {Algo.SHA256, algo_for(f.etag)}
    with open(path, "rb") as src, open(dest, "xb") as out:
        got = copy_hashed(src, out, f.size, algos)
        out.flush()
        os.fsync(out.fileno())  # staged like a blob the bundle carried: durable before it is installed
    if got.get(Algo.SHA256) != f.sha256 or got.get(algo_for(f.etag)) != f.etag:
        raise DeltaBaseMissing(f"{path} changed while it was copied; nothing was installed")


def missing_message(manifest: Manifest, missing: list[tuple[str, str]], where: str) -> str:
    files = [manifest.files_of(folder, etag) for folder, etag in missing]
    shown = "; ".join(files[:SHOWN]) + (f"; and {len(files) - SHOWN} more" if len(files) > SHOWN else "")
    source = manifest.against or "the inventory or bundle it was packed against"
    return (
        f"this is a delta bundle, and {where} lacks {len(missing)} blob(s) it expects: {shown}. "
        f"{source} holds them: unpack that first (or pack without --exclude-present); nothing was installed"
    )


def complete(
    received: Received,
    cache_root: str | None,
    existing: Callable[[str, str], str | None],
    staging: str | None,
    store: DigestStore | None = None,
) -> None:
    """Fill ``received`` with the expected blobs of a delta, found and verified in the target.

    ``existing(folder, etag)`` names where the target holds a blob where it will be used;
    ``cache_root`` (a cache target) lets blobs of other repos serve; ``staging`` (``None``: only
    check) is where those are linked; ``store``, the digest record, spares hashing blobs hashed
    before and unchanged since. :class:`DeltaBaseMissing` names every blob not found.
    """
    m = received.manifest
    blobs = m.blobs()
    missing: list[tuple[str, str]] = []
    for repo in m.repos:
        for etag in repo.expected:
            key = (repo.folder, etag)
            if key in received.present or key in received.staged:
                continue
            f = blobs[key]
            here = existing(repo.folder, etag)
            if here is not None and existing_ok(here, etag, f.sha256, f.size, store):
                received.present[key] = here
                continue
            other = (
                find_elsewhere(cache_root, etag, f, repo.folder, store) if cache_root is not None else None
            )
            if other is None:
                missing.append(key)
            elif staging is None:
                received.present[key] = other
            else:
                dest = os.path.join(staging, "from-target", repo.folder, etag)
                _stage_from(other, dest, f)
                received.staged[key] = dest
    if missing:
        where = f"the cache {cache_root}" if cache_root is not None else "the target"
        raise DeltaBaseMissing(missing_message(m, missing, where))
