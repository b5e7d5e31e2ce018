"""pack's way to a bundle file: every blob read once, hashed on every core, written in 4 MiB
aligned chunks that bypass the page cache.

Streaming a blob through Python with its sha256 on one helper thread (:func:`copy_hashed`, the
way to stdout and to volumes) runs at one core's sha256 speed, ~1.2 GB/s here, whatever the
disk. To one file it goes faster, because where each member lands is known before any byte is
read (a tar is headers and data in 512-byte blocks): the file is cut into 4 MiB windows at
aligned offsets, and worker threads, one per core, each take a member (or a run of small ones),
read it from the cache straight into the windows it covers, hash it there, and hand each window
that is complete to a writer thread. Several blobs are hashed at once, every byte is copied once
(the kernel's read into the window) and hashed from memory, and what is hashed is exactly what
is written. Where the file system allows it the windows are written with ``O_DIRECT`` into space
allocated ahead (``fallocate``): the disk DMAs from the window, nothing is copied into or kept in
the page cache, and the final fsync has only metadata and a cache flush left to wait for (an
fsync of pages written through the page cache, as ``tar && sync`` does, waits for them all).
Elsewhere the same windows go through the page cache, their writeback started as each is written.

Nothing here decides what a digest means: ``judge(tag, digests)`` gets every file's digests, in
bundle order, on the thread that adds members, and whatever it raises stops the pack.
"""

from __future__ import annotations

import mmap
import os
import tarfile
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from hfcache.bundle import windows as _win
from hfcache.bundle.tarwriter import header
from hfcache.bundle.windows import ALIGN, WRITERS, Windows, direct_fd, named_error
from hfcache.fs.hashing import Algo, new_hasher
from hfcache.fs.writeback import advise_sequential, allocate, drop_cached, will_need

CHUNK = 1 << 20  # the unit of reading and hashing: it stays in the core's cache between the two
SMALL = 1 << 20  # files up to this size share a task with their neighbours
RUN = (64, 8 << 20)  # a task of small members: at most this many files, this many bytes
ALLOCATE_AHEAD = 256 << 20  # space is allocated this far ahead of the last window handed out
_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE


class ChangedError(Exception):
    """A source file is not as it was when its header was written (shorter, or modified)."""


@dataclass
class _Piece:
    """What goes at ``offset``: ``data``, or ``size`` bytes of the file ``source``."""

    offset: int
    size: int
    data: bytes | None = None
    source: str = ""
    mtime_ns: int = 0
    algos: frozenset[Algo] = frozenset()
    tag: Any = None


@dataclass
class _Task:
    """A contiguous range of the bundle that one worker fills: its pieces, in order."""

    pieces: list[_Piece] = field(default_factory=list)
    files: int = 0
    nbytes: int = 0

    @property
    def end(self) -> int:
        return self.pieces[-1].offset + self.pieces[-1].size if self.pieces else 0


_OPEN = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _fill(windows: Windows, task: _Task, advance: Callable[[int], None]) -> list[dict[Algo, str]]:
    """A worker's job: put every piece of ``task`` in its windows; the digests of its files.

    A run of small files is opened first and each asked for (``POSIX_FADV_WILLNEED``), so that
    from a cold page cache the disk reads them all at once rather than one after the other."""
    files = [p for p in task.pieces if p.data is None]
    fds: dict[int, int] = {}
    try:
        if len(files) > 1:
            for piece in files:
                fds[id(piece)] = fd = os.open(piece.source, _OPEN)
                will_need(fd)
        out = []
        for piece in task.pieces:
            if piece.data is not None:
                windows.write(piece.data, piece.offset)
            else:
                src = fds.pop(id(piece), None)
                src = src if src is not None else os.open(piece.source, _OPEN)
                out.append(_fill_file(windows, piece, advance, src))
        return out
    finally:
        for fd in fds.values():
            os.close(fd)


