"""pack's way to a bundle file: blobs copied in the kernel, hashed from the bundle on every core.

Streaming a blob through Python with its sha256 on one helper thread (:func:`copy_hashed`, the
way to stdout and to volumes) runs at one core's sha256 speed, ~1.2 GB/s here, whatever the
disk. To one file it goes faster: each blob is copied from the cache into the bundle in the
kernel (``copy_file_range``, ~3.5 GB/s from the page cache here) while worker threads hash it
*from the bundle file*, close behind the copy, several blobs at once: the hashing runs on
every core, and what is hashed is exactly what was shipped. Small files go through a 4 MiB
buffer with the tar headers around them, written at explicit offsets in large chunks and
hashed in batches. Writeback of the bundle starts every 32 MiB, so the final fsync finds
little left to write, and pages already hashed and written are dropped from the page cache.

Nothing here decides what a wrong digest means: :class:`BundleHasher` hands every member's
digests, in bundle order, to the caller's ``judge``, which raises to stop the pack.
"""

from __future__ import annotations

import errno
import io
import mmap
import os
import tarfile
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from hfcache.bundle.staged import Growing
from hfcache.bundle.tarwriter import header
from hfcache.fs.hashing import Algo, new_hasher
from hfcache.fs.writeback import advise_sequential, drop_cached, start_writeback

BUFFER = 4 << 20  # headers and small files gather here and are written in one pwrite
SMALL = 1 << 20  # files up to this size are read into the buffer; larger ones copied in the kernel
COPY_STEP = 16 << 20  # kernel copies go in steps: the hasher follows, progress moves
WRITEBACK_STEP = 32 << 20  # start writing the bundle to disk this often
MAX_PENDING = 1 << 30  # written but not yet hashed: past this, wait (the pages must stay cached)
BATCH = (64, 8 << 20)  # small members hashed by one pool task: files, bytes
_READ = 1 << 20  # the hashers' read size (the chunk stays in the core's cache while hashed)
_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE
_NO_KERNEL_COPY = (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM)
_buffers = threading.local()


class ChangedError(Exception):
    """A source file is shorter than it was when selected: it changed while being packed."""


@dataclass(frozen=True)
class Region:
    """A member's bytes in the bundle and what to hash them with; ``tag`` is the caller's."""

    offset: int
    size: int
    algos: frozenset[Algo]
    tag: Any


def _view() -> memoryview:
    """This thread's page-aligned read buffer (the kernel fills an unaligned one at half speed)."""
    view: memoryview | None = getattr(_buffers, "view", None)
    if view is None:
        view = _buffers.view = memoryview(mmap.mmap(-1, _READ))
    return view


def _hash_regions(path: str, regions: list[Region], growing: Growing | None) -> list[dict[Algo, str]]:
    """Hash each region of the file at ``path``; with ``growing`` (one region), follow the writer."""
    view = _view()
    out = []
    with io.FileIO(path, "rb") as f:
        for r in regions:
            hashers = {a: new_hasher(a, r.size) for a in r.algos}
            f.seek(r.offset)
            done = 0
            while done < r.size:
                ready = growing.wait_beyond(done) if growing is not None else r.size
                if ready <= done:
                    raise ChangedError(f"the copy of {r.tag} stopped after {done} of {r.size} bytes")
                while done < ready:
                    n = f.readinto(view[: min(_READ, ready - done)])
                    if not n:
                        raise ChangedError(f"the bundle ends inside {r.tag}")
                    for h in hashers.values():
                        h.update(view[:n])
                    done += n
            out.append({a: h.hexdigest() for a, h in hashers.items()})
    return out


