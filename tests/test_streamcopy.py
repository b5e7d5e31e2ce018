"""Tests of copy_hashed: exact digests and bytes at every chunk boundary, truncation, pipes."""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import hfcache.fs.streamcopy as sc
from hfcache.fs.hashing import Algo, git_blob_sha1
from hfcache.fs.streamcopy import PIPE_SIZE, copy_hashed, widen_pipe

BUF = 64 << 10  # a small buffer, so that "several buffers" stays small
SIZES = [0, 1, BUF - 1, BUF, BUF + 1, 5 * BUF + 7]
BOTH = (Algo.SHA256, Algo.GIT_SHA1)


def _data(size: int) -> bytes:
    """Bytes that do not repeat with the buffer's period."""
    out = bytearray()
    block = b"seed"
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block * 33
    return bytes(out[:size])


@pytest.fixture(params=["simple", "overlapped"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run each test with the simple loop and with the helper-thread overlap."""
    monkeypatch.setattr(sc, "OVERLAP_MIN_SIZE", 1 << 62 if request.param == "simple" else 0)
    yield request.param


class ReadOnly(io.RawIOBase):
    """A source without readinto, returning short reads, as some wrapped streams do."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._pos, self._step = data, 0, step

    def read(self, size: int = -1) -> bytes:
        size = min(size if size >= 0 else len(self._data), self._step)
        out = self._data[self._pos : self._pos + size]
        self._pos += len(out)
        return out

    readinto = None  # type: ignore[assignment]


class Trickle(io.RawIOBase):
    """A raw sink accepting at most ``step`` bytes per write, like a raw pipe or socket."""

    def __init__(self, step: int) -> None:
        self.got, self._step = bytearray(), step

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        view = memoryview(data)  # type: ignore[arg-type]
        self.got += view[: self._step]
        return min(len(view), self._step)


@pytest.mark.parametrize("size", SIZES)
def test_digests_and_bytes(size: int, mode: str) -> None:
    data = _data(size)
    dst = io.BytesIO()
    digests = copy_hashed(io.BytesIO(data + b"after"), dst, size, BOTH, buffer_size=BUF)
    assert dst.getvalue() == data
    assert digests == {Algo.SHA256: hashlib.sha256(data).hexdigest(), Algo.GIT_SHA1: git_blob_sha1(data)}


@pytest.mark.parametrize("size", [0, BUF + 1, 3 * BUF])
def test_stops_after_size(size: int, mode: str) -> None:
    src = io.BytesIO(_data(size) + b"next member")
    copy_hashed(src, io.BytesIO(), size, [Algo.SHA256], buffer_size=BUF)
    assert src.read() == b"next member"


def test_git_sha1_matches_git(tmp_path: os.PathLike[str], mode: str) -> None:
    data = b"hello world\n"
    digests = copy_hashed(io.BytesIO(data), None, len(data), [Algo.GIT_SHA1])
    assert digests == {Algo.GIT_SHA1: "3b18e512dba79e4c8300dd08aeb37f8e728b8dad"}  # git hash-object


def test_default_buffer_and_no_algos(mode: str) -> None:
    data = _data(sc.BUFFER_SIZE + 3)
    dst = io.BytesIO()
    assert copy_hashed(io.BytesIO(data), dst, len(data), []) == {}
    assert dst.getvalue() == data


@pytest.mark.parametrize("size", [1, BUF, 4 * BUF + 1])
def test_short_read_raises_eof(size: int, mode: str) -> None:
    data = _data(size - 1)
    with pytest.raises(EOFError, match=f"after {size - 1} of {size} bytes"):
        copy_hashed(io.BytesIO(data), io.BytesIO(), size, BOTH, buffer_size=BUF)


def test_dst_none_only_hashes(mode: str) -> None:
    data = _data(3 * BUF + 5)
    digests = copy_hashed(io.BytesIO(data), None, len(data), [Algo.SHA256], buffer_size=BUF)
    assert digests == {Algo.SHA256: hashlib.sha256(data).hexdigest()}


@pytest.mark.parametrize("size", [0, 1, BUF, 5 * BUF + 7])
def test_progress_totals(size: int, mode: str) -> None:
    calls: list[tuple[int, int]] = []
    here = threading.get_ident()
    copy_hashed(
        io.BytesIO(_data(size)),
        io.BytesIO(),
        size,
        [Algo.SHA256],
        buffer_size=BUF,
        progress=lambda n: calls.append((n, threading.get_ident())),
    )
    assert sum(n for n, _ in calls) == size
    assert all(n > 0 and tid == here for n, tid in calls)  # from the calling thread


def test_source_without_readinto(mode: str) -> None:
    data = _data(3 * BUF + 11)
    dst = io.BytesIO()
    digests = copy_hashed(ReadOnly(data, 1000), dst, len(data), [Algo.SHA256], buffer_size=BUF)
    assert dst.getvalue() == data
    assert digests[Algo.SHA256] == hashlib.sha256(data).hexdigest()
    with pytest.raises(EOFError):
        copy_hashed(ReadOnly(data, 1000), None, len(data) + 1, [Algo.SHA256], buffer_size=BUF)


def test_partial_writes(mode: str) -> None:
    data = _data(2 * BUF + 3)
    dst = Trickle(5000)
    copy_hashed(io.BytesIO(data), dst, len(data), [Algo.SHA256], buffer_size=BUF)
    assert bytes(dst.got) == data


def test_pipe(mode: str) -> None:
    data = _data(6 * BUF + 1)
    r, w = os.pipe()

    def feed() -> None:
        with open(w, "wb", buffering=0) as out:
            for i in range(0, len(data), 10_000):  # pipe reads come back short
                out.write(data[i : i + 10_000])

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        with open(r, "rb", buffering=0) as src:
            dst = io.BytesIO()
            digests = copy_hashed(src, dst, len(data), BOTH, buffer_size=BUF)
            assert src.read() == b""
    finally:
        writer.join()
    assert dst.getvalue() == data
    assert digests[Algo.GIT_SHA1] == git_blob_sha1(data)


def test_write_error_propagates_and_stops_the_helper(mode: str) -> None:
    class Full(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, data: object) -> int:
            raise OSError(28, "No space left on device")

    before = threading.active_count()
    with pytest.raises(OSError, match="No space"):
        copy_hashed(io.BytesIO(_data(4 * BUF)), Full(), 4 * BUF, [Algo.SHA256], buffer_size=BUF)
    assert threading.active_count() == before


def test_reusable_after_errors(mode: str) -> None:
    with pytest.raises(EOFError):
        copy_hashed(io.BytesIO(b"abc"), None, 4 * BUF, [Algo.SHA256], buffer_size=BUF)
    data = _data(2 * BUF)
    assert copy_hashed(io.BytesIO(data), None, len(data), [Algo.SHA256], buffer_size=BUF) == {
        Algo.SHA256: hashlib.sha256(data).hexdigest()
    }


def test_nested_call_from_progress_gets_its_own_buffers(mode: str) -> None:
    inner = _data(BUF)
    outer = _data(3 * BUF + 1)
    seen: list[str] = []

    def progress(n: int) -> None:
        seen.append(copy_hashed(io.BytesIO(inner), None, BUF, [Algo.SHA256], buffer_size=BUF)[Algo.SHA256])

    src = io.BytesIO(outer)
    digests = copy_hashed(src, None, len(outer), [Algo.SHA256], buffer_size=BUF, progress=progress)
    assert digests[Algo.SHA256] == hashlib.sha256(outer).hexdigest()
    assert set(seen) == {hashlib.sha256(inner).hexdigest()}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"algos": [Algo.XET]}, "Xet"),
        ({"size": -1}, "size"),
        ({"buffer_size": 0}, "buffer_size"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"src": io.BytesIO(b""), "dst": None, "size": 0, "algos": [Algo.SHA256]}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        copy_hashed(**args)  # type: ignore[arg-type]


@pytest.mark.skipif(not hasattr(fcntl, "F_GETPIPE_SZ"), reason="pipe sizes are a Linux feature")
def test_a_pipe_is_widened_to_one_mib_and_anything_else_left_alone(tmp_path: Path) -> None:
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd, "rb") as r, os.fdopen(write_fd, "wb") as w:
        before = fcntl.fcntl(r.fileno(), fcntl.F_GETPIPE_SZ)
        assert before < PIPE_SIZE  # Linux's default is 64 KiB
        widen_pipe(w)
        assert fcntl.fcntl(r.fileno(), fcntl.F_GETPIPE_SZ) == PIPE_SIZE  # one buffer, both ends
    with open(tmp_path / "f", "wb") as f:
        widen_pipe(f)  # a regular file: nothing to do, no error
    widen_pipe(io.BytesIO())  # no descriptor at all (a test's captured output)
