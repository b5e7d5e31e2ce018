"""Never a wrong byte: what the mirror knows about each file's bytes, and how it learns it.

A file's bytes are trusted once they hashed to its blob id (sha256 for LFS files, git blob
sha1 for the rest). The verdict is kept in the :class:`~hfcache.fs.digests.DigestStore`,
keyed by the identity of the files holding the bytes, so a restart or the next request goes
at full speed, and a changed file is hashed again. Hashing runs on a thread pool, never on the
event loop; concurrent requests for one unhashed file share one hash.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Callable, Iterator

from hfcache.fs.digests import DigestStore, Identity, identity_of, matches
from hfcache.fs.hashing import Hasher, algo_for, new_hasher
from hfcache.view import Extent, ViewFile

CHUNK = 512 * 1024
"""Bytes read (and hashed) at a time on a first read; two of them per stream are in memory."""


def _key(f: ViewFile) -> tuple[str, Identity] | None:
    """The record's key: where the bytes are, and the identity of the file(s) holding them."""
    try:
        stats = [os.lstat(e.path) for e in f.extents]
    except OSError:
        return None
    if not stats or not all(stat.S_ISREG(s.st_mode) for s in stats):
        return None  # gone, or replaced by a link or a folder since the scan: never trusted
    first = stats[0]
    whole = len(f.extents) == 1 and f.extents[0].offset == 0 and f.extents[0].length == first.st_size
    if whole:
        return f.extents[0].path, identity_of(first)
    where = "|".join(f"{e.path}@{e.offset}+{e.length}" for e in f.extents)
    others = "|".join(f"{s.st_ino}:{s.st_size}:{s.st_mtime_ns}" for s in stats[1:])
    return f"{where}#{others}", identity_of(first)


def read_chunks(extents: tuple[Extent, ...], chunk: int = CHUNK) -> Iterator[tuple[int, int, str, int]]:
    """(file offset, length, path, position in the whole) pieces of at most ``chunk`` bytes."""
    pos = 0
    for e in extents:
        done = 0
        while done < e.length:
            n = min(chunk, e.length - done)
            yield e.offset + done, n, e.path, pos
            done += n
            pos += n


def read_piece(path: str, offset: int, n: int, hasher: Hasher | None = None) -> bytes:
    """``n`` bytes at ``offset`` of ``path`` (hashed on the way, if a hasher is given). Runs on a thread."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        data = os.pread(fd, n, offset)
    finally:
        os.close(fd)
    if len(data) != n:
        raise OSError(f"{path} is shorter than its listing says")
    if hasher is not None:
        hasher.update(data)
    return data


class Verifier:
    """Verdicts on files' bytes: known good, known bad, or not known yet."""

    def __init__(self, store: DigestStore, on_bad: Callable[[ViewFile, str], None] | None = None) -> None:
        self.store = store
        self._on_bad = on_bad
        self._pending: dict[str, asyncio.Future[bool]] = {}

    def verdict(self, f: ViewFile) -> bool | None:
        """True if the bytes hashed to the blob id, False if they did not, None if never hashed."""
        return self._judge(f, _key(f))

    def _judge(self, f: ViewFile, key: tuple[str, Identity] | None) -> bool | None:
        if key is None or f.blob_id is None:
            return None
        return matches(self.store, *key, f.blob_id)

    def trusted_key(self, f: ViewFile) -> tuple[str, Identity] | None:
        """The key of the bytes as they are now, if those very bytes were verified; else None."""
        key = _key(f)
        return key if self._judge(f, key) else None

    def record(self, f: ViewFile, digest: str, ident: tuple[str, Identity] | None) -> bool:
        """Remember what the bytes hashed to (keyed as they were before reading); True if right."""
        assert f.blob_id is not None
        if ident is not None:
            self.store.put(*ident, {algo_for(f.blob_id).value: digest})
        good = digest == f.blob_id
        if not good and self._on_bad is not None:
            self._on_bad(f, digest)
        return good

    def hasher(self, f: ViewFile) -> Hasher:
        assert f.blob_id is not None and f.size is not None
        return new_hasher(algo_for(f.blob_id), f.size)

    def key(self, f: ViewFile) -> tuple[str, Identity] | None:
        return _key(f)

    def _hash_all(self, f: ViewFile) -> bool:
        ident = _key(f)
        h = self.hasher(f)
        for offset, n, path, _ in read_chunks(f.extents):
            read_piece(path, offset, n, h)
        return self.record(f, h.hexdigest(), ident)

    async def verify(self, f: ViewFile) -> bool:
        """Hash the whole file on a thread unless a verdict is known; one hash per file at a time."""
        known = self.verdict(f)
        if known is not None:
            return known
        assert f.blob_id is not None
        pending = self._pending.get(f.blob_id)
        if pending is None:
            loop = asyncio.get_running_loop()
            pending = asyncio.ensure_future(loop.run_in_executor(None, self._hash_all, f))
            self._pending[f.blob_id] = pending
            pending.add_done_callback(lambda _: self._pending.pop(f.blob_id or "", None))
        return await asyncio.shield(pending)
