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
from hfcache.bundle.packorder import Blob, Pieces, bundle_members
from hfcache.bundle.packstream import ChangedError, DirectTar
from hfcache.bundle.picked import Section
from hfcache.bundle.volumes import VolumeWriter
from hfcache.fs.hashing import Algo, algo_for
from hfcache.progress import Progress


class Redo(Exception):
    """The direct way met a file that is not what the cache says (corrupt, changed, unreadable):
    the bundle is dropped and the streamed way, which reports such files, packs again."""


def _completed(manifest: Manifest, hashed: dict[tuple[str, str], str]) -> Manifest:
    """``manifest`` with each pending sha256 as hashed: ``(folder, etag)`` → sha256. :class:`Redo`
    if one is still pending (cannot happen: each pending file is hashed as it is written)."""
    repos = []
    for e in manifest.repos:
        files = [
            f if f.sha256 != PENDING_SHA256 else replace(f, sha256=hashed.get((e.folder, f.etag), f.sha256))
            for f in e.files
        ]
        if any(f.sha256 == PENDING_SHA256 for f in files):
            raise Redo()
        repos.append(replace(e, files=files))
    return replace(manifest, repos=repos)


_PATCH_AT_ONCE = 1 << 20


def _patched(tar: DirectTar, at: int, done: Manifest, size: int) -> None:
    """Write ``done``'s bytes over the manifest written at ``at``, ``size`` bytes long (the same:
    each pending sha256 became one as long), a MiB at a time; the manifest is never held whole."""
    buf = bytearray()
    for piece in done.pieces():
        buf += piece
        if len(buf) >= _PATCH_AT_ONCE:
            if len(buf) > size:
                raise Redo()
            tar.patch(at, bytes(buf))
            at, size, buf = at + len(buf), size - len(buf), bytearray()
    if len(buf) != size:
        raise Redo()  # cannot happen: a filled-in manifest is as long as the pending one
    tar.patch(at, bytes(buf))


def write_direct(
    sections: list[Section], manifest: Manifest, out: VolumeWriter, output: str, progress: Progress
) -> Manifest:
    """The bundle written at explicit offsets of its one file (:mod:`hfcache.bundle.packstream`);
    returns the manifest completed with the small files' sha256, as written in place of the
    pending one. :class:`Redo` for a file that is not what its name says, or changed."""
    direct = out.direct()
    if direct is None:
        raise Redo()
    fd, temp = direct
    pending = Pieces.of(manifest.pieces)
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
            for section, name, payload in bundle_members(sections, manifest.repos, pending):
                if isinstance(payload, bytes):
                    tar.add_bytes(name, len(payload), (payload,), now)
                elif isinstance(payload, Pieces):
                    manifest_at.append(tar.add_bytes(name, payload.size, payload.make(), now))
                elif isinstance(payload, str):
                    tar.add_link(name, payload, now)
                else:
                    algos = frozenset({Algo.SHA256, algo_for(payload.etag)})
                    tar.add_file(name, payload.source, payload.size, algos, (section.repo.folder, payload))
            tar.close()
            done = _completed(manifest, hashed)
            for at in manifest_at:
                _patched(tar, at, done, pending.size)
            tar.truncate()
    except (ChangedError, OSError) as e:
        if isinstance(e, OSError) and (e.filename is None or os.fsdecode(e.filename) in (output, temp)):
            raise  # about the bundle (a full disk): the same on any way
        raise Redo() from None  # about a file of the cache: the streamed way reports it
    out.wrote(tar.pos)
    return done
