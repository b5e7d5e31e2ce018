"""unpack's way to stage the blobs of a bundle file: each read once, hashed in memory, written
in aligned 4 MiB chunks, on worker threads, several blobs at once.

Where the bundle is a file (or volumes), where each blob's bytes are is known from its header,
so the main thread only reads headers and hands each blob to a worker (small ones in batches).
A worker reads its blob straight from the bundle (positional reads, 1 MiB at a time: hashed
while still in the core's cache) into a 4 MiB page-aligned window, hashes it there and writes
the window to the staged file: with ``O_DIRECT`` from 1 MiB where the file system allows it,
into space allocated ahead (the disk DMAs from the window: one copy per byte, no page cache
filled, nothing left dirty for the sync before installing); through the page cache below 1 MiB
or where refused, written back by the kernel and by the one sync before installing (starting
writeback from the workers made them wait for the disk's queue: 1.5-1.9 s instead of 0.8 s for
0.84 GB here). What is staged is exactly what was hashed.
There are more workers than cores, so that while some wait for the disk the others hash.
Results are judged in bundle order, as :class:`StagedVerifier` does for a stream.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from hfcache.bundle.shortfall import CutShortError
from hfcache.bundle.staged import Expected
from hfcache.fs.hashing import Algo, new_hasher
from hfcache.fs.writeback import allocate

DIRECT_FROM = 1 << 20  # staged files from this size are written with O_DIRECT (where allowed)
WINDOW = 4 << 20  # written at once, at aligned offsets of the staged file
CHUNK = 1 << 20  # read and hashed at once (stays in the core's cache between the two)
ALIGN = 4096
BATCH_BELOW = 1 << 20  # blobs smaller than this share a task (a task costs ~65 us, a 40 KB file less)
BATCH = (64, 8 << 20)  # small blobs staged by one task: files, bytes
_O_DIRECT = getattr(os, "O_DIRECT", 0)
_windows = threading.local()
_fsync = os.fsync  # a module attribute, so that tests can watch it


class Source(Protocol):
    """Where the stager reads a bundle file's bytes: from any thread, at any offset."""

    def read_at(self, view: memoryview, offset: int, /) -> int: ...

    def will_need(self, offset: int, size: int, /) -> None: ...


def _window() -> memoryview:
    view: memoryview | None = getattr(_windows, "view", None)
    if view is None or len(view) != WINDOW:
        view = _windows.view = memoryview(mmap.mmap(-1, WINDOW))
    return view


def _direct(fd: int) -> bool:
    """Switch ``fd`` to O_DIRECT; False where the file system refuses it."""
    if not _O_DIRECT:
        return False
    import fcntl

    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | _O_DIRECT)
    except OSError:
        return False
    return True


def _undirect(fd: int) -> None:
    import fcntl

    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~_O_DIRECT)


def _pwrite(fd: int, view: memoryview, at: int, direct: bool) -> bool:
    """Write all of ``view`` at ``at``; returns whether ``fd`` is still direct (EINVAL: the file
    system wants another alignment, so the rest goes through the page cache)."""
    while view:
        try:
            n = os.pwrite(fd, view, at)
        except OSError as e:
            if not (direct and e.errno == errno.EINVAL):
                raise
            _undirect(fd)
            direct = False
            continue
        view, at = view[n:], at + n
    return direct


class _Stopped(Exception):
    """The stager was left early: a worker drops the blob it is writing."""


