"""Tests of the hashing engine: digests against hashlib, git and hf_xet; errors stay per file."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hfcache.fs.hashing import (
    BUFFER_SIZE,
    XET_UNAVAILABLE,
    Algo,
    HashJob,
    HashResult,
    git_blob_sha1,
    hash_file,
    hash_files,
)

BOTH = frozenset({Algo.SHA256, Algo.GIT_SHA1})
SIZES = [0, 1, 4095, BUFFER_SIZE - 1, BUFFER_SIZE, BUFFER_SIZE + 1, 3 * BUFFER_SIZE + 12345]


def _data(size: int, seed: int = 0) -> bytes:
    """Deterministic bytes that are not a repeating pattern of the buffer size."""
    out = bytearray()
    block = hashlib.sha256(b"seed%d" % seed).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:size])


def _write(tmp: Path, name: str, data: bytes) -> str:
    path = tmp / name
    path.write_bytes(data)
    return str(path)


def _by_path(results: list[HashResult]) -> dict[str, HashResult]:
    return {r.job.path: r for r in results}


def test_git_blob_sha1_matches_known_ids() -> None:
    assert git_blob_sha1(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    assert git_blob_sha1(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


@pytest.mark.parametrize("size", SIZES)
def test_hash_file_matches_hashlib_in_one_pass(tmp_path: Path, size: int) -> None:
    data = _data(size, seed=size)
    path = _write(tmp_path, "blob", data)
    res = hash_file(path, BOTH)
    assert res.error is None
    assert res.nbytes == size
    assert res.digests == {Algo.SHA256: hashlib.sha256(data).hexdigest(), Algo.GIT_SHA1: git_blob_sha1(data)}


@pytest.mark.skipif(shutil.which("git") is None, reason="git not on PATH")
def test_git_sha1_matches_git_hash_object(tmp_path: Path) -> None:
    for size in (0, 5, BUFFER_SIZE + 7):
        path = _write(tmp_path, f"f{size}", _data(size, seed=7))
        out = subprocess.run(["git", "hash-object", "--no-filters", path], capture_output=True, check=True)
        assert hash_file(path, [Algo.GIT_SHA1]).digests[Algo.GIT_SHA1] == out.stdout.decode().strip()


def test_algos_accept_strings(tmp_path: Path) -> None:
    path = _write(tmp_path, "f", b"abc")
    res = hash_file(path, ["sha256"])
    assert res.digests == {Algo.SHA256: hashlib.sha256(b"abc").hexdigest()}
    assert HashJob(path, frozenset({"git-sha1"})).algos == {Algo.GIT_SHA1}  # type: ignore[arg-type]


def test_hash_files_many_files_and_progress_total(tmp_path: Path) -> None:
    datas = {_write(tmp_path, f"f{i}", _data(s, seed=i)): _data(s, seed=i) for i, s in enumerate(SIZES * 3)}
    seen: list[int] = []
    threads: set[str] = set()

    def progress(n: int) -> None:
        threads.add(threading.current_thread().name)
        seen.append(n)

    jobs = [HashJob(p, BOTH, size=len(d) if i % 2 else None) for i, (p, d) in enumerate(datas.items())]
    results = list(hash_files(jobs, workers=3, progress=progress))
    assert len(results) == len(jobs)
    for path, res in _by_path(results).items():
        assert res.error is None
        assert res.digests[Algo.SHA256] == hashlib.sha256(datas[path]).hexdigest()
        assert res.digests[Algo.GIT_SHA1] == git_blob_sha1(datas[path])
    assert sum(seen) == sum(len(d) for d in datas.values())
    assert all(name.startswith("hfcache-hash") for name in threads)


def test_biggest_first(tmp_path: Path) -> None:
    sizes = [10, BUFFER_SIZE * 2, 0, 500, BUFFER_SIZE]
    jobs = [HashJob(_write(tmp_path, f"f{i}", _data(s)), BOTH) for i, s in enumerate(sizes)]
    assert [r.nbytes for r in hash_files(jobs, workers=1)] == sorted(sizes, reverse=True)


def test_errors_stay_per_file(tmp_path: Path) -> None:
    good = _write(tmp_path, "good", _data(BUFFER_SIZE * 2))
    vanished = str(tmp_path / "vanished")
    a_dir = tmp_path / "dir"
    a_dir.mkdir()
    jobs = [HashJob(vanished, BOTH, size=10**9), HashJob(str(a_dir), BOTH), HashJob(good, BOTH)]
    res = _by_path(list(hash_files(jobs, workers=2)))
    assert "ENOENT" in (res[vanished].error or "")
    assert res[vanished].digests == {}
    assert set(res[vanished].errors) == BOTH
    assert "not a regular file" in (res[str(a_dir)].error or "")
    assert res[good].error is None
    assert res[good].digests[Algo.SHA256] == hashlib.sha256(_data(BUFFER_SIZE * 2)).hexdigest()


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root reads mode-000 files")
def test_unreadable_file_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "locked", b"secret")
    os.chmod(path, 0)
    try:
        assert "EACCES" in (hash_file(path, BOTH).error or "")
    finally:
        os.chmod(path, 0o600)


def test_symlink_is_refused_not_followed(tmp_path: Path) -> None:
    target = _write(tmp_path, "target", b"outside the cache")
    link = tmp_path / "link"
    link.symlink_to(target)
    for res in (hash_file(str(link), BOTH), *hash_files([HashJob(str(link), BOTH)])):
        assert res.digests == {}
        assert "symlink" in (res.error or "")


def test_fifo_does_not_hang(tmp_path: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert "not a regular file" in (hash_file(str(fifo), BOTH).error or "")


def test_job_without_algos_and_empty_input() -> None:
    assert list(hash_files([])) == []
    (res,) = hash_files([HashJob("/nonexistent", frozenset())])
    assert res == HashResult(HashJob("/nonexistent", frozenset()), {}, 0)


def test_closing_early_stops_cleanly(tmp_path: Path) -> None:
    paths = [_write(tmp_path, f"f{i}", _data(BUFFER_SIZE * 4, seed=i)) for i in range(8)]
    gen = hash_files([HashJob(p, BOTH) for p in paths], workers=2)
    first = next(gen)
    assert first.error is None
    gen.close()  # runs the generator's cleanup: workers stop, pool joined
    assert not [t for t in threading.enumerate() if t.name.startswith("hfcache-")]


def test_progress_exception_propagates(tmp_path: Path) -> None:
    path = _write(tmp_path, "f", b"x" * 10)

    def boom(n: int) -> None:
        raise RuntimeError("callback bug")

    with pytest.raises(RuntimeError, match="callback bug"):
        list(hash_files([HashJob(path, BOTH)], progress=boom))


def test_xet_matches_hf_xet(tmp_path: Path) -> None:
    hf_xet = pytest.importorskip("hf_xet")
    datas = {_write(tmp_path, f"x{s}", _data(s, seed=s)): s for s in (0, 10, BUFFER_SIZE * 3 + 5)}
    expected = {p: r.hash for p, r in zip(datas, hf_xet.hash_files(list(datas)), strict=True)}
    path = next(iter(datas))
    assert hash_file(path, [Algo.XET]).digests == {Algo.XET: expected[path]}

    seen: list[int] = []
    algos = frozenset(Algo)
    jobs = [HashJob(p, algos, size=s) for p, s in datas.items()]
    assert [j.passes for j in jobs] == [2, 2, 2]
    results = _by_path(list(hash_files(jobs, progress=seen.append)))
    for p, size in datas.items():
        assert results[p].error is None
        assert results[p].nbytes == size
        assert results[p].digests[Algo.XET] == expected[p]
        assert results[p].digests[Algo.SHA256] == hashlib.sha256(_data(size, seed=size)).hexdigest()
    assert sum(seen) == sum(j.size * j.passes for j in jobs if j.size is not None)


def test_xet_many_files_span_batches(tmp_path: Path) -> None:
    hf_xet = pytest.importorskip("hf_xet")
    paths = [_write(tmp_path, f"s{i}", _data(i * 100, seed=i)) for i in range(150)]
    expected = [r.hash for r in hf_xet.hash_files(paths)]
    res = _by_path(list(hash_files([HashJob(p, frozenset({Algo.XET})) for p in paths], workers=2)))
    assert [res[p].digests.get(Algo.XET) for p in paths] == expected


def test_xet_errors_stay_per_file(tmp_path: Path) -> None:
    pytest.importorskip("hf_xet")
    good = _write(tmp_path, "good", b"good")
    link = tmp_path / "link"
    link.symlink_to(good)
    jobs = [HashJob(p, frozenset({Algo.XET})) for p in (str(tmp_path / "gone"), str(link), good)]
    res = _by_path(list(hash_files(jobs)))
    assert "ENOENT" in (res[str(tmp_path / "gone")].error or "")
    assert "symlink" in (res[str(link)].error or "")
    assert res[good].error is None and len(res[good].digests[Algo.XET]) == 64


def test_xet_batch_failure_is_pinned_on_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """hf_xet fails a whole call on one bad file; the engine retries per file."""
    good = _write(tmp_path, "good", b"good")
    bad = _write(tmp_path, "bad", b"bad")

    class Info:
        def __init__(self, size: int) -> None:
            self.hash, self.file_size = "ab" * 32, size

    class FakeXet:
        @staticmethod
        def hash_files(paths: list[str]) -> list[Info]:
            if any(os.path.realpath(p) == os.path.realpath(bad) for p in paths):
                raise OSError("I/O error: boom")
            return [Info(os.path.getsize(p)) for p in paths]

    monkeypatch.setitem(sys.modules, "hf_xet", FakeXet)
    res = _by_path(list(hash_files([HashJob(p, frozenset({Algo.XET})) for p in (good, bad)])))
    assert res[good].digests == {Algo.XET: "ab" * 32}
    assert "boom" in (res[bad].error or "")


def test_without_hf_xet_xet_is_an_error_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hf_xet", None)  # makes `import hf_xet` raise ImportError
    path = _write(tmp_path, "f", b"data")
    res = hash_file(path, [Algo.SHA256, Algo.XET])
    assert res.digests == {Algo.SHA256: hashlib.sha256(b"data").hexdigest()}
    assert res.errors == {Algo.XET: XET_UNAVAILABLE}
    (res2,) = hash_files([HashJob(path, frozenset({Algo.XET}))])
    assert res2.errors == {Algo.XET: XET_UNAVAILABLE}


def test_file_changed_while_hashed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A size that no longer matches fstat makes the git header wrong: an error, no digest."""
    path = _write(tmp_path, "f", b"0123456789")
    real_fstat = os.fstat

    def fake_fstat(fd: int) -> os.stat_result:
        st = real_fstat(fd)
        return os.stat_result((st.st_mode, *st[1:6], st.st_size + 5, *st[7:]))

    monkeypatch.setattr(os, "fstat", fake_fstat)
    res = hash_file(path, BOTH)
    assert res.digests == {}
    assert "changed while hashed" in (res.error or "")
