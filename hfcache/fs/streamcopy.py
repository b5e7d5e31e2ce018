"""Copy exactly N bytes between streams while hashing them: the inner loop of pack and unpack.

pack hashes what it writes (so the manifest's digests are those of the very bytes shipped) and
unpack hashes what it reads (a bundle is verified as it is installed), both over tar streams
that may be pipes: only ``read``/``readinto``/``write`` are used, in order, once per byte.
Memory is a few reusable buffers per thread whatever the size. See :func:`copy_hashed` for
the measured choice of overlapping the hashing with the I/O.
"""

from __future__ import annotations

import errno
import mmap
import os
import queue
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from hfcache.fs.hashing import Algo, Hasher, new_hasher

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

BUFFER_SIZE = 1 << 20
DEPTH = 3  # buffers in flight when overlapping: one being read, up to two being hashed
OVERLAP_MIN_SIZE = BUFFER_SIZE  # below this, the helper thread's ~250 us start+join outweighs the gain
PIPE_SIZE = 1 << 20  # Linux's default ceiling for an unprivileged process (/proc/sys/fs/pipe-max-size)
_tls = threading.local()


def widen_pipe(stream: Any) -> None:
    """Give the pipe ``stream`` reads or writes a 1 MiB buffer, if it is a pipe with a smaller one.

    With Linux's default 64 KiB the two processes take turns sixteen times per MiB: ``cat bundle
    | hfcache unpack -`` of 1.5 GB took 3.9 s here, 2.0 s with 1 MiB. Best effort: a pipe the
    kernel will not widen (over the ceiling, or not Linux) keeps its size."""
    try:
        import fcntl

        fd = stream.fileno()
        setsize, getsize = getattr(fcntl, "F_SETPIPE_SZ", None), getattr(fcntl, "F_GETPIPE_SZ", None)
        if setsize is None or getsize is None or not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return
        if fcntl.fcntl(fd, getsize) < PIPE_SIZE:
            fcntl.fcntl(fd, setsize, PIPE_SIZE)
    except (OSError, ValueError, ImportError, AttributeError):  # not a real file (a test's buffer)
        return


class Source(Protocol):
    """What :func:`copy_hashed` reads: ``readinto`` is used when the object has it."""

    def read(self, size: int, /) -> bytes | None: ...


class Sink(Protocol):
    """What :func:`copy_hashed` writes to (a file, a VolumeWriter, ``sys.stdout.buffer``...)."""

    def write(self, data: ReadableBuffer, /) -> int | None: ...


@contextmanager
def _buffers(count: int, size: int) -> Iterator[list[memoryview]]:
    """``count`` page-aligned buffers of ``size`` bytes, kept per thread and reused across calls.

    Page-aligned (mmap) because the kernel copies into an unaligned ``bytearray`` at half the
    speed (hashing.py); reused because mapping and faulting in fresh buffers costs ~1 ms per
    4 MiB, which would dominate the many small files of a bundle. A nested call (from a
    progress callback) gets buffers of its own.
    """
    if getattr(_tls, "busy", False):
        yield [memoryview(mmap.mmap(-1, size)) for _ in range(count)]
        return
    pool: list[memoryview] = getattr(_tls, "pool", [])
    if pool and len(pool[0]) != size:
        pool = []
    while len(pool) < count:
        pool.append(memoryview(mmap.mmap(-1, size)))
    _tls.pool, _tls.busy = pool, True
    try:
        yield pool[:count]
    finally:
        _tls.busy = False


def _reader(src: Source, views: list[memoryview], size: int) -> Callable[[int], memoryview | bytes]:
    """A function that returns chunk ``k`` (into ``views[k % len(views)]`` when ``src`` has
    ``readinto``), of ``min(left, buffer)`` bytes, looping over short reads (pipes)."""
    readinto: Any = getattr(src, "readinto", None)
    done = 0

    def short(got: int) -> EOFError:
        return EOFError(f"stream ended after {done + got} of {size} bytes: truncated")

    def read_chunk(k: int) -> memoryview | bytes:
        nonlocal done
        view = views[k % len(views)]
        want = min(size - done, len(view))
        got = 0
        if readinto is not None:
            while got < want:
                n = readinto(view[got:want] if got or want != len(view) else view)
                if not n:
                    raise short(got)
                got += n
            done += want
            return view if want == len(view) else view[:want]
        parts: list[bytes] = []
        while got < want:
            data = src.read(want - got)
            if not data:
                raise short(got)
            parts.append(data)
            got += len(data)
        done += want
        return parts[0] if len(parts) == 1 else b"".join(parts)

    return read_chunk


