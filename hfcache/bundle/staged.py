"""Verify staged blobs on worker threads while the bundle stream goes on, then make them durable.

unpack copies a big blob out of the bundle into its staging file (in the kernel when the bundle
is a file) while a worker thread hashes that staging file close behind the copy: what gets
installed is exactly what was verified, the copy and the hash overlap, and the main thread
moves on to the next blob while the last one is still being hashed (a single sha256 stream
runs at ~1.2 GB/s on one core here, slower than the copy). Staged files are fsynced by one
more thread as soon as they are written, so that a blob is on disk before it is renamed into
place and a link points at it, without the stream waiting for the disk.
:meth:`StagedVerifier.finish` waits for all of it.
"""

from __future__ import annotations

import io
import mmap
import os
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from hfcache.errors import BundleError
from hfcache.fs import fsops
from hfcache.fs.hashing import Algo, new_hasher

MAX_PENDING_BYTES = 1 << 30  # copied but not yet hashed: past this, wait (so pages stay cached)
_CHUNK = 1 << 20


class DamagedError(BundleError):
    """The bundle's bytes are not what its manifest says (corrupt, or cut short): a copy that went
    wrong, so the volumes are worth checking against their checksum file."""


@dataclass(frozen=True)
class Expected:
    """A staged file and the digests its bundle member must have."""

    member: str
    """What the bytes are, as people name them (``config.json of org/name``)."""
    path: str
    size: int
    digests: dict[Algo, str]

    def check(self, digests: dict[Algo, str]) -> None:
        """Raise :class:`DamagedError` unless ``digests`` are the expected ones."""
        if any(digests.get(algo) != digest for algo, digest in self.digests.items()):
            raise DamagedError(f"{self.member} is corrupt: its bytes do not hash to what the manifest says")


class Growing:
    """How many bytes of a staging file the copier has written; the hasher follows it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._ready = 0
        self._closed = False

    def advance(self, n: int) -> None:
        with self._cond:
            self._ready += n
            self._cond.notify_all()

    def close(self) -> None:
        """The copy is over (done or failed): nothing more will come."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def wait_beyond(self, pos: int) -> int:
        """Bytes ready once more than ``pos`` are, or the copy is over."""
        with self._cond:
            while self._ready <= pos and not self._closed:
                self._cond.wait()
            return self._ready


def _hash_following(expected: Expected, growing: Growing) -> dict[Algo, str]:
    """Hash the staging file up to where the copier is, until the copy is over."""
    hashers = {a: new_hasher(a, expected.size) for a in expected.digests}
    buf = mmap.mmap(-1, _CHUNK)
    view = memoryview(buf)
    done = 0
    with io.FileIO(expected.path, "rb") as f:
        while (ready := growing.wait_beyond(done)) > done:
            while done < ready:
                n = f.readinto(view[: min(_CHUNK, ready - done)])
                if not n:
                    raise DamagedError(f"{expected.member} shrank while staged")
                for h in hashers.values():
                    h.update(view[:n])
                done += n
    if done != expected.size:
        raise DamagedError(f"{expected.member}: staged {done} bytes, the manifest says {expected.size}")
    return {a: h.hexdigest() for a, h in hashers.items()}


_fsync = fsops.fsync_path  # a module attribute, so that tests can watch it


class StagedVerifier:
    """Hashes staged files as they are written and fsyncs them; raises at the first bad one.

    Errors (BundleError for bad bytes, OSError for a failing disk) surface from :meth:`follow`,
    :meth:`settled` (for work already done) or :meth:`finish`. Use as a context manager:
    leaving it cancels what is queued and waits for what runs, so no thread still reads a
    staged file when the caller deletes the staging folder.
    """

    def __init__(self, workers: int | None = None, max_pending_bytes: int = MAX_PENDING_BYTES) -> None:
        self._pool = ThreadPoolExecutor(workers or min(2, os.cpu_count() or 1), "hfcache-verify")
        self._syncer = ThreadPoolExecutor(1, "hfcache-fsync")
        self._pending: deque[tuple[Expected, Future[dict[Algo, str]]]] = deque()
        self._pending_bytes = 0
        self._max_pending = max_pending_bytes
        self._syncs: list[Future[None]] = []
        self._early: Future[None] | None = None

    def __enter__(self) -> StagedVerifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._syncer.shutdown(wait=True, cancel_futures=True)

    def follow(self, expected: Expected) -> Growing:
        """Start hashing ``expected.path`` (already created) behind its copier, who must call
        ``advance`` after each write and ``close`` at the end, also on failure."""
        self._reap(wait=False)  # before queueing more: waits while too much is unhashed
        growing = Growing()
        self._pending.append((expected, self._pool.submit(_hash_following, expected, growing)))
        self._pending_bytes += expected.size
        return growing

    def settled(self, expected: Expected) -> None:
        """A staging file is completely written: make it durable (fsync) in the background.

        Not only once verified: the fsync of a big file then overlaps with its hashing, and
        a rejected file costs nothing but the wasted write (the staging folder is dropped).
        """
        self._syncs.append(self._syncer.submit(_fsync, expected.path))

    def write_out(self, expected: Expected) -> None:
        """While a big file is still being copied: have what is written so far go to disk now,
        unless the disk is still busy with the last such request. The final fsync after the
        copy then waits for little, and the disk works while the hashing does."""
        if self._early is None or self._early.done():
            self._early = self._syncer.submit(_fsync, expected.path)
            self._syncs.append(self._early)

    def finish(self) -> None:
        """Wait for every hash and fsync; BundleError for the first bad file."""
        self._reap(wait=True)
        for sync in self._syncs:
            sync.result()

    def _reap(self, *, wait: bool) -> None:
        while self._pending:
            expected, future = self._pending[0]
            if not (wait or future.done() or self._pending_bytes > self._max_pending):
                return
            self._pending.popleft()
            self._pending_bytes -= expected.size
            expected.check(future.result())
