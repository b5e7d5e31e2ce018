"""Streaming, parallel hashing of cache files: sha256, git blob sha1 and Xet hashes.

``doctor --verify`` reads every byte of caches of hundreds of GB, so this engine keeps memory
flat whatever the file size, keeps every core busy, reads a file once for all its hashlib
digests, never follows a link out of the cache, and yields each result as soon as it is done,
with an I/O error confined to its own result. Measured choices (benchmarks/README.md):

* One reusable 1 MiB ``readinto`` buffer per worker thread (64 KiB-16 MiB all hash at the
  same speed). hashlib's OpenSSL digests release the GIL, so a thread pool scales with cores;
  files run biggest-first, small ones batched per task (a future costs ~65 us).
* ``O_NOFOLLOW`` refuses a final-component link; ``O_NONBLOCK`` keeps a FIFO from hanging.
* ``hf_xet.hash_files`` releases the GIL, hashes one file on one core but several files of a
  call at once, streams (flat in file size; ~200-290 MB in all, whether 1 or 8 calls run), costs
  ~0.3-0.7 ms per file and call, and has no progress. So Xet files go in batches on a second
  pool of ``workers`` threads (big files alone, small ones 64 a call), as ``/proc/self/fd``
  paths of descriptors opened here. Xet is a pass of its own; hf_xet cancels it on SIGINT.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import mmap
import os
import stat
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

BUFFER_SIZE = 1 << 20
LOCAL_BATCH = (64, 8 << 20)  # files, bytes: small files share a task (a future costs ~65 us)
XET_BATCH = (64, 512 << 20)  # files, bytes per hf_xet call
XET_UNAVAILABLE = "hf_xet (1.3 or later) not installed; Xet hash not checked"

Progress = Callable[[int], None]
_OPEN_FLAGS = (
    os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
)
_PROC_FD = "/proc/self/fd"
_tls = threading.local()


class Algo(str, Enum):
    """A digest the engine can compute."""

    SHA256 = "sha256"  # names LFS blobs
    GIT_SHA1 = "git-sha1"  # sha1(b"blob <size>\0" + content): names regular (non-LFS) blobs
    XET = "xet"  # hf_xet's file hash


@dataclass(frozen=True)
class HashJob:
    """One file to hash. ``size`` (if known) orders the work; unknown sizes are ``lstat``-ed."""

    path: str
    algos: frozenset[Algo]
    size: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "algos", frozenset(Algo(a) for a in self.algos))

    @property
    def passes(self) -> int:
        """Reads of the file: hashlib digests share one, Xet needs its own (bar total: size*passes)."""
        return int(bool(self.algos - {Algo.XET})) + int(Algo.XET in self.algos)


@dataclass(frozen=True)
class HashResult:
    """A digest or an error message for each requested algo; ``nbytes``: the size as read.

    An algo whose error is :data:`XET_UNAVAILABLE` was skipped: an info, not a fault of the file.
    """

    job: HashJob
    digests: dict[Algo, str]
    nbytes: int
    errors: dict[Algo, str] = field(default_factory=dict)

    @property
    def error(self) -> str | None:
        """The first error message, or None when every requested digest was computed."""
        return next(iter(self.errors.values()), None)


class Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...
    def hexdigest(self) -> str: ...


_Outcome = tuple[dict[Algo, str], int, dict[Algo, str]]  # digests, nbytes, errors
_Parts = list[tuple[int, _Outcome]]  # (job index, outcome) as a task returns them


class _Cancelled(Exception):
    """Raised in a worker to drop its file when :func:`hash_files` is being torn down."""


def git_blob_sha1(data: bytes) -> str:
    """The git blob id of ``data``: what ``git hash-object`` prints for it."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def hash_bytes(data: bytes, algo: Algo) -> str:
    """The digest of bytes in memory (sha256 or git blob sha1), as :func:`hash_file` gives for a file."""
    h = new_hasher(algo, len(data))
    h.update(data)
    return h.hexdigest()


def algo_for(etag: str) -> Algo:
    """Which hash names a blob: 64 hex is a sha256 (LFS), 40 hex a git blob sha1."""
    return Algo.SHA256 if len(etag) == 64 else Algo.GIT_SHA1


def new_hasher(algo: Algo, size: int) -> Hasher:
    """A fresh hasher for ``algo`` over content of ``size`` bytes (the git form hashes a size header).

    Xet has no incremental hasher here: it is computed by :func:`hash_files` through hf_xet.
    """
    if algo is Algo.XET:
        raise ValueError("Xet hashes come from hash_files, not an incremental hasher")
    if algo is Algo.SHA256:
        return hashlib.sha256()
    h = hashlib.sha1(usedforsecurity=False)
    h.update(b"blob %d\0" % size)
    return h