class BundleHasher:
    """Hashes regions of the bundle file on worker threads, behind the writer, several at once.

    Results reach ``judge(region, digests)`` on the writer's thread, in bundle order, from
    :meth:`reap` (called as the writer goes on) and :meth:`finish`; whatever ``judge`` raises
    stops the pack. Leaving the ``with`` block cancels what is queued and waits for what runs.
    """

    def __init__(
        self,
        path: str,
        judge: Callable[[Region, dict[Algo, str]], None],
        workers: int | None = None,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self._path, self._judge = path, judge
        self._pool = ThreadPoolExecutor(workers or max(1, min(8, os.cpu_count() or 1)), "hfcache-pack-hash")
        self._pending: deque[tuple[list[Region], Future[list[dict[Algo, str]]]]] = deque()
        self._pending_bytes = 0
        self._max_pending = max_pending
        self._batch: list[Region] = []
        self._batch_bytes = 0
        self.hashed_to = 0
        """Every byte of every member before this offset has been hashed."""

    def __enter__(self) -> BundleHasher:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, regions: list[Region], growing: Growing | None) -> None:
        self._pending.append((regions, self._pool.submit(_hash_regions, self._path, regions, growing)))
        self._pending_bytes += sum(r.size for r in regions)

    def follow(self, region: Region) -> Growing:
        """Hash ``region`` as it is written: the writer calls ``advance(n)`` after each step and
        ``close()`` at the end (also on failure)."""
        self._flush_batch()
        self.reap()
        growing = Growing()
        self._submit([region], growing)
        return growing

    def written(self, region: Region) -> None:
        """``region`` is completely written: hash it with other small ones, in one task."""
        self._batch.append(region)
        self._batch_bytes += region.size
        if len(self._batch) >= BATCH[0] or self._batch_bytes >= BATCH[1]:
            self._flush_batch()
            self.reap()

    def _flush_batch(self) -> None:
        if self._batch:
            batch, self._batch, self._batch_bytes = self._batch, [], 0
            self._submit(batch, None)

    def reap(self, *, wait: bool = False) -> None:
        """Judge the results that are in, in order (all of them with ``wait``); past
        ``max_pending`` unhashed bytes, wait for the oldest."""
        while self._pending:
            regions, future = self._pending[0]
            if not (wait or future.done() or self._pending_bytes > self._max_pending):
                return
            digests = future.result()
            self._pending.popleft()
            self._pending_bytes -= sum(r.size for r in regions)
            for region, got in zip(regions, digests, strict=True):
                self._judge(region, got)
                self.hashed_to = max(self.hashed_to, region.offset + region.size)

    def finish(self) -> None:
        self._flush_batch()
        self.reap(wait=True)


_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)  # a kernel copy failing on the bundle's side


def _named(e: OSError, path: str) -> OSError:
    return type(e)(e.errno, e.strerror or str(e), path)


