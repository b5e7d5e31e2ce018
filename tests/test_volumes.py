"""Tests of bundle volumes: exact splitting, crash-safe commit/abort, reading back across volumes."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
import tarfile
import threading
from pathlib import Path
from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hfcache.bundle.volnames import PARTIAL_SUFFIX, partial_name, volume_name
from hfcache.bundle.volread import first_volume, open_volumes, range_copier, volume_paths
from hfcache.bundle.volumes import VolumeWriter
from hfcache.errors import BadInputError, BundleError
from hfcache.units import parse_size

DATA = bytes(range(256)) * 40 + b"tail"  # 10244 bytes, not a multiple of the volume sizes used


def _write(target: Path, data: bytes, volume_size: int | None, chunk: int = 1000, **kw: bool) -> list[str]:
    w = VolumeWriter(str(target), volume_size, **kw)
    for i in range(0, len(data), chunk):
        w.write(data[i : i + chunk])
    return w.commit()


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ---- parse_size ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4096", 4096),
        ("4096B", 4096),
        ("64k", 64 << 10),
        ("64K", 64 << 10),
        ("64KiB", 64 << 10),
        ("500M", 500 << 20),
        ("4G", 4 << 30),
        ("4GiB", 4 << 30),
        ("4gib", 4 << 30),
        (" 4 G ", 4 << 30),
        ("1.5G", 3 << 29),
        ("2T", 2 << 40),
        ("1KB", 1000),
        ("4GB", 4 * 10**9),
        ("1.1K", 1126),  # rounded down to whole bytes
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "G", "4X", "4 GiBs", "-4G", "4G4", "1e9", "0", "0.4", "0K", "4iB", "x"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid size"):
        parse_size(text)


# ---- writing -------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [1, 333, 1000, 4096, 100_000])
def test_split_is_exact(tmp_path: Path, chunk: int) -> None:
    paths = _write(tmp_path / "b.tar", DATA, 4096, chunk)
    assert paths == [str(tmp_path / f"b.tar.{i:03d}") for i in (1, 2, 3)]
    assert [os.path.getsize(p) for p in paths] == [4096, 4096, len(DATA) - 8192]
    assert _listing(tmp_path) == ["b.tar.001", "b.tar.002", "b.tar.003", "b.tar.sha256"]  # no temporaries
    sums = subprocess.run(["sha256sum", "-c", "b.tar.sha256"], cwd=tmp_path, capture_output=True, text=True)
    assert sums.returncode == 0 and sums.stdout.count(": OK") == 3
    cat = subprocess.run(["cat", *sorted(paths)], capture_output=True, check=True).stdout
    assert cat == DATA


def test_exact_multiple_has_no_empty_last_volume(tmp_path: Path) -> None:
    paths = _write(tmp_path / "b", DATA[:8192], 4096)
    assert [os.path.getsize(p) for p in paths] == [4096, 4096]


def test_empty_stream_still_has_a_first_volume(tmp_path: Path) -> None:
    w = VolumeWriter(str(tmp_path / "b"), 10)
    assert w.commit() == [str(tmp_path / "b.001")]
    assert (tmp_path / "b.001").read_bytes() == b""


def test_single_file(tmp_path: Path) -> None:
    w = VolumeWriter(str(tmp_path / "b.tar"))
    assert w.write(memoryview(DATA)) == len(DATA)
    assert w.write(bytearray(b"xy")) == 2
    assert w.bytes_written == w.tell() == len(DATA) + 2
    assert _listing(tmp_path) == [".b.tar" + PARTIAL_SUFFIX]  # not yet a bundle
    assert w.commit() == [str(tmp_path / "b.tar")]
    assert (tmp_path / "b.tar").read_bytes() == DATA + b"xy"
    assert _listing(tmp_path) == ["b.tar"]
    assert w.commit() == [str(tmp_path / "b.tar")]  # idempotent
    w.abort()  # no-op after a commit
    assert (tmp_path / "b.tar").exists()
    with pytest.raises(ValueError):
        w.write(b"more")


def test_write_accepts_multibyte_buffers(tmp_path: Path) -> None:
    import array

    arr = array.array("I", range(1000))  # itemsize 4: counted in bytes
    w = VolumeWriter(str(tmp_path / "b"), 1000)
    assert w.write(arr) == 4000
    paths = w.commit()
    assert b"".join(Path(p).read_bytes() for p in paths) == arr.tobytes()


def test_abort_leaves_nothing(tmp_path: Path) -> None:
    w = VolumeWriter(str(tmp_path / "b"), 1000)
    w.write(DATA)
    assert len(_listing(tmp_path)) == 11  # eleven temporaries, no final name
    assert all(n.endswith(PARTIAL_SUFFIX) and n.startswith(".") for n in _listing(tmp_path))
    w.abort()
    assert _listing(tmp_path) == []
    w.abort()


@pytest.mark.parametrize("volume_size", [None, 1000])
def test_exception_in_with_block_aborts(tmp_path: Path, volume_size: int | None) -> None:
    with pytest.raises(RuntimeError), VolumeWriter(str(tmp_path / "b"), volume_size) as w:
        w.write(DATA)
        raise RuntimeError("pack failed")
    assert _listing(tmp_path) == []


def test_close_without_commit_aborts(tmp_path: Path) -> None:
    with VolumeWriter(str(tmp_path / "b")) as w:
        w.write(DATA)
    assert _listing(tmp_path) == []
    with VolumeWriter(str(tmp_path / "c")) as w:
        w.write(DATA)
        w.commit()
    assert _listing(tmp_path) == ["c"]


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "b.tar").write_bytes(b"old")
    with pytest.raises(FileExistsError, match="already exists") as info:
        VolumeWriter(str(tmp_path / "b.tar"))
    assert info.value.filename == str(tmp_path / "b.tar")
    (tmp_path / "v.002").write_bytes(b"old")  # any earlier volume counts, not only .001
    with pytest.raises(FileExistsError):
        VolumeWriter(str(tmp_path / "v"), 100)
    assert _listing(tmp_path) == ["b.tar", "v.002"]
    assert (tmp_path / "b.tar").read_bytes() == b"old"


def test_overwrite_replaces_and_drops_surplus_volumes(tmp_path: Path) -> None:
    _write(tmp_path / "b", DATA, 1000)  # 11 volumes
    (tmp_path / "b").write_bytes(b"unrelated")  # the unsplit name is another file: kept
    paths = _write(tmp_path / "b", DATA[:2500], 1000, overwrite=True)
    assert _listing(tmp_path) == ["b", "b.001", "b.002", "b.003", "b.sha256"]
    assert b"".join(Path(p).read_bytes() for p in paths) == DATA[:2500]
    _write(tmp_path / "b", b"new", None, overwrite=True)
    assert (tmp_path / "b").read_bytes() == b"new"


def test_name_appearing_during_pack_fails_commit(tmp_path: Path) -> None:
    w = VolumeWriter(str(tmp_path / "b"))
    w.write(DATA)
    (tmp_path / "b").write_bytes(b"someone else's")
    with pytest.raises(FileExistsError):
        w.commit()
    assert _listing(tmp_path) == ["b"]
    assert (tmp_path / "b").read_bytes() == b"someone else's"


def test_concurrent_writer_to_same_target_is_refused(tmp_path: Path) -> None:
    first = VolumeWriter(str(tmp_path / "b"), 100)
    first.write(DATA)
    with pytest.raises(FileExistsError, match="another pack"):
        VolumeWriter(str(tmp_path / "b"), 100)
    assert len(first.commit()) == 103  # the refused one did not touch the first's files
    assert b"".join(Path(volume_name(str(tmp_path / "b"), i)).read_bytes() for i in range(1, 104)) == DATA


def test_stale_temporary_of_a_crashed_pack_is_reused(tmp_path: Path) -> None:
    Path(partial_name(str(tmp_path / "b"))).write_bytes(b"garbage from a killed pack" * 100)
    assert _write(tmp_path / "b", b"fresh", None) == [str(tmp_path / "b")]
    assert (tmp_path / "b").read_bytes() == b"fresh"


def test_too_many_volumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hfcache.bundle.volumes as volumes

    monkeypatch.setattr(volumes, "MAX_VOLUMES", 3)
    w = VolumeWriter(str(tmp_path / "b"), 1000)
    w.write(DATA[:3000])
    with pytest.raises(OSError, match="over 3 volumes") as info:
        w.write(b"x")
    assert info.value.errno == errno.EFBIG
    w.abort()
    assert _listing(tmp_path) == []


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="standard output"):
        VolumeWriter("-", 100)
    with pytest.raises(ValueError):
        VolumeWriter(str(tmp_path / "b"), 0)
    with pytest.raises(IsADirectoryError):
        VolumeWriter(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no such directory"):
        VolumeWriter(str(tmp_path / "missing" / "b"))


def test_stdout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(buffer))
    w = VolumeWriter("-")
    w.write(DATA)
    assert w.commit() == ["-"]
    assert buffer.getvalue() == DATA
    assert not buffer.closed


def test_stdout_in_a_real_process(tmp_path: Path) -> None:
    code = (
        "from hfcache.bundle.volumes import VolumeWriter\n"
        "w = VolumeWriter('-')\n"
        "w.write(bytes(range(256)) * 1000)\n"
        "w.commit()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, cwd=tmp_path).stdout
    assert out == bytes(range(256)) * 1000
    assert _listing(tmp_path) == []


# ---- reading -------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    volume_size=st.integers(11, 3000),  # at most 999 volumes
    reads=st.lists(st.integers(0, 5000), min_size=1, max_size=40),
    use_readinto=st.booleans(),
)
def test_read_back_across_boundaries(
    tmp_path_factory: pytest.TempPathFactory, volume_size: int, reads: list[int], use_readinto: bool
) -> None:
    folder = tmp_path_factory.mktemp("vol")
    paths = _write(folder / "b", DATA, volume_size, 777)
    assert volume_paths(paths[0]) == paths
    got = bytearray()
    with open_volumes(paths[0]) as stream:
        for n in reads * 20:
            if use_readinto:
                buf = bytearray(n)
                k = cast(io.BufferedReader, stream).readinto(buf)
                got += buf[:k]
            else:
                got += stream.read(n)
            if len(got) >= len(DATA):
                break
        got += stream.read()
    assert bytes(got) == DATA


def test_read_from_a_later_volume(tmp_path: Path) -> None:
    paths = _write(tmp_path / "b", DATA, 4096)
    with open_volumes(paths[1]) as stream:
        assert stream.read() == DATA[4096:]
    assert volume_paths(paths[1]) == paths[1:]


def test_a_missing_volume_is_named(tmp_path: Path) -> None:
    paths = _write(tmp_path / "b", DATA, 1000)
    os.unlink(paths[4])
    with pytest.raises(BundleError, match=r"volume .*b\.005 is missing \(there is .*b\.006\)"):
        volume_paths(paths[0])
    os.unlink(paths[-1])
    os.unlink(paths[-2])
    os.rename(paths[-3], paths[4])  # now only the last two are gone: the checksum file knows them
    for p in paths[5:-3]:
        os.unlink(p)
    with pytest.raises(BundleError, match=r"volume .*b\.006 is missing \(the checksum file lists it\)"):
        volume_paths(paths[0])
    os.unlink(tmp_path / "b.sha256")
    assert volume_paths(paths[0]) == paths[:5]  # without it, the stream just ends (tar sees truncation)


def test_a_bundle_named_without_001_or_by_a_later_volume(tmp_path: Path) -> None:
    paths = _write(tmp_path / "b", DATA, 4096)
    assert first_volume(str(tmp_path / "b")) == paths[0]
    with pytest.raises(BadInputError, match=r"volume 2 of a split bundle: pass the first one, .*b\.001"):
        first_volume(paths[1])


def test_single_file_and_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "b.tar").write_bytes(DATA)
    (tmp_path / "b.tar.001").write_bytes(b"not read")  # a single file is never extended
    with open_volumes(str(tmp_path / "b.tar")) as stream:
        assert stream.read() == DATA
    assert volume_paths(str(tmp_path / "b.tar")) == [str(tmp_path / "b.tar")]
    stdin = io.TextIOWrapper(io.BytesIO(b"from stdin"))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert open_volumes("-") is stdin.buffer
    assert volume_paths("-") == []


@pytest.mark.parametrize("name", ["b.tar", "b.tar.001"])
def test_missing_first_file(tmp_path: Path, name: str) -> None:
    for call in (open_volumes, volume_paths):
        with pytest.raises(FileNotFoundError) as info:
            call(str(tmp_path / name))
        assert str(tmp_path / name) in str(info.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_volume(tmp_path: Path) -> None:
    paths = _write(tmp_path / "b", DATA, 4096)
    os.chmod(paths[1], 0)
    with open_volumes(paths[0]) as stream, pytest.raises(PermissionError) as info:
        stream.read()
    assert paths[1] in str(info.value)


def test_unreadable_next_volume_is_an_error_not_the_end(tmp_path: Path) -> None:
    paths = _write(tmp_path / "b", DATA, 4096)
    os.unlink(paths[1])
    os.mkdir(paths[1])  # cannot be read as a file
    with open_volumes(paths[0]) as stream, pytest.raises(IsADirectoryError) as info:
        stream.read()
    assert paths[1] in str(info.value)


# ---- a real tar through volumes ------------------------------------------------------------


def test_tar_round_trip_through_small_volumes(tmp_path: Path) -> None:
    members = {
        "models--org--name/blobs/" + "a" * 64: DATA * 3,
        "models--org--name/snapshots/" + "c" * 40 + "/deep/" + "long-name-" * 12 + ".json": b"{}",
        "empty": b"",
    }
    with VolumeWriter(str(tmp_path / "bundle.tar"), 1500) as w:
        with tarfile.open(fileobj=w, mode="w|", format=tarfile.PAX_FORMAT) as tf:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
        paths = w.commit()
    assert len(paths) > 20
    assert all(os.path.getsize(p) == 1500 for p in paths[:-1])
    got = {}
    with open_volumes(paths[0]) as stream, tarfile.open(fileobj=stream, mode="r|") as tf:
        for info in tf:
            src = tf.extractfile(info)
            assert src is not None
            got[info.name] = src.read()
    assert got == members


def test_tar_reader_sees_truncation(tmp_path: Path) -> None:
    with VolumeWriter(str(tmp_path / "t.tar"), 2048) as w:
        with tarfile.open(fileobj=w, mode="w|", format=tarfile.PAX_FORMAT) as tf:
            info = tarfile.TarInfo("big")
            info.size = 10_000
            tf.addfile(info, io.BytesIO(bytes(10_000)))
        paths = w.commit()
    for path in [*paths[2:], str(tmp_path / "t.tar.sha256")]:  # the tail lost, and the list of it
        os.unlink(path)
    with open_volumes(paths[0]) as stream, tarfile.open(fileobj=stream, mode="r|") as tf:
        member = tf.next()
        assert member is not None
        src = tf.extractfile(member)
        assert src is not None
        with pytest.raises(tarfile.ReadError, match="unexpected end"):
            src.read()


# ---- seeking and copying in the kernel ---------------------------------------------------------


@pytest.mark.parametrize("volume_size", [None, 1000, 4096])
def test_seek_and_tell_across_volumes(tmp_path: Path, volume_size: int | None) -> None:
    paths = _write(tmp_path / "b", DATA, volume_size)
    with open_volumes(paths[0]) as stream:
        assert stream.seekable()
        for pos in (0, 999, 1000, 4095, 4096, 7000, len(DATA) - 1):
            stream.seek(pos)
            assert stream.tell() == pos
            assert stream.read(1500) == DATA[pos : pos + 1500]
        assert stream.seek(-4, io.SEEK_END) == len(DATA) - 4
        assert stream.read() == b"tail"
        assert stream.seek(len(DATA) + 10) == len(DATA) + 10
        assert stream.read() == b""
        with pytest.raises(OSError):
            stream.seek(-1)


@pytest.mark.parametrize("kernel", [True, False])
@pytest.mark.parametrize("volume_size", [None, 1000])
def test_range_copier_copies_exact_ranges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel: bool, volume_size: int | None
) -> None:
    import hfcache.bundle.volread as volread

    monkeypatch.setattr(volread, "_COPY_FILE_RANGE", [kernel and hasattr(os, "copy_file_range")])
    paths = _write(tmp_path / "b", DATA, volume_size)
    with open_volumes(paths[0]) as stream:
        copy = range_copier(stream)
        assert copy is not None
        for offset, size in ((0, len(DATA)), (999, 2), (1500, 5000), (len(DATA) - 4, 4), (10, 0)):
            out = tmp_path / "out"
            with open(out, "wb") as f:
                copy(f.fileno(), offset, size)
            assert out.read_bytes() == DATA[offset : offset + size]
        with open(tmp_path / "out", "wb") as f, pytest.raises(EOFError, match="truncated"):
            copy(f.fileno(), len(DATA) - 4, 5)


def test_range_copier_sees_a_volume_shrink_after_open(tmp_path: Path) -> None:
    paths = _write(tmp_path / "b", DATA, 4096)
    with open_volumes(paths[0]) as stream:
        copy = range_copier(stream)
        assert copy is not None
        os.truncate(paths[1], 100)
        with open(tmp_path / "out", "wb") as f, pytest.raises(EOFError, match="shorter"):
            copy(f.fileno(), 0, len(DATA))


def test_no_range_copier_for_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"x")))
    assert range_copier(open_volumes("-")) is None


def test_seekable_tar_reading_across_volumes(tmp_path: Path) -> None:
    data = os.urandom(50_000)
    with VolumeWriter(str(tmp_path / "t.tar"), 3000) as w:
        with tarfile.open(fileobj=w, mode="w|", format=tarfile.PAX_FORMAT) as tf:
            for i in range(3):
                info = tarfile.TarInfo(f"m{i}")
                info.size = len(data) - i
                tf.addfile(info, io.BytesIO(data))
        paths = w.commit()
    with open_volumes(paths[0]) as stream, tarfile.open(fileobj=stream, mode="r:") as tf:
        copy = range_copier(stream)
        assert copy is not None
        for i, info in enumerate(tf):
            out = tmp_path / info.name
            with open(out, "wb") as f:
                copy(f.fileno(), info.offset_data, info.size)
            assert out.read_bytes() == data[: len(data) - i]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.parametrize("volume_size", [None, 4096])
def test_never_replaces_a_device_or_pipe(tmp_path: Path, volume_size: int | None) -> None:
    """Even with overwrite: ``-o /dev/sdb`` must not turn a device into a file (as root it could)."""
    target = tmp_path / "b.tar"
    special = volume_name(str(target), 1) if volume_size else str(target)
    os.mkfifo(special)
    with pytest.raises(BadInputError, match="not a regular file"):
        VolumeWriter(str(target), volume_size, overwrite=True)
    assert Path(special).is_fifo()
    assert _listing(tmp_path) == [Path(special).name]


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise here")
@pytest.mark.parametrize("volume_size", [None, 4096])
def test_writeback_is_started_as_it_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, volume_size: int | None
) -> None:
    """Every step, the kernel is asked to start writing (and drop what is written); the bytes
    are unchanged and each request stays inside the file written so far."""
    import hfcache.bundle.volumes as volumes

    calls: list[tuple[int, int, int]] = []

    def record(fd: int, offset: int, length: int, advice: int) -> None:
        calls.append((os.fstat(fd).st_size, offset, length))
        os.posix_fadvise(fd, offset, length, advice)

    monkeypatch.setattr(volumes, "WRITEBACK_STEP", 1000)
    monkeypatch.setattr(volumes, "_FADVISE", record)
    paths = _write(tmp_path / "b.tar", DATA, volume_size, chunk=333)
    assert b"".join(Path(p).read_bytes() for p in paths) == DATA
    assert len(calls) >= len(DATA) // (2 * 1000) - len(paths)  # a request at least every 2 steps
    for size_then, offset, length in calls:
        assert offset >= 0 and offset + length <= size_then  # flushed before advising


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_named_pipe_is_read_as_a_stream(tmp_path: Path) -> None:
    """``hfcache unpack <(ssh host cat b.tar)`` names a pipe: read in order, not by size."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)

    def feed() -> None:
        with open(pipe, "wb") as f:
            f.write(DATA)

    writer = threading.Thread(target=feed)
    writer.start()
    with open_volumes(str(pipe)) as stream:
        assert not stream.seekable()
        assert range_copier(stream) is None
        assert stream.read() == DATA
    writer.join()