def _write_all(dst: Sink, chunk: memoryview | bytes) -> None:
    """Write all of ``chunk``, also to raw streams that may accept only part of it."""
    written = dst.write(chunk) or 0
    while written < len(chunk):
        n = dst.write(memoryview(chunk)[written:])
        if not n:
            raise OSError(errno.EAGAIN, "the destination accepted no bytes (non-blocking?)")
        written += n


def copy_hashed(
    src: Source,
    dst: Sink | None,
    size: int,
    algos: Iterable[Algo],
    *,
    progress: Callable[[int], None] | None = None,
    buffer_size: int = BUFFER_SIZE,
) -> dict[Algo, str]:
    """Copy exactly ``size`` bytes from ``src`` to ``dst`` (None: read and hash only); return
    the hex digests of ``algos`` (SHA256, GIT_SHA1: git's blob id; none is fine) of those bytes.

    Raises EOFError if ``src`` ends early (a truncated bundle), ValueError for XET (hf_xet
    hashes whole files, not streams). ``src`` must be blocking; ``readinto`` is used if it has
    one, else ``read``. ``progress(n)`` gets increments after each chunk is written, from the
    calling thread. Bytes after ``size`` are left unread.

    From ``OVERLAP_MIN_SIZE`` bytes with a digest to compute, one helper thread hashes chunk k
    while this thread writes chunk k and reads chunk k+1 (``DEPTH`` rotating buffers): hashlib,
    reads and writes all release the GIL, so on 2 cores the copy takes max(hash, I/O) instead of
    their sum. Measured with benchmarks/bench_streamcopy.py (2-core EPYC VM, page cache warm,
    2 GiB file to file, sha256 at ~1.5 GB/s with SHA-NI): see benchmarks/README.md.
    """
    wanted = {Algo(a) for a in algos}
    if Algo.XET in wanted:
        raise ValueError("copy_hashed cannot compute Xet hashes: hf_xet hashes whole files only")
    if size < 0 or buffer_size <= 0:
        raise ValueError(f"size must be >= 0 and buffer_size > 0 (got {size}, {buffer_size})")
    hashers = [new_hasher(a, size) for a in sorted(wanted)]
    overlap = bool(hashers) and size >= OVERLAP_MIN_SIZE
    with _buffers(DEPTH if overlap else 1, buffer_size) as views:
        read_chunk = _reader(src, views, size)
        if overlap:
            _overlapped(read_chunk, dst, size, hashers, progress, len(views))
        else:
            left, k = size, 0
            while left:
                chunk = read_chunk(k)
                if dst is not None:
                    _write_all(dst, chunk)
                for h in hashers:
                    h.update(chunk)
                left, k = left - len(chunk), k + 1
                if progress is not None:
                    progress(len(chunk))
    return {a: h.hexdigest() for a, h in zip(sorted(wanted), hashers, strict=True)}


def _overlapped(
    read_chunk: Callable[[int], memoryview | bytes],
    dst: Sink | None,
    size: int,
    hashers: list[Hasher],
    progress: Callable[[int], None] | None,
    depth: int,
) -> None:
    """The copy loop with hashing on a helper thread, chunks handed over in order.

    Chunk k's buffer is refilled (as chunk k+depth) only after the helper reported chunk k
    hashed; this thread has written it by then. On any error here the helper is told to stop
    and joined (it finishes at most ``depth`` chunks), so nothing outlives the call.
    """
    todo: queue.SimpleQueue[memoryview | bytes | None] = queue.SimpleQueue()
    done: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()

    def hash_chunks() -> None:
        try:
            while (chunk := todo.get()) is not None:
                for h in hashers:
                    h.update(chunk)
                done.put(None)
        except BaseException as exc:  # reported to the caller, which re-raises it
            done.put(exc)

    def wait_one() -> None:
        error = done.get()
        if error is not None:
            raise error

    helper = threading.Thread(target=hash_chunks, name="hfcache-copy-hash", daemon=True)
    helper.start()
    in_flight, left, k = 0, size, 0
    try:
        while left:
            if in_flight == depth:
                wait_one()
                in_flight -= 1
            chunk = read_chunk(k)
            todo.put(chunk)
            in_flight += 1
            if dst is not None:
                _write_all(dst, chunk)
            left, k = left - len(chunk), k + 1
            if progress is not None:
                progress(len(chunk))
        while in_flight:
            wait_one()
            in_flight -= 1
    finally:
        todo.put(None)
        helper.join()