class PositionalTar:
    """A tar written at explicit offsets of a bundle file: the same bytes :class:`TarWriter`
    writes, with each file's bytes hashed by ``hasher`` from the bundle itself.

    OSErrors name the file they are about: ``name`` (the bundle, as the user named it) for a
    failed write, the source for a failed read."""

    def __init__(
        self, fd: int, start: int, hasher: BundleHasher, advance: Callable[[int], None], name: str
    ) -> None:
        self.fd, self.pos, self.hasher, self.advance, self.name = fd, start, hasher, advance, name
        self._buf = memoryview(mmap.mmap(-1, BUFFER))
        self._used = 0
        self._in_buffer: list[Region] = []  # small members written into the buffer, not yet to the file
        self._kicked = self._dropped = start
        self._kernel_copy = hasattr(os, "copy_file_range")

    @property
    def end(self) -> int:
        """The offset after everything written so far (buffered or not)."""
        return self.pos + self._used

    def _put(self, data: bytes) -> None:
        if self._used + len(data) > BUFFER:
            self.flush()
        if len(data) > BUFFER:
            self._pwrite(data, self.pos)
            self.pos += len(data)
            return
        self._buf[self._used : self._used + len(data)] = data
        self._used += len(data)

    def _pad(self, size: int) -> None:
        if size % _BLOCK:
            self._put(b"\0" * (_BLOCK - size % _BLOCK))

    def flush(self) -> None:
        """Write the buffer; hand the small members in it to the hashers."""
        if self._used:
            self._pwrite(self._buf[: self._used], self.pos)
            self.pos += self._used
            self._used = 0
        for region in self._in_buffer:
            self.hasher.written(region)
        self._in_buffer = []
        self._writeback()

    def _pwrite(self, data: memoryview | bytes, offset: int) -> None:
        view = memoryview(data)
        try:
            while view:
                n = os.pwrite(self.fd, view, offset)
                view, offset = view[n:], offset + n
        except OSError as e:
            raise _named(e, self.name) from e

    def _writeback(self, force: bool = False) -> None:
        """Start writeback of what was written since the last time; drop the cached pages that
        are written (at least one step ago) and hashed."""
        if self.pos - self._kicked < WRITEBACK_STEP and not force:
            return
        start_writeback(self.fd, self._kicked, self.pos - self._kicked)
        done = min(self.hasher.hashed_to, self._kicked) & ~(mmap.PAGESIZE - 1)
        if done > self._dropped:
            drop_cached(self.fd, self._dropped, done - self._dropped)
            self._dropped = done
        self._kicked = self.pos

    def add_bytes(self, name: str, data: bytes, mtime: float) -> int:
        """A regular member holding ``data``; returns the offset of its data in the bundle."""
        self._put(header(name, len(data), mtime=mtime))
        at = self.end
        self._put(data)
        self._pad(len(data))
        return at

    def add_link(self, name: str, target: str, mtime: float) -> None:
        self._put(header(name, link=target, mtime=mtime))

    def add_file(self, name: str, source: str, size: int, algos: frozenset[Algo], tag: Any) -> None:
        """Copy ``size`` bytes of ``source`` in as a member; its hashes reach the hasher's judge
        with ``tag``. ChangedError if the file holds fewer bytes than that now."""
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        src = os.open(source, flags)
        try:
            self._put(header(name, size, mtime=os.fstat(src).st_mtime))
            if size <= SMALL and self._used + size <= BUFFER:
                self._read_small(src, size, algos, tag)
            else:
                self._copy_big(src, size, algos, tag)
        except OSError as e:
            raise e if e.filename is not None else _named(e, source) from e
        finally:
            os.close(src)
        self._pad(size)

    def _read_small(self, src: int, size: int, algos: frozenset[Algo], tag: Any) -> None:
        at = self._used
        got = 0
        while got < size:
            n = os.readv(src, [self._buf[at + got : at + size]])
            if not n:
                raise ChangedError(f"{tag}: {size} bytes expected, the file ends after {got}")
            got += n
        self._in_buffer.append(Region(self.pos + at, size, algos, tag))
        self._used += size
        self.advance(size)

    def _copy_big(self, src: int, size: int, algos: frozenset[Algo], tag: Any) -> None:
        self.flush()
        advise_sequential(src)
        growing = self.hasher.follow(Region(self.pos, size, algos, tag))
        try:
            done = 0
            while done < size:
                step = min(COPY_STEP, size - done)
                copied = self._copy(src, step)
                if not copied:
                    raise ChangedError(f"{tag}: {size} bytes expected, the file ends after {done}")
                done += copied
                self.pos += copied
                growing.advance(copied)
                self.advance(copied)
                self._writeback()
        finally:
            growing.close()

    def _copy(self, src: int, count: int) -> int:
        """Copy up to ``count`` bytes from ``src``'s position to the bundle's end; bytes copied."""
        if self._kernel_copy:
            try:
                return os.copy_file_range(src, self.fd, count, None, self.pos)
            except OSError as e:  # across file systems on some kernels, or a file system without it
                if e.errno in _FULL:
                    raise _named(e, self.name) from e
                if e.errno not in _NO_KERNEL_COPY:
                    raise
                self._kernel_copy = False
        view = self._buf[: min(count, BUFFER)]  # the buffer is empty here (flushed)
        n = os.readv(src, [view])
        if n:
            self._pwrite(view[:n], self.pos)
        return n

    def close(self) -> None:
        """The end-of-archive blocks, padded to a whole record; everything written."""
        self._put(b"\0" * (2 * _BLOCK))
        if self.end % _RECORD:
            self._put(b"\0" * (_RECORD - self.end % _RECORD))
        self.flush()
        self._writeback(force=True)

    def patch(self, offset: int, data: bytes) -> None:
        """Overwrite bytes already written (the manifest, once its digests are known)."""
        if offset + len(data) > self.pos:
            raise ValueError("patch beyond what was written")
        self._pwrite(data, offset)


