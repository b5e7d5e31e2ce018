"""pack's one-file way: the bundle written at explicit offsets (:mod:`hfcache.bundle.packstream`),
every blob hashed on every core as it is copied, the manifest's pending sha256 filled in after.

Anything unexpected about a file of the cache (corrupt, changed, unreadable) is :class:`Redo`:
the bundle is dropped and the streamed way, which finds and names such files, packs again.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace

from hfcache.bundle.manifest import Manifest
from hfcache.bundle.packhash import PENDING_SHA256
from hfcache.bundle.packorder import Blob, bundle_members
from hfcache.bundle.packstream import ChangedError, DirectTar
from hfcache.bundle.select import RepoPick
from hfcache.bundle.volumes import VolumeWriter
from hfcache.fs.hashing import Algo, algo_for
from hfcache.progress import Progress


class Redo(Exception):
    """The direct way met a file that is not what the cache says (corrupt, changed, unreadable):
    the bundle is dropped and the streamed way, which reports such files, packs again."""


def _completed(manifest: Manifest, hashed: dict[tuple[str, str], str]) -> Manifest:
    """``manifest`` with each pending sha256 as hashed: ``(folder, etag)`` → sha256."""
    repos = []
    for e in manifest.repos:
        files = [replace(f, sha256=hashed.get((e.folder, f.etag), f.sha256)) for f in e.files]
        repos.append(replace(e, files=files))
    return replace(manifest, repos=repos)


_PENDING_FIELD = f'"sha256": "{PENDING_SHA256}"'.encode()


def _filled_in(pending: bytes, manifest: Manifest, done: Manifest) -> bytes:
    """``done.to_bytes()``, made from ``pending`` (``manifest``'s bytes) by writing each file's
    sha256 over its placeholder, in document order (serialising a manifest of thousands of files
    again costs ~0.1 s); the same length, so it overwrites the manifest written first in place."""
    fresh = [
        g.sha256
        for r, s in zip(manifest.repos, done.repos, strict=True)
        for f, g in zip(r.files, s.files, strict=True)
        if f.sha256 == PENDING_SHA256
    ]
    if PENDING_SHA256 in fresh:
        raise Redo()  # cannot happen: each pending file is hashed
    out = bytearray(pending)
    at = 0
    for sha in fresh:
        at = out.find(_PENDING_FIELD, at)
        if at < 0:
            raise Redo()  # cannot happen: each pending file has one placeholder
        value = at + len(_PENDING_FIELD) - len(PENDING_SHA256) - 1
        out[value : value + len(sha)] = sha.encode("ascii")
        at += len(_PENDING_FIELD)
    if out.find(_PENDING_FIELD, at) >= 0:
        raise Redo()
    return bytes(out)


def write_direct(
    picks: list[RepoPick], manifest: Manifest, out: VolumeWriter, output: str, progress: Progress
) -> Manifest:
    """The bundle written at explicit offsets of its one file (:mod:`hfcache.bundle.packstream`);
    returns the manifest completed with the small files' sha256, as written in place of the
    pending one. :class:`Redo` for a file that is not what its name says, or changed."""
    direct = out.direct()
    if direct is None:
        raise Redo()
    fd, temp = direct
    pending = manifest.to_bytes()
    hashed: dict[tuple[str, str], str] = {}

    def judge(tag: tuple[str, Blob], got: dict[Algo, str]) -> None:
        folder, blob = tag
        if got.get(algo_for(blob.etag)) != blob.etag or (
            blob.sha256 != PENDING_SHA256 and got.get(Algo.SHA256) != blob.sha256
        ):
            raise Redo()
        hashed[(folder, blob.etag)] = got[Algo.SHA256]

    progress.start("pack", manifest.total_bytes)
    now = time.time()
    manifest_at: list[int] = []
    try:
        with DirectTar(temp, fd, out.bytes_written, judge, progress.advance, output) as tar:
            for pick, name, payload in bundle_members(picks, manifest.repos, pending):
                if isinstance(payload, bytes):
                    at = tar.add_bytes(name, payload, now)
                    if payload is pending:
                        manifest_at.append(at)
                elif isinstance(payload, str):
                    tar.add_link(name, payload, now)
                else:
                    algos = frozenset({Algo.SHA256, algo_for(payload.etag)})
                    tar.add_file(name, payload.source, payload.size, algos, (pick.repo.folder, payload))
            tar.close()
            done = _completed(manifest, hashed)
            data = _filled_in(pending, manifest, done)
            for at in manifest_at:
                tar.patch(at, data)
            tar.truncate()
    except (ChangedError, OSError) as e:
        if isinstance(e, OSError) and (e.filename is None or os.fsdecode(e.filename) in (output, temp)):
            raise  # about the bundle (a full disk): the same on any way
        raise Redo() from None  # about a file of the cache: the streamed way reports it
    out.wrote(tar.pos)
    return done