def _buffer() -> tuple[mmap.mmap, memoryview]:
    """This thread's read buffer: a page-aligned mmap, as a fresh 1 MiB ``bytearray`` starts
    16 bytes into a page, which halved the speed of the kernel's copy here (AMD EPYC)."""
    if not hasattr(_tls, "buf"):
        _tls.buf = mmap.mmap(-1, BUFFER_SIZE)
        _tls.view = memoryview(_tls.buf)
    return _tls.buf, _tls.view


def _describe(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "is a symlink: refused, not followed (O_NOFOLLOW)"
    name = errno.errorcode.get(exc.errno or 0)
    text = exc.strerror or str(exc)
    return f"{text} ({name})" if name else text


def _open(path: str) -> tuple[int, os.stat_result]:
    """Open a regular file to read, refusing a final-component link; raise OSError otherwise."""
    if not hasattr(os, "O_NOFOLLOW") and os.path.islink(path):  # e.g. Windows: best effort
        raise OSError(errno.ELOOP, "is a symlink", path)
    fd = os.open(path, _OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.EINVAL
            raise OSError(kind, "not a regular file", path)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def _hash_local(
    path: str, algos: frozenset[Algo], progress: Progress | None, stop: threading.Event | None
) -> _Outcome:
    """Compute every hashlib digest of ``algos`` in one streaming pass over ``path``."""
    try:
        fd, st = _open(path)
    except OSError as exc:
        return {}, 0, dict.fromkeys(algos, _describe(exc))
    nbytes = 0
    try:
        with io.FileIO(fd, "rb", closefd=True) as f:
            if st.st_size > BUFFER_SIZE and hasattr(os, "posix_fadvise"):
                with contextlib.suppress(OSError):
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            hashers = {a: new_hasher(a, st.st_size) for a in algos}
            buf, view = _buffer()
            while n := f.readinto(buf):
                if stop is not None and stop.is_set():
                    raise _Cancelled
                chunk = view if n == BUFFER_SIZE else view[:n]
                for h in hashers.values():
                    h.update(chunk)
                nbytes += n
                if progress is not None:
                    progress(n)
    except OSError as exc:
        return {}, nbytes, dict.fromkeys(algos, f"read failed after {nbytes} bytes: {_describe(exc)}")
    if nbytes != st.st_size:
        return {}, nbytes, dict.fromkeys(algos, f"changed while hashed: size {st.st_size}, read {nbytes}")
    return {a: h.hexdigest() for a, h in hashers.items()}, nbytes, {}


def _xet_call(hf_xet: Any, paths: list[str], stop: threading.Event | None) -> list[Any]:
    """hf_xet fails a whole batch on one bad file: then retry one by one to pin the error."""
    if not paths:
        return []
    try:
        return list(hf_xet.hash_files(paths))
    except Exception as exc:
        if stop is not None and stop.is_set():
            raise _Cancelled from exc
        if len(paths) == 1:
            return [f"Xet hashing failed: {exc}"]
        return [r for p in paths for r in _xet_call(hf_xet, [p], stop)]


def _hash_xet(
    items: list[tuple[int, str]], progress: Progress | None, stop: threading.Event | None
) -> _Parts:
    """Xet-hash a batch of ``(index, path)`` with one hf_xet call."""
    if stop is not None and stop.is_set():
        raise _Cancelled
    try:
        # hf_xet otherwise writes a log file per process into HF_HOME/xet/logs: the very
        # cache being verified. An explicit setting by the user wins.
        os.environ.setdefault("HF_XET_LOG_DEST", os.devnull)
        import hf_xet
    except ImportError:
        hf_xet = None
    if not hasattr(hf_xet, "hash_files"):  # missing, or a release before 1.3, which cannot hash files
        return [(i, ({}, 0, {Algo.XET: XET_UNAVAILABLE})) for i, _ in items]
    out: _Parts = []
    opened: list[tuple[int, int, int, str]] = []  # index, fd, size, path handed to hf_xet
    proc = os.path.isdir(_PROC_FD)
    try:
        for i, path in items:
            try:
                fd, st = _open(path)
            except OSError as exc:
                out.append((i, ({}, 0, {Algo.XET: _describe(exc)})))
                continue
            opened.append((i, fd, st.st_size, f"{_PROC_FD}/{fd}" if proc else path))
        for (i, _, size, _), res in zip(opened, _xet_call(hf_xet, [o[3] for o in opened], stop), strict=True):
            if isinstance(res, str):
                out.append((i, ({}, 0, {Algo.XET: res})))
                continue
            n = int(res.file_size)
            if progress is not None:
                progress(n)
            if n != size:
                out.append((i, ({}, n, {Algo.XET: f"changed while hashed: size {size}, read {n}"})))
            else:
                out.append((i, ({Algo.XET: str(res.hash)}, n, {})))
    finally:
        for o in opened:
            os.close(o[1])
    return out


def _merge(job: HashJob, outcomes: Iterable[_Outcome]) -> HashResult:
    digests: dict[Algo, str] = {}
    errors: dict[Algo, str] = {}
    nbytes = 0
    for d, n, e in outcomes:
        digests.update(d)
        errors.update(e)
        nbytes = max(nbytes, n)
    return HashResult(job, digests, nbytes, errors)


def hash_file(path: str, algos: Iterable[Algo | str], *, progress: Progress | None = None) -> HashResult:
    """Hash one file in the calling thread; errors are returned in the result, never raised."""
    job = HashJob(path, frozenset(Algo(a) for a in algos))
    outcomes: list[_Outcome] = []
    if job.algos - {Algo.XET}:
        outcomes.append(_hash_local(path, job.algos - {Algo.XET}, progress, None))
    if Algo.XET in job.algos:
        outcomes.append(_hash_xet([(0, path)], progress, None)[0][1])
    return _merge(job, outcomes)


def _lstat_size(path: str) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


def _batches(indices: Iterable[int], sizes: list[int], limits: tuple[int, int]) -> deque[list[int]]:
    """Group consecutive indices into batches of at most ``limits`` (files, bytes)."""
    out: deque[list[int]] = deque()
    nbytes = 0
    for i in indices:
        if not out or len(out[-1]) >= limits[0] or nbytes + sizes[i] > limits[1]:
            out.append([])
            nbytes = 0
        out[-1].append(i)
        nbytes += sizes[i]
    return out


def _serialised(progress: Progress | None) -> Progress | None:
    """Wrap ``progress`` so that worker threads call it one at a time."""
    if progress is None:
        return None
    lock = threading.Lock()

    def report(n: int) -> None:
        with lock:
            progress(n)

    return report


def hash_files(
    jobs: Iterable[HashJob], *, workers: int | None = None, progress: Progress | None = None
) -> Generator[HashResult, None, None]:
    """Hash many files in parallel, yielding one result per job as each completes.

    ``workers`` threads (default ``os.cpu_count()``) run the hashlib digests, biggest file
    first, small files batched per task; Xet batches run beside them on a pool of their own.
    ``progress(nbytes)`` gets increments of bytes read, from worker threads but under a lock
    held here, so it need not be thread-safe (keep it cheap: it runs about once per MiB). An
    I/O error only fails its own result. ``close()`` on the generator, or an exception such as
    KeyboardInterrupt while it waits, stops the workers within one buffer (a running hf_xet
    call goes on to its end, unless SIGINT cancelled it).
    """
    todo = list(jobs)
    nworkers = max(1, workers if workers is not None else os.cpu_count() or 1)
    report = _serialised(progress)
    sizes = [j.size if j.size is not None else _lstat_size(j.path) for j in todo]
    order = sorted(range(len(todo)), key=lambda i: -sizes[i])
    local_q = _batches((i for i in order if todo[i].algos - {Algo.XET}), sizes, LOCAL_BATCH)
    xet_q = _batches((i for i in order if Algo.XET in todo[i].algos), sizes, XET_BATCH)
    left = [j.passes for j in todo]
    got: dict[int, list[_Outcome]] = {}
    for job in todo:
        if not job.algos:
            yield HashResult(job, {}, 0)

    stop = threading.Event()

    def local_task(batch: list[int]) -> _Parts:
        return [(i, _hash_local(todo[i].path, todo[i].algos - {Algo.XET}, report, stop)) for i in batch]

    def xet_task(batch: list[int]) -> _Parts:
        return _hash_xet([(i, todo[i].path) for i in batch], report, stop)

    pool = ThreadPoolExecutor(nworkers, thread_name_prefix="hfcache-hash")
    xet_pool = ThreadPoolExecutor(nworkers, thread_name_prefix="hfcache-xet")
    running: dict[Future[_Parts], bool] = {}  # future -> is a Xet batch
    try:
        while True:
            n_xet = sum(running.values())
            while local_q and len(running) - n_xet < 2 * nworkers:  # a bounded window
                running[pool.submit(local_task, local_q.popleft())] = False
            while xet_q and n_xet <= nworkers:
                running[xet_pool.submit(xet_task, xet_q.popleft())] = True
                n_xet += 1
            if not running:
                return
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                del running[fut]
                for i, outcome in fut.result():
                    got.setdefault(i, []).append(outcome)
                    left[i] -= 1
                    if left[i] == 0:
                        yield _merge(todo[i], got.pop(i))
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        xet_pool.shutdown(wait=True, cancel_futures=True)
