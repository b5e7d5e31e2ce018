"""Verify staged blobs on worker threads while the bundle stream goes on.

unpack copies a big blob out of the bundle into its staging file (in the kernel when the bundle
is a file) while a worker thread hashes that staging file close behind the copy: what gets
installed is exactly what was verified, the copy and the hash overlap, and the main thread
moves on to the next blob while the last one is still being hashed (a single sha256 stream
runs at ~1.2 GB/s on one core here, slower than the copy). This is the way from a stream (a
pipe); a bundle file goes faster through :mod:`hfcache.bundle.stager`.

Durability: the copier starts each file's writeback as it writes
(:func:`hfcache.fs.writeback.start_writeback`), and the installer makes all staged files
durable with one ``syncfs`` before renaming any into place. Where ``syncfs`` cannot be relied
on (not Linux, or a kernel before 5.8), ``sync_each`` has one more thread fsync every staged
file as soon as it is written, as before. :meth:`StagedVerifier.finish` waits for all of it.
"""

from __future__ import annotations

import io
import mmap
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from hfcache.errors import BundleError
from hfcache.fs import fsops
from hfcache.fs.hashing import Algo, new_hasher

MAX_PENDING_BYTES = 1 << 30  # copied but not yet hashed: past this, wait (so pages stay cached)
_CHUNK = 1 << 20
_buffers = threading.local()


def _view() -> memoryview:
    """This thread's page-aligned read buffer (an unaligned one reads at half the speed)."""
    view: memoryview | None = getattr(_buffers, "view", None)
    if view is None:
        view = _buffers.view = memoryview(mmap.mmap(-1, _CHUNK))
    return view


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
    view = _view()
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
    """Hashes staged files as they are written; raises at the first bad one.

    Errors (BundleError for bad bytes, OSError for a failing disk) surface from :meth:`follow`,
    :meth:`settled` (for work already done) or :meth:`finish`. Use as a context manager:
    leaving it cancels what is queued and waits for what runs, so no thread still reads a
    staged file when the caller deletes the staging folder. ``sync_each``: fsync every settled
    file on a thread of its own (where the installer cannot make them durable in one call).
    """

    def __init__(
        self,
        workers: int | None = None,
        max_pending_bytes: int = MAX_PENDING_BYTES,
        *,
        sync_each: bool = True,
    ) -> None:
        self._pool = ThreadPoolExecutor(workers or min(2, os.cpu_count() or 1), "hfcache-verify")
        self._syncer = ThreadPoolExecutor(1, "hfcache-fsync") if sync_each else None
        self._pending: deque[tuple[list[Expected], Future[list[dict[Algo, str]]]]] = deque()
        self._pending_bytes = 0
        self._max_pending = max_pending_bytes
        self._syncs: list[Future[None]] = []

    def __enter__(self) -> StagedVerifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._syncer is not None:
            self._syncer.shutdown(wait=True, cancel_futures=True)

    def _submit(self, batch: list[Expected], work: Callable[[], list[dict[Algo, str]]]) -> None:
        self._pending.append((batch, self._pool.submit(work)))
        self._pending_bytes += sum(e.size for e in batch)

    def follow(self, expected: Expected) -> Growing:
        """Start hashing ``expected.path`` (already created) behind its copier, who must call
        ``advance`` after each write and ``close`` at the end, also on failure."""
        self._reap(wait=False)  # before queueing more: waits while too much is unhashed
        growing = Growing()
        self._submit([expected], lambda: [_hash_following(expected, growing)])
        return growing

    def settled(self, expected: Expected) -> None:
        """A staging file is completely written: with ``sync_each``, fsync it in the background.

        Not only once verified: the fsync of a big file then overlaps with its hashing, and
        a rejected file costs nothing but the wasted write (the staging folder is dropped).
        """
        if self._syncer is not None:
            self._syncs.append(self._syncer.submit(_fsync, expected.path))

    def finish(self) -> None:
        """Wait for every hash (and fsync); BundleError for the first bad file."""
        self._reap(wait=True)
        for sync in self._syncs:
            sync.result()

    def _reap(self, *, wait: bool) -> None:
        while self._pending:
            batch, future = self._pending[0]
            if not (wait or future.done() or self._pending_bytes > self._max_pending):
                return
            self._pending.popleft()
            self._pending_bytes -= sum(e.size for e in batch)
            for expected, digests in zip(batch, future.result(), strict=True):
                expected.check(digests)
