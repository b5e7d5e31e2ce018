"""The verifier pool of unpack: every staged file is judged, errors surface, nothing outlives it."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest

from hfcache.bundle import staged
from hfcache.bundle.staged import Expected, StagedVerifier
from hfcache.errors import BundleError
from hfcache.hashing import Algo, HashResult


def _staged(tmp_path: Path, name: str, data: bytes, *, claim: bytes | None = None) -> Expected:
    path = tmp_path / name
    path.write_bytes(data)
    digest = hashlib.sha256(claim if claim is not None else data).hexdigest()
    return Expected(f"models--a--b/blobs/{name}", str(path), len(data), {Algo.SHA256: digest})


def test_good_files_pass(tmp_path: Path) -> None:
    with StagedVerifier(workers=2) as v:
        for i in range(20):
            v.submit(_staged(tmp_path, f"f{i}", bytes([i]) * (1000 * i)))
        v.finish()


@pytest.mark.parametrize("bad", [0, 7, 19])
def test_a_bad_file_anywhere_is_reported_by_name(tmp_path: Path, bad: int) -> None:
    with pytest.raises(BundleError, match=f"'models--a--b/blobs/f{bad}' is corrupt"), StagedVerifier() as v:
        for i in range(20):
            v.submit(_staged(tmp_path, f"f{i}", b"x" * i, claim=b"y" if i == bad else None))
        v.finish()


def test_vanished_or_resized_staged_file(tmp_path: Path) -> None:
    gone = _staged(tmp_path, "gone", b"data")
    Path(gone.path).unlink()
    with pytest.raises(BundleError, match="cannot verify"), StagedVerifier() as v:
        v.submit(gone)
        v.finish()
    grown = _staged(tmp_path, "grown", b"data")
    Path(grown.path).write_bytes(b"data+")
    with pytest.raises(BundleError, match="changed size"), StagedVerifier() as v:
        v.submit(grown)
        v.finish()


def test_pending_bytes_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the bound, submit waits for the oldest hashes: staged pages are still cached then."""
    release = threading.Event()
    real = staged.hash_file
    running: list[str] = []

    def slow(path: str, algos: set[Algo]) -> HashResult:
        running.append(path)
        release.wait(10)
        return real(path, algos)

    monkeypatch.setattr(staged, "hash_file", slow)
    with StagedVerifier(workers=1, max_pending_bytes=2500) as v:
        v.submit(_staged(tmp_path, "a", b"a" * 1000))
        v.submit(_staged(tmp_path, "b", b"b" * 1000))
        assert v._pending_bytes == 2000
        threading.Timer(0.2, release.set).start()
        v.submit(_staged(tmp_path, "c", b"c" * 1000))  # 3000 > 2500: waits until "a" is judged
        assert v._pending_bytes <= 2000
        v.finish()
    assert v._pending_bytes == 0


def test_leaving_early_cancels_queued_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started = threading.Event()
    hashed: list[str] = []
    real = staged.hash_file

    def slow(path: str, algos: set[Algo]) -> HashResult:
        started.set()
        hashed.append(path)
        time.sleep(0.01)
        return real(path, algos)

    monkeypatch.setattr(staged, "hash_file", slow)
    with pytest.raises(RuntimeError), StagedVerifier(workers=1) as v:
        for i in range(200):
            v.submit(_staged(tmp_path, f"f{i}", b"z" * 10))
        raise RuntimeError("the stream failed")
    assert started.is_set()
    count = len(hashed)
    assert count < 200  # queued work was dropped, and no worker runs after the block
    assert len(hashed) == count
