"""Tar members written by hand, for ``pack``: headers from ``tarfile.TarInfo``, data streamed.

``tarfile`` itself would copy every byte through its own buffers and hash nothing; here a
member's data goes through :func:`hfcache.fs.streamcopy.copy_hashed`, which hashes the very bytes
it writes. The result is a plain POSIX (pax) tar any ``tar -xf`` reads.
"""

from __future__ import annotations

import os
import tarfile
import time
from collections.abc import Iterator

from hfcache.bundle.volumes import VolumeWriter
from hfcache.fs.hashing import Algo
from hfcache.fs.streamcopy import copy_hashed
from hfcache.progress import Progress

_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE
_JOIN_BELOW = 1 << 16


def header(name: str, size: int = 0, link: str | None = None, mtime: float | None = None) -> bytes:
    ti = tarfile.TarInfo(name)
    ti.mtime = int(mtime if mtime is not None else time.time())
    if link is None:
        ti.size, ti.mode = size, 0o644
    else:
        ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, link, 0o777
    return ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


class TarWriter:
    """Tar members written by hand: headers from ``TarInfo``, data through ``copy_hashed``."""

    def __init__(self, out: VolumeWriter) -> None:
        self.out = out
        self.offset = 0

    def _write(self, data: bytes) -> None:
        self.out.write(data)
        self.offset += len(data)

    def _pad(self, size: int) -> None:
        if size % _BLOCK:
            self._write(b"\0" * (_BLOCK - size % _BLOCK))

    def add_bytes(self, name: str, data: bytes) -> None:
        if len(data) < _JOIN_BELOW:
            self._write(header(name, len(data)) + data)  # one write for a ref or a tree listing
        else:  # a manifest of thousands of repos: not copied once more
            self._write(header(name, len(data)))
            self._write(data)
        self._pad(len(data))

    def add_pieces(self, name: str, size: int, pieces: Iterator[bytes]) -> None:
        """A member of ``size`` bytes written as ``pieces`` come; :class:`ValueError` if they are
        not ``size`` bytes (the tar would be broken: the writer's caller aborts it)."""
        self._write(header(name, size))
        done = 0
        for piece in pieces:
            done += len(piece)
            if done > size:
                break
            self._write(piece)
        if done != size:
            raise ValueError(f"{name}: {size} bytes announced, {done} made")
        self._pad(size)

    def add_file(self, name: str, source: str, size: int, progress: Progress) -> str:
        """Stream a file in; returns its sha256, computed from the very bytes written."""
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        with os.fdopen(os.open(source, flags), "rb", buffering=0) as src:
            self._write(header(name, size, mtime=os.fstat(src.fileno()).st_mtime))
            digests = copy_hashed(src, self.out, size, {Algo.SHA256}, progress=progress.advance)
        self.offset += size
        self._pad(size)
        return digests[Algo.SHA256]

    def add_link(self, name: str, target: str) -> None:
        self._write(header(name, link=target))

    def close(self) -> None:
        self._write(b"\0" * (2 * _BLOCK))
        if self.offset % _RECORD:
            self._write(b"\0" * (_RECORD - self.offset % _RECORD))


def link_target(path: str, etag: str) -> str:
    """The relative link huggingface_hub writes at ``snapshots/<commit>/<path>``."""
    return "../" * (path.count("/") + 2) + f"blobs/{etag}"
