"""Verify staged blobs on worker threads while the bundle stream goes on.

unpack copies a big blob out of the bundle first (in the kernel when the bundle is a file) and
hashes the staged copy next: what gets installed is then exactly what was verified, and the
hashing of several blobs spreads over the cores instead of one (a single sha256 stream runs on
one core at ~1.2 GB/s here, slower than the copy). Verification is still complete before
anything is installed: :meth:`StagedVerifier.finish` waits for every hash. The pool also
fsyncs each staged file, so that a blob is on disk before it is renamed into place and a link
points at it (crash safety), without the stream waiting for the disk.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from hfcache.errors import BundleError
from hfcache.hashing import Algo, HashResult, hash_file

MAX_PENDING_BYTES = 1 << 30  # staged but not yet hashed: past this, wait (so pages stay cached)


@dataclass(frozen=True)
class Expected:
    """A staged file and the digests its bundle member must have."""

    member: str
    path: str
    size: int
    digests: dict[Algo, str]

    def check(self, digests: dict[Algo, str]) -> None:
        """Raise BundleError unless ``digests`` are the expected ones."""
        if any(digests.get(algo) != digest for algo, digest in self.digests.items()):
            raise BundleError(f"{self.member!r} is corrupt: its bytes do not hash to what the manifest says")


def _settle(expected: Expected, verify: bool) -> HashResult | None:
    """Hash the staged file (if ``verify``), then make it durable."""
    result = hash_file(expected.path, set(expected.digests)) if verify else None
    if result is None or result.error is None:
        fd = os.open(expected.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return result


def judge(expected: Expected, result: HashResult | None) -> None:
    """Raise BundleError unless ``result`` shows ``expected``'s exact bytes (None: not hashed here)."""
    if result is None:
        return
    if result.error is not None:
        raise BundleError(f"cannot verify {expected.member!r} once staged: {result.error}")
    if result.nbytes != expected.size:
        raise BundleError(f"{expected.member!r} changed size once staged: {result.nbytes} bytes")
    expected.check(result.digests)


class StagedVerifier:
    """Hashes and fsyncs staged files in a small thread pool; raises at the first bad one.

    Errors (BundleError for bad bytes, OSError for a failing disk) surface from :meth:`submit`
    (for work already done) or :meth:`finish`. Use as a context manager: leaving it cancels
    what is queued and waits for what runs, so no thread still reads a staged file when the
    caller deletes the staging folder.
    """

    def __init__(self, workers: int | None = None, max_pending_bytes: int = MAX_PENDING_BYTES) -> None:
        self._pool = ThreadPoolExecutor(workers or min(2, os.cpu_count() or 1), "hfcache-verify")
        self._pending: deque[tuple[Expected, Future[HashResult | None]]] = deque()
        self._pending_bytes = 0
        self._max_pending = max_pending_bytes

    def __enter__(self) -> StagedVerifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, expected: Expected, *, verify: bool = True) -> None:
        """Queue a staged file: hash it (unless already verified in the stream) and fsync it."""
        future = self._pool.submit(_settle, expected, verify)
        self._pending.append((expected, future))
        self._pending_bytes += expected.size
        self._reap(wait=False)

    def finish(self) -> None:
        """Wait for every submitted hash; BundleError for the first bad file."""
        self._reap(wait=True)

    def _reap(self, *, wait: bool) -> None:
        while self._pending:
            expected, future = self._pending[0]
            if not (wait or future.done() or self._pending_bytes > self._max_pending):
                return
            self._pending.popleft()
            self._pending_bytes -= expected.size
            judge(expected, future.result())
