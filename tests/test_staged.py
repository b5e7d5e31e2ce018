"""The verifier of unpack: a hasher follows each copy, every staged file is judged and fsynced,
errors surface, and nothing outlives it."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from hfcache.bundle import staged
from hfcache.bundle.staged import Expected, StagedVerifier
from hfcache.errors import BundleError
from hfcache.fs.hashing import Algo


def _expect(tmp_path: Path, name: str, data: bytes, *, claim: bytes | None = None) -> Expected:
    digest = hashlib.sha256(claim if claim is not None else data).hexdigest()
    return Expected(f"models--a--b/blobs/{name}", str(tmp_path / name), len(data), {Algo.SHA256: digest})


def _copy_in_steps(v: StagedVerifier, e: Expected, data: bytes, step: int, pause: float = 0.0) -> None:
    """What receive does: create, start the follower, write and announce step by step, close."""
    with open(e.path, "xb", buffering=0) as f:
        growing = v.follow(e)
        try:
            for i in range(0, len(data), step):
                f.write(data[i : i + step])
                growing.advance(len(data[i : i + step]))
                time.sleep(pause)
        finally:
            growing.close()
    v.settled(e)


@pytest.mark.parametrize("step", [1, 1000, 1 << 20])
def test_follower_hashes_exactly_what_was_written(tmp_path: Path, step: int) -> None:
    data = os.urandom(3 << 20) if step > 1 else os.urandom(5000)
    with StagedVerifier(workers=2) as v:
        _copy_in_steps(v, _expect(tmp_path, "a", data), data, step)
        _copy_in_steps(v, _expect(tmp_path, "b", data[:7]), data[:7], step)
        _copy_in_steps(v, _expect(tmp_path, "empty", b""), b"", step)
        v.finish()


def test_follower_keeps_up_with_a_slow_copy(tmp_path: Path) -> None:
    data = os.urandom(50_000)
    with StagedVerifier(workers=1) as v:
        _copy_in_steps(v, _expect(tmp_path, "slow", data), data, 5000, pause=0.01)
        v.finish()


@pytest.mark.parametrize("bad", [0, 7, 19])
def test_a_bad_file_anywhere_is_reported_by_name(tmp_path: Path, bad: int) -> None:
    with pytest.raises(BundleError, match=f"^models--a--b/blobs/f{bad} is corrupt"), StagedVerifier() as v:
        for i in range(20):
            data = b"x" * (i * 100)
            _copy_in_steps(v, _expect(tmp_path, f"f{i}", data, claim=b"y" if i == bad else None), data, 64)
        v.finish()


def test_a_copy_that_stops_short_is_refused(tmp_path: Path) -> None:
    e = _expect(tmp_path, "short", b"0123456789")
    with pytest.raises(BundleError, match="staged 4 bytes"), StagedVerifier() as v:
        _copy_in_steps(v, e, b"0123", 2)  # the copier gave up (truncated bundle) and closed
        v.finish()


def test_settled_files_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    monkeypatch.setattr(staged, "_fsync", synced.append)
    with StagedVerifier() as v:
        for name in ("a", "b"):
            (tmp_path / name).write_bytes(b"data")
            v.settled(_expect(tmp_path, name, b"data"))
        _copy_in_steps(v, _expect(tmp_path, "c", b"followed"), b"followed", 3)
        v.finish()
    assert sorted(synced) == [str(tmp_path / n) for n in ("a", "b", "c")]


def test_a_failing_fsync_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(path: str) -> None:
        raise OSError(5, "Input/output error", path)

    monkeypatch.setattr(staged, "_fsync", broken)
    (tmp_path / "a").write_bytes(b"data")
    with pytest.raises(OSError, match="Input/output"), StagedVerifier() as v:
        v.settled(_expect(tmp_path, "a", b"data"))
        v.finish()


def test_unhashed_bytes_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the bound, the next follow waits for older hashes: staged pages are still cached."""
    release = threading.Event()
    real = staged._hash_following

    def slow(expected: Expected, growing: staged.Growing) -> dict[Algo, str]:
        release.wait(10)
        return real(expected, growing)

    monkeypatch.setattr(staged, "_hash_following", slow)
    with StagedVerifier(workers=2, max_pending_bytes=1500) as v:
        _copy_in_steps(v, _expect(tmp_path, "a", b"a" * 1000), b"a" * 1000, 100)
        _copy_in_steps(v, _expect(tmp_path, "b", b"b" * 1000), b"b" * 1000, 100)  # 1000 ≤ 1500: no wait
        assert v._pending_bytes == 2000
        threading.Timer(0.2, release.set).start()
        start = time.monotonic()
        _copy_in_steps(v, _expect(tmp_path, "c", b"c" * 1000), b"c" * 1000, 100)  # 2000 > 1500: waits
        assert time.monotonic() - start >= 0.15
        assert v._pending_bytes <= 2000
        v.finish()
    assert v._pending_bytes == 0


def test_leaving_early_cancels_queued_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hashed: list[str] = []
    real = staged._hash_following

    def slow(expected: Expected, growing: staged.Growing) -> dict[Algo, str]:
        hashed.append(expected.path)
        time.sleep(0.01)
        return real(expected, growing)

    monkeypatch.setattr(staged, "_hash_following", slow)
    with pytest.raises(RuntimeError), StagedVerifier(workers=1) as v:
        for i in range(200):
            _copy_in_steps(v, _expect(tmp_path, f"f{i}", b"z" * 10), b"z" * 10, 10)
        raise RuntimeError("the stream failed")
    count = len(hashed)
    assert 0 < count < 200  # queued work was dropped, and no worker runs after the block
    time.sleep(0.05)
    assert len(hashed) == count


def test_without_sync_each_nothing_is_fsynced_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The installer makes them durable with one syncfs: the verifier only hashes."""
    synced: list[str] = []
    monkeypatch.setattr(staged, "_fsync", synced.append)
    with StagedVerifier(sync_each=False) as v:
        (tmp_path / "a").write_bytes(b"data")
        v.settled(_expect(tmp_path, "a", b"data"))
        _copy_in_steps(v, _expect(tmp_path, "c", b"followed"), b"followed", 3)
        v.finish()
    assert synced == []