def _fill_file(windows: Windows, piece: _Piece, advance: Callable[[int], None], src: int) -> dict[Algo, str]:
    """Read ``piece`` from ``src`` (closed here) into its windows, hashing it; its digests."""
    try:
        if os.fstat(src).st_mtime_ns != piece.mtime_ns:
            raise ChangedError(f"{piece.source} changed while it was packed")
        if piece.size > SMALL:
            advise_sequential(src)
        hashers = [new_hasher(a, piece.size) for a in sorted(piece.algos)]
        at, end = piece.offset, piece.offset + piece.size
        while at < end:
            window, view = windows.span(at, end - at)
            got = hashed = 0
            while got < len(view):
                try:  # 1 MiB at a time: hashed while still in this core's cache
                    n = os.readv(src, [view[got : got + CHUNK]])
                except OSError as e:
                    raise e if e.filename is not None else named_error(e, piece.source) from e
                if not n:
                    done = at + got - piece.offset
                    raise ChangedError(f"{piece.source} ends after {done} of {piece.size} bytes")
                got += n
                if got - hashed >= CHUNK or got == len(view):
                    for h in hashers:
                        h.update(view[hashed:got])
                    hashed = got
            windows.filled(window, len(view))
            advance(len(view))
            at += len(view)
    finally:
        os.close(src)
    return {a: h.hexdigest() for a, h in zip(sorted(piece.algos), hashers, strict=True)}