def stage_one(
    source: Source,
    expected: Expected,
    offset: int,
    sync_each: bool,
    advance: Callable[[int], None],
    stop: threading.Event | None = None,
) -> dict[Algo, str]:
    """Copy ``expected.size`` bytes at ``offset`` of the bundle to ``expected.path`` (created
    here, must not exist), hashing them on the way; the digests. Once ``stop`` is set, stops
    at the next window."""
    size = expected.size
    hashers = {a: new_hasher(a, size) for a in expected.digests}
    window = _window()
    fd = os.open(expected.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        direct = size >= DIRECT_FROM and _direct(fd)
        if direct:
            with contextlib.suppress(OSError):  # best effort: the writes allocate what is missing
                allocate(fd, 0, size)
        padded = False
        pos = 0
        if size > CHUNK:
            source.will_need(offset, min(size, WINDOW))
        while pos < size:
            if stop is not None and stop.is_set():
                raise _Stopped()
            length = min(WINDOW, size - pos)
            if size > pos + WINDOW:  # the next window is read from disk while this one is hashed
                source.will_need(offset + pos + WINDOW, min(WINDOW, size - pos - WINDOW))
            got = 0
            while got < length:
                n = source.read_at(window[got : got + min(CHUNK, length - got)], offset + pos + got)
                if not n:
                    raise CutShortError(f"the bundle is cut short inside {expected.member}")
                for h in hashers.values():
                    h.update(window[got : got + n])
                got += n
            if direct:
                end = -(-length // ALIGN) * ALIGN
                window[length:end] = bytes(end - length)
                padded = end > length
                direct = _pwrite(fd, window[:end], pos, True)
            else:
                _pwrite(fd, window[:length], pos, False)
            advance(length)
            pos += length
        if padded:
            os.ftruncate(fd, size)  # the last direct write was padded to the alignment
        if sync_each:
            _fsync(fd)
    finally:
        os.close(fd)
    return {a: h.hexdigest() for a, h in hashers.items()}


def _stage_batch(
    source: Source,
    batch: list[tuple[Expected, int]],
    sync_each: bool,
    advance: Callable[[int], None],
    stop: threading.Event,
) -> list[dict[Algo, str]]:
    return [stage_one(source, expected, offset, sync_each, advance, stop) for expected, offset in batch]


class DirectStager:
    """Stages blobs of a bundle file on worker threads; raises at the first bad one, in order.

    Errors (BundleError for bad bytes, OSError for a failing disk) surface from :meth:`stage`
    (for work already done) or :meth:`finish`. Use as a context manager: leaving it cancels
    what is queued and waits for what runs, so no thread still writes a staged file when the
    caller deletes the staging folder. ``sync_each``: fsync every staged file as it is written
    (where the installer cannot make them durable in one call).
    """

    def __init__(
        self,
        source: Source,
        advance: Callable[[int], None],
        *,
        workers: int | None = None,
        sync_each: bool = True,
    ) -> None:
        self._source, self._advance, self._sync_each = source, advance, sync_each
        self._stop = threading.Event()
        n = workers or min(6, (os.cpu_count() or 1) + 2)  # some wait for the disk, the others hash
        self._pool = ThreadPoolExecutor(n, "hfcache-stage")
        self._in_flight = n + 2
        self._pending: deque[tuple[list[Expected], Future[list[dict[Algo, str]]]]] = deque()
        self._batch: list[tuple[Expected, int]] = []
        self._batch_bytes = 0

    def __enter__(self) -> DirectStager:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # a worker in the middle of a big blob stops at its next window
        self._pool.shutdown(wait=True, cancel_futures=True)

    def stage(self, expected: Expected, offset: int) -> None:
        """Stage ``expected`` from ``offset`` of the bundle (its folder must exist)."""
        if expected.size < BATCH_BELOW:
            self._batch.append((expected, offset))
            self._batch_bytes += expected.size
            if len(self._batch) >= BATCH[0] or self._batch_bytes >= BATCH[1]:
                self._flush()
            return
        self._flush()
        self._submit([(expected, offset)])

    def _flush(self) -> None:
        if self._batch:
            batch, self._batch, self._batch_bytes = self._batch, [], 0
            self._submit(batch)

    def _submit(self, batch: list[tuple[Expected, int]]) -> None:
        while self._pending and (self._pending[0][1].done() or len(self._pending) >= self._in_flight):
            self._judge_one()
        future = self._pool.submit(
            _stage_batch, self._source, batch, self._sync_each, self._advance, self._stop
        )
        self._pending.append(([e for e, _ in batch], future))

    def _judge_one(self) -> None:
        batch, future = self._pending.popleft()
        for expected, digests in zip(batch, future.result(), strict=True):
            expected.check(digests)

    def finish(self) -> None:
        """Wait for every blob; BundleError for the first bad one."""
        self._flush()
        while self._pending:
            self._judge_one()
