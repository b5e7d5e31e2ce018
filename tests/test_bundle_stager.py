"""unpack's stager for bundle files: each blob read once by a worker, hashed in memory and
written in aligned windows (O_DIRECT where allowed), exact bytes at every size, judged in bundle
order, cut bundles and refusing file systems handled, positional reads across volumes."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import threading
import time
from pathlib import Path

import pytest
from test_volumes import DATA, _write

from hfcache.bundle import stager
from hfcache.bundle.shortfall import CutShortError
from hfcache.bundle.staged import DamagedError, Expected
from hfcache.bundle.stager import DirectStager, stage_one
from hfcache.bundle.volread import open_volumes, range_reader
from hfcache.fs.hashing import Algo

SIZES = [0, 1, 4095, 4096, 4097, 8191, 8192, 8193, 3 * 8192 + 5, 100_000]


@pytest.fixture(autouse=True)
def small_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stager, "WINDOW", 8192)
    monkeypatch.setattr(stager, "CHUNK", 1000)


def _bundle(tmp_path: Path, sizes: list[int]) -> tuple[Path, list[tuple[bytes, int]]]:
    """A file holding each blob at a 512-byte boundary after a 512-byte gap, as a tar does."""
    out, blobs = bytearray(), []
    for size in sizes:
        out += bytes(512)
        data = os.urandom(size)
        blobs.append((data, len(out)))
        out += data + bytes(-size % 512)
    (tmp_path / "b.tar").write_bytes(bytes(out))
    return tmp_path / "b.tar", blobs


def _expect(tmp_path: Path, i: int, data: bytes, claim: bytes | None = None) -> Expected:
    digest = hashlib.sha256(data if claim is None else claim).hexdigest()
    return Expected(f"f{i} of org/name", str(tmp_path / "staged" / f"b{i}"), len(data), {Algo.SHA256: digest})


class _Reader:
    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDONLY)
        self.asked: list[tuple[int, int]] = []

    def read_at(self, view: memoryview, offset: int) -> int:
        return os.preadv(self.fd, [view], offset)

    def will_need(self, offset: int, size: int) -> None:
        self.asked.append((offset, size))


def _reader(path: Path) -> _Reader:
    return _Reader(path)


@pytest.mark.parametrize("direct_from", [0, 1 << 40])
def test_every_size_is_staged_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, direct_from: int
) -> None:
    monkeypatch.setattr(stager, "DIRECT_FROM", direct_from)
    bundle, blobs = _bundle(tmp_path, SIZES)
    (tmp_path / "staged").mkdir()
    reader = _reader(bundle)
    for i, (data, offset) in enumerate(blobs):
        e = _expect(tmp_path, i, data)
        digests = stage_one(reader, e, offset, False, lambda n: None)
        e.check(digests)
        assert Path(e.path).read_bytes() == data
    # each window after the first is asked for while the one before is hashed
    big_offset = blobs[-1][1]
    assert (big_offset + 8192, 8192) in reader.asked


def test_the_stager_judges_in_bundle_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stager, "DIRECT_FROM", 0)
    monkeypatch.setattr(stager, "BATCH_BELOW", 5000)
    sizes = SIZES * 3
    bundle, blobs = _bundle(tmp_path, sizes)
    (tmp_path / "staged").mkdir()
    advanced: list[int] = []
    with DirectStager(_reader(bundle), advanced.append, workers=3, sync_each=False) as s:
        for i, (data, offset) in enumerate(blobs):
            s.stage(_expect(tmp_path, i, data), offset)
        s.finish()
    assert sum(advanced) == sum(sizes)
    for i, (data, _) in enumerate(blobs):
        assert (tmp_path / "staged" / f"b{i}").read_bytes() == data
    bad = len(blobs) // 2
    (tmp_path / "again").mkdir()
    with pytest.raises(DamagedError, match=f"^f{bad} of org/name is corrupt"), DirectStager(
        _reader(bundle), lambda n: None, workers=3
    ) as s:
        for i, (data, offset) in enumerate(blobs):
            e = _expect(tmp_path, i, data, claim=b"other" if i >= bad else None)
            s.stage(Expected(e.member, str(tmp_path / "again" / f"b{i}"), e.size, e.digests), offset)
        s.finish()


def test_a_cut_bundle_names_the_blob(tmp_path: Path) -> None:
    bundle, blobs = _bundle(tmp_path, [20_000])
    os.truncate(bundle, 512 + 10_000)
    (tmp_path / "staged").mkdir()
    with pytest.raises(CutShortError, match="cut short inside f0 of org/name"):
        stage_one(_reader(bundle), _expect(tmp_path, 0, blobs[0][0]), blobs[0][1], False, lambda n: None)


def test_a_refused_direct_write_goes_through_the_page_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stager, "DIRECT_FROM", 0)
    real = os.pwrite
    refused: list[int] = []

    def pwrite(fd: int, data: object, offset: int) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & getattr(os, "O_DIRECT", 0):
            refused.append(fd)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(fd, data, offset)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "pwrite", pwrite)
    bundle, blobs = _bundle(tmp_path, [30_001])
    (tmp_path / "staged").mkdir()
    e = _expect(tmp_path, 0, blobs[0][0])
    e.check(stage_one(_reader(bundle), e, blobs[0][1], False, lambda n: None))
    assert Path(e.path).read_bytes() == blobs[0][0]
    assert len(refused) <= 1


def test_sync_each_fsyncs_every_staged_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    monkeypatch.setattr(stager, "_fsync", lambda fd: (synced.append(fd), os.fsync(fd))[1])
    bundle, blobs = _bundle(tmp_path, [10, 20_000, 30])
    (tmp_path / "staged").mkdir()
    with DirectStager(_reader(bundle), lambda n: None, sync_each=True) as s:
        for i, (data, offset) in enumerate(blobs):
            s.stage(_expect(tmp_path, i, data), offset)
        s.finish()
    assert len(synced) == 3


def test_leaving_early_cancels_queued_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    done: list[str] = []
    real = stager.stage_one

    def slow(read_at, expected, offset, sync_each, advance, stop):  # type: ignore[no-untyped-def]
        time.sleep(0.01)
        done.append(expected.path)
        return real(read_at, expected, offset, sync_each, advance, stop)

    monkeypatch.setattr(stager, "stage_one", slow)
    monkeypatch.setattr(stager, "BATCH_BELOW", 0)
    bundle, blobs = _bundle(tmp_path, [100] * 200)
    (tmp_path / "staged").mkdir()
    with pytest.raises(RuntimeError), DirectStager(_reader(bundle), lambda n: None, workers=1) as s:
        for i, (data, offset) in enumerate(blobs[:50]):
            s.stage(_expect(tmp_path, i, data), offset)
        raise RuntimeError("the stream failed")
    count = len(done)
    assert count < 50
    time.sleep(0.05)
    assert len(done) == count and all(not t.name.startswith("hfcache-stage") for t in threading.enumerate())


@pytest.mark.parametrize("volume_size", [None, 1000, 4096])
def test_positional_reads_across_volumes(tmp_path: Path, volume_size: int | None) -> None:
    paths = _write(tmp_path / "b", DATA, volume_size)
    with open_volumes(paths[0]) as stream:
        reader = range_reader(stream)
        assert reader is not None
        stream.read(10)  # the stream's own position is left alone
        for offset, size in ((0, len(DATA)), (999, 2), (1500, 5000), (len(DATA) - 4, 4), (10, 0)):
            buf = bytearray(size)
            assert reader.read_at(memoryview(buf), offset) == size
            assert bytes(buf) == DATA[offset : offset + size]
            reader.will_need(offset, size)
        buf = bytearray(10)
        assert reader.read_at(memoryview(buf), len(DATA) - 4) == 4  # the end of the stream
        assert stream.read(5) == DATA[10:15]


def test_leaving_early_stops_a_big_blob_at_its_next_window(tmp_path: Path) -> None:
    bundle, blobs = _bundle(tmp_path, [8192 * 50])
    (tmp_path / "staged").mkdir()
    reader = _reader(bundle)
    seen: list[int] = []
    stop = threading.Event()

    def advance(n: int) -> None:
        seen.append(n)
        if len(seen) == 3:
            stop.set()

    with pytest.raises(stager._Stopped):
        stage_one(reader, _expect(tmp_path, 0, blobs[0][0]), blobs[0][1], False, advance, stop)
    assert len(seen) == 3