class DirectTar:
    """A tar written at explicit offsets of the bundle file ``path`` (its descriptor ``fd``,
    ``start`` bytes already in it), members added in order as with :class:`TarWriter`; the same
    bytes. Each file's digests reach ``judge(tag, digests)`` in bundle order, from :meth:`add_file`
    (as workers finish) and :meth:`close` (all of them). Use as a context manager: leaving it
    on an error stops the workers and the writers.

    OSErrors name the file they are about: ``name`` (the bundle as the user named it) for a
    failed write, the source for a failed read; a source that changed is :class:`ChangedError`.
    """

    def __init__(
        self,
        path: str,
        fd: int,
        start: int,
        judge: Callable[[Any, dict[Algo, str]], None],
        advance: Callable[[int], None],
        name: str,
        workers: int | None = None,
    ) -> None:
        if start % _win.WINDOW:
            raise ValueError("a bundle starts on a window boundary")
        self.judge, self.advance, self.name = judge, advance, name
        self.pos = start
        fd_direct = direct_fd(path)
        self._fd = fd_direct if fd_direct is not None else fd
        self._own_fd = fd_direct is not None
        self._workers = workers or max(1, min(4, os.cpu_count() or 1))  # 4: memory stays under 100 MiB
        # Each task in flight holds at most three windows (its first and last, shared with its
        # neighbours, and the one it fills), each writer one.
        self._in_flight = self._workers + 1
        self._windows = Windows(self._fd, fd_direct is not None, 3 * self._in_flight + WRITERS + 2, name)
        self._pool = ThreadPoolExecutor(self._workers, "hfcache-pack")
        self._pending: deque[tuple[_Task, Future[list[dict[Algo, str]]]]] = deque()
        self._task = _Task()
        self._allocated = start
        self._can_allocate = self.direct  # buffered writes need no space ahead
        self.written = False

    @property
    def direct(self) -> bool:
        """Written with O_DIRECT (False from the start, or since the file system refused it)."""
        return self._windows.direct

    def __enter__(self) -> DirectTar:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.written:
            self._windows.stop()
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._own_fd:
            os.close(self._fd)
            self._own_fd = False

    # -- the layout, in bundle order

    def _add(self, piece: _Piece, own_task: bool = False) -> None:
        if own_task:
            self._submit()
        self._task.pieces.append(piece)
        self._task.nbytes += piece.size
        self._task.files += piece.data is None
        self.pos = piece.offset + piece.size
        if own_task or self._task.files >= RUN[0] or self._task.nbytes >= RUN[1]:
            self._submit()

    def _put(self, data: bytes) -> None:
        self._add(_Piece(self.pos, len(data), data=data))

    def _pad(self, size: int) -> None:
        if size % _BLOCK:
            self._put(b"\0" * (_BLOCK - size % _BLOCK))

    def add_bytes(self, name: str, size: int, pieces: Iterable[bytes], mtime: float) -> int:
        """A regular member of ``size`` bytes, written as ``pieces`` come; returns the offset of its
        data in the bundle. :class:`ValueError` if the pieces are not ``size`` bytes."""
        self._put(header(name, size, mtime=mtime))
        at = self.pos
        for piece in pieces:
            if self.pos + len(piece) > at + size:
                break
            self._put(piece)
        if self.pos != at + size:
            raise ValueError(f"{name}: {size} bytes announced, other than made")
        self._pad(size)
        return at

    def add_link(self, name: str, target: str, mtime: float) -> None:
        self._put(header(name, link=target, mtime=mtime))

    def add_file(self, name: str, source: str, size: int, algos: frozenset[Algo], tag: Any) -> None:
        """``size`` bytes of the file ``source`` as a member; its digests go to ``judge`` with ``tag``."""
        st = os.stat(source, follow_symlinks=False)
        self._put(header(name, size, mtime=st.st_mtime))
        piece = _Piece(self.pos, size, source=source, mtime_ns=st.st_mtime_ns, algos=algos, tag=tag)
        self._add(piece, own_task=size > SMALL)
        self._pad(size)

    def close(self) -> None:
        """The end-of-archive blocks, to a whole record; wait for every file to be hashed and judged
        and every window written."""
        self._put(b"\0" * (2 * _BLOCK))
        if self.pos % _RECORD:
            self._put(b"\0" * (_RECORD - self.pos % _RECORD))
        self._submit()
        self._reap(wait=True)
        self._windows.end_at(self.pos)
        self._windows.finish()
        self.written = True

    # -- tasks

    def _submit(self) -> None:
        task, self._task = self._task, _Task()
        if not task.pieces:
            return
        self._reap(wait=False)
        while len(self._pending) >= self._in_flight:
            self._reap_one()
        self._allocate(task.end)
        self._pending.append((task, self._pool.submit(_fill, self._windows, task, self.advance)))

    def _allocate(self, end: int) -> None:
        """Space allocated ahead of ``end``, so that direct writes land in place side by side."""
        if not self._can_allocate or end <= self._allocated:
            return
        target = -(-max(end, self._allocated + ALLOCATE_AHEAD) // _win.WINDOW) * _win.WINDOW
        try:
            self._can_allocate = allocate(self._fd, self._allocated, target - self._allocated)
        except OSError as e:
            raise named_error(e, self.name) from e
        self._allocated = target

    def _reap_one(self) -> None:
        task, future = self._pending.popleft()
        files = [p for p in task.pieces if p.data is None]
        for piece, digests in zip(files, future.result(), strict=True):
            self.judge(piece.tag, digests)

    def _reap(self, *, wait: bool) -> None:
        while self._pending and (wait or self._pending[0][1].done()):
            self._reap_one()

    # -- after close

    def patch(self, offset: int, data: bytes) -> None:
        """Overwrite bytes already written (the manifest, once its digests are known): the aligned
        blocks around them are read, changed and written back when writing directly."""
        if not self.written or offset + len(data) > self.pos:
            raise ValueError("patch of bytes not written yet")
        if not self.direct:
            self._pwrite(memoryview(data), offset)
            return
        start = offset - offset % ALIGN
        end = -(-(offset + len(data)) // ALIGN) * ALIGN
        buf = mmap.mmap(-1, end - start)
        try:
            view = memoryview(buf)
            got = 0
            while got < len(view):
                try:
                    n = os.preadv(self._fd, [view[got:]], start + got)
                except OSError as e:
                    raise named_error(e, self.name) from e
                if not n:
                    raise ChangedError(f"{self.name} is shorter than what was written to it")
                got += n
            view[offset - start : offset - start + len(data)] = data
            self._pwrite(view, start)
            view.release()
        finally:
            buf.close()

    def _pwrite(self, view: memoryview, at: int) -> None:
        try:
            while view:
                n = os.pwrite(self._fd, view, at)
                view, at = view[n:], at + n
        except OSError as e:
            raise named_error(e, self.name) from e

    def truncate(self) -> None:
        """Cut the file to the bundle's size (space allocated ahead and the last window's padding)."""
        try:
            os.ftruncate(self._fd, self.pos)
            if not self.direct:
                drop_cached(self._fd, 0, self.pos)
        except OSError as e:
            raise named_error(e, self.name) from e
