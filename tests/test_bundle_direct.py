"""pack's direct way to one file (blobs copied in the kernel, hashed from the bundle on every
core, the manifest completed in place): the same bundle as the streamed way, every byte judged,
and anything wrong sent down the streamed way, which names it."""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import hashlib
import json
import os
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from builders import CachedRepo, cache_repo, cache_two_revisions
from checks import loads_exactly
from standin_hub import StandinHub

from hfcache.bundle import pack as pack_mod
from hfcache.bundle import packdirect, packhash, packstream, tarwriter, windows
from hfcache.bundle.pack import pack
from hfcache.bundle.packhash import PENDING_SHA256
from hfcache.bundle.packstream import DirectTar
from hfcache.bundle.unpack import unpack
from hfcache.bundle.volumes import VolumeWriter
from hfcache.errors import PackRefusedError
from hfcache.fs.hashing import Algo, git_blob_sha1
from hfcache.progress import NO_PROGRESS


@pytest.fixture(params=["default", "small-windows", "page-cache"])
def route(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each test three ways: as it runs (the test repos' files are small: they share tasks),
    every file a task of its own across many 8 KiB windows (members meet inside windows, filled
    by two threads), and through the page cache (a file system without O_DIRECT)."""
    if request.param == "small-windows":  # and small files hashed two at a time, a manifest patched in pieces
        monkeypatch.setattr(packhash, "_AT_ONCE", 2)
        monkeypatch.setattr(packdirect, "_PATCH_AT_ONCE", 100)
        monkeypatch.setattr(packstream, "SMALL", 0)
        monkeypatch.setattr(windows, "WINDOW", 8192)
        monkeypatch.setattr(packstream, "CHUNK", 1000)
        monkeypatch.setattr(packstream, "ALLOCATE_AHEAD", 8192)
    if request.param == "page-cache":
        monkeypatch.setattr(packstream, "direct_fd", lambda path: None)
    yield str(request.param)


@pytest.fixture
def streamed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records each time the streamed way starts (by hashing the small files first)."""
    calls: list[str] = []
    real = pack_mod.prehash

    def watched(*a, **k):  # type: ignore[no-untyped-def]
        calls.append("streamed")
        return real(*a, **k)

    monkeypatch.setattr(pack_mod, "prehash", watched)
    return calls


def _members(bundle: Path) -> list[tuple[str, str, int, str, bytes]]:
    with tarfile.open(bundle) as tf:
        out = []
        for ti in tf:
            f = tf.extractfile(ti) if ti.isreg() else None
            out.append((ti.name, ti.type.decode(), ti.size, ti.linkname, f.read() if f else b""))
        return out


def _without_time(data: bytes) -> dict[str, object]:
    doc = dict(json.loads(data))
    doc.pop("created")
    return doc


@pytest.mark.usefixtures("route")
def test_the_direct_way_writes_what_the_streamed_way_writes(
    fresh_cache: CachedRepo, tmp_path: Path, streamed: list[str]
) -> None:
    c = fresh_cache
    direct = pack([c.repo_id], str(tmp_path / "d.tar"), cache_dir=str(c.cache_dir))
    assert streamed == []
    volumes = pack([c.repo_id], str(tmp_path / "v.tar"), cache_dir=str(c.cache_dir), split_size=1 << 30)
    assert streamed == ["streamed"]
    mine, theirs = _members(tmp_path / "d.tar"), _members(Path(volumes.paths[0]))
    assert [m[:4] for m in mine] == [m[:4] for m in theirs]
    for a, b in zip(mine, theirs, strict=True):
        if a[0].endswith("manifest.json"):
            assert _without_time(a[4]) == _without_time(b[4])
            assert PENDING_SHA256.encode() not in a[4]
        else:
            assert a[4] == b[4], a[0]
    assert direct.manifest.repos == volumes.manifest.repos
    assert direct.bytes_written == (tmp_path / "d.tar").stat().st_size
    done = unpack(str(tmp_path / "d.tar"), cache_dir=str(tmp_path / "server"))
    assert done.installed is not None and not done.problems
    loads_exactly(CachedRepo(c.hub, tmp_path / "server", c.repo_id, c.repo_type, c.commit, c.files))


@pytest.mark.usefixtures("route")
def test_the_manifest_is_completed(
    hub: StandinHub, tmp_path: Path, streamed: list[str]
) -> None:
    """Two revisions of one repo and a second repo: the manifest, once, completed."""
    c1, c2 = cache_two_revisions(hub, tmp_path / "hub")
    other = hub.unique_repo_id()
    hub.add_commit(other, {"config.json": b'{"a": 1}', "README.md": b"# other\n"})
    cache_repo(hub, tmp_path / "hub", other)
    result = pack(
        [f"{c1.repo_id}@{c1.commit}", f"{c1.repo_id}@{c2.commit}", other],
        str(tmp_path / "b.tar"),
        cache_dir=str(tmp_path / "hub"),
    )
    assert streamed == []
    manifests = [m[4] for m in _members(tmp_path / "b.tar") if m[0].endswith(".hfcache/manifest.json")]
    assert manifests == [result.manifest.to_bytes()]  # once per bundle, not once per repo
    # written a repo at a time, the standard rendering of the whole document all the same
    whole = json.dumps(dataclasses.asdict(result.manifest), indent=1, ensure_ascii=False, sort_keys=True)
    assert manifests[0] == whole.encode("utf-8")
    hashes = [f.sha256 for r in result.manifest.repos for f in r.files]
    assert PENDING_SHA256 not in hashes
    for r in result.manifest.repos:
        for f in r.files:
            data = (tmp_path / "hub" / r.folder / "blobs" / f.etag).read_bytes()
            assert hashlib.sha256(data).hexdigest() == f.sha256
            assert f.etag in (f.sha256, git_blob_sha1(data))


@pytest.mark.usefixtures("route")
@pytest.mark.parametrize("which", ["lfs", "small"])
def test_a_corrupt_file_is_refused_by_the_streamed_way(
    fresh_cache: CachedRepo, tmp_path: Path, streamed: list[str], which: str
) -> None:
    c = fresh_cache
    blobs = sorted((c.repo_folder / "blobs").iterdir(), key=lambda p: p.stat().st_size)
    blob = next(p for p in blobs if (len(p.name) == 64) == (which == "lfs"))
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 1
    blob.write_bytes(bytes(data))
    with pytest.raises(PackRefusedError) as e:
        pack([c.repo_id], str(tmp_path / "b.tar"), cache_dir=str(c.cache_dir))
    assert streamed == ["streamed"]
    assert list(tmp_path.glob("*b.tar*")) == []  # no bundle, no partial one
    primary = [f for f in e.value.problems if f.folded_into is None]
    assert [(f.code, f.path) for f in primary] == [("blob-hash-mismatch", str(blob))]
    assert primary[0].place.commit == c.commit and primary[0].about  # named by the file it is
    if which == "lfs":
        assert "found while packing" in str(e.value)


def test_a_file_that_shrinks_while_packed_leaves_no_bundle(
    fresh_cache: CachedRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, streamed: list[str]
) -> None:
    """Changed after it was chosen: the direct way stops, and the cache chosen again (the picks
    were let go as the manifest was made) is refused with the file named."""
    c = fresh_cache
    real_select = pack_mod.select
    biggest = max((c.repo_folder / "blobs").iterdir(), key=lambda p: p.stat().st_size)
    chosen: list[int] = []

    def select_then_truncate(*a, **k):  # type: ignore[no-untyped-def]
        out = real_select(*a, **k)
        if not chosen:
            os.truncate(biggest, biggest.stat().st_size // 2)
        chosen.append(1)
        return out

    monkeypatch.setattr(pack_mod, "select", select_then_truncate)
    with pytest.raises(PackRefusedError) as e:
        pack([c.repo_id], str(tmp_path / "b.tar"), cache_dir=str(c.cache_dir))
    assert len(chosen) == 2 and streamed == []
    links = {str(p) for p in (c.repo_folder / "snapshots").rglob("*") if p.resolve() == biggest.resolve()}
    named = [f for f in e.value.problems if biggest.name in f.path or f.path in links or links & set(f.about)]
    assert links and named, e.value.problems  # by its blob, or (no tree listing) by its file
    assert list(tmp_path.glob("*b.tar*")) == []


def test_an_interrupted_pack_leaves_nothing_that_looks_like_a_bundle(
    fresh_cache: CachedRepo, tmp_path: Path
) -> None:
    class Interrupting:
        def __init__(self) -> None:
            self.seen = 0

        def start(self, task: str, total: int | None) -> None:
            pass

        def advance(self, n: int) -> None:
            self.seen += n
            if self.seen > 1000:
                raise KeyboardInterrupt

        def finish(self) -> None:
            pass

    c = fresh_cache
    with pytest.raises(KeyboardInterrupt):
        pack([c.repo_id], str(tmp_path / "b.tar"), cache_dir=str(c.cache_dir), progress=Interrupting())
    assert list(tmp_path.glob("*b.tar*")) == []
    assert threading.active_count() == 1 or all(
        not t.name.startswith("hfcache-pack-hash") for t in threading.enumerate()
    )


def test_a_full_disk_names_the_bundle(
    fresh_cache: CachedRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int, data: object, offset: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    c = fresh_cache
    with pytest.raises(OSError, match="No space left") as e:
        pack([c.repo_id], str(tmp_path / "b.tar"), cache_dir=str(c.cache_dir))
    assert e.value.filename == str(tmp_path / "b.tar")
    assert list(tmp_path.glob("*b.tar*")) == []


@pytest.mark.parametrize("window", [8192, 1 << 20])
@pytest.mark.parametrize("small", [0, 1 << 20])
def test_direct_tar_writes_the_bytes_tarwriter_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small: int, window: int
) -> None:
    """Byte for byte, headers, padding and end blocks included (same mtimes), whatever the
    windows and however members share them; digests judged in bundle order."""
    monkeypatch.setattr(packstream, "SMALL", small)
    monkeypatch.setattr(windows, "WINDOW", window)
    monkeypatch.setattr(packstream, "CHUNK", 777)
    monkeypatch.setattr(tarwriter.time, "time", lambda: 1_700_000_000.0)
    sources = []
    for i, size in enumerate([0, 1, 511, 512, 513, 5000, 70_000, 8192 * 3 + 5]):
        p = tmp_path / f"src{i}"
        p.write_bytes(os.urandom(size))
        sources.append((f"models--a--b/blobs/{i:040x}", p, size))
    with VolumeWriter(str(tmp_path / "classic.tar")) as out:
        tw = tarwriter.TarWriter(out)
        tw.add_bytes("models--a--b/.hfcache/manifest.json", b"{}")
        tw.add_pieces("models--a--b/trees/c.json", 1000, iter([b"a" * 300, b"", b"b" * 700]))
        for name, p, size in sources:
            tw.add_file(name, str(p), size, NO_PROGRESS)
        tw.add_link("models--a--b/snapshots/c/x", "../../blobs/x")
        tw.close()
        out.commit()
    judged: list[tuple[object, dict[Algo, str]]] = []
    with VolumeWriter(str(tmp_path / "direct.tar")) as out:
        direct = out.direct()
        assert direct is not None
        fd, temp = direct
        args = (temp, fd, 0, lambda t, d: judged.append((t, d)), lambda n: None, str(tmp_path / "d.tar"))
        with DirectTar(*args, workers=3) as tar:
            at = tar.add_bytes("models--a--b/.hfcache/manifest.json", 2, (b"{}",), 1_700_000_000.0)
            tar.add_bytes("models--a--b/trees/c.json", 1000, (b"a" * 300, b"", b"b" * 700), 1_700_000_000.0)
            for name, p, size in sources:
                tar.add_file(name, str(p), size, frozenset({Algo.SHA256, Algo.GIT_SHA1}), name)
            tar.add_link("models--a--b/snapshots/c/x", "../../blobs/x", 1_700_000_000.0)
            tar.close()
            tar.patch(at, b"[]")
            tar.truncate()
        out.wrote(tar.pos)
        out.commit()
    direct_bytes = (tmp_path / "direct.tar").read_bytes()
    classic = (tmp_path / "classic.tar").read_bytes()
    assert direct_bytes[:at] == classic[:at] and direct_bytes[at : at + 2] == b"[]"
    assert direct_bytes[at + 2 :] == classic[at + 2 :]
    assert [tag for tag, _ in judged] == [name for name, _, _ in sources]  # in bundle order
    for (_, digests), (_, p, _) in zip(judged, sources, strict=True):
        data = p.read_bytes()
        assert digests == {Algo.SHA256: hashlib.sha256(data).hexdigest(), Algo.GIT_SHA1: git_blob_sha1(data)}


@pytest.mark.parametrize("pieces", [[b"ab"], [b"abcd"], [b"ab", b"cd"], []])
def test_bytes_other_than_announced_are_refused(tmp_path: Path, pieces: list[bytes]) -> None:
    """A member announced as 3 bytes whose pieces make more or fewer: the tar would be broken."""
    with VolumeWriter(str(tmp_path / "t.tar")) as out, pytest.raises(ValueError, match="3 bytes announced"):
        tarwriter.TarWriter(out).add_pieces("models--a--b/x", 3, iter(pieces))
    out, tar = _direct_tar(tmp_path)
    with out, tar, pytest.raises(ValueError, match="3 bytes announced"):
        tar.add_bytes("models--a--b/x", 3, pieces, 1_700_000_000.0)


def _direct_tar(tmp_path: Path, judge: object = None) -> tuple[VolumeWriter, DirectTar]:
    out = VolumeWriter(str(tmp_path / "b.tar"))
    direct = out.direct()
    assert direct is not None
    judge = judge or (lambda t, d: None)
    return out, DirectTar(direct[1], direct[0], 0, judge, lambda n: None, str(tmp_path / "b.tar"))  # type: ignore[arg-type]


def test_a_judgement_stops_the_pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packstream, "SMALL", 0)
    (tmp_path / "s").write_bytes(os.urandom(100_000))

    def refuse(tag: object, digests: object) -> None:
        raise ValueError(f"no to {tag}")

    out, tar = _direct_tar(tmp_path, refuse)
    with out, pytest.raises(ValueError, match="no to 0"), tar:
        for i in range(20):
            tar.add_file(f"m/blobs/{i}", str(tmp_path / "s"), 100_000, frozenset({Algo.SHA256}), i)
        tar.close()
    assert [t.name for t in threading.enumerate() if t.name.startswith("hfcache-pack")] == []


def test_a_file_changed_after_its_header_is_a_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packstream, "SMALL", 0)
    src = tmp_path / "s"
    src.write_bytes(b"x" * 5000)
    out, tar = _direct_tar(tmp_path)
    with out, pytest.raises(packstream.ChangedError), tar:
        tar._submit = lambda: None  # type: ignore[method-assign]  # hold the task back
        tar.add_file("m/blobs/a", str(src), 5000, frozenset({Algo.SHA256}), "a")
        os.utime(src, ns=(0, 10**9))
        del tar._submit
        tar.close()


def test_a_file_shorter_than_listed_is_a_change(tmp_path: Path) -> None:
    (tmp_path / "s").write_bytes(b"x" * 5000)
    out, tar = _direct_tar(tmp_path)
    with out, pytest.raises(packstream.ChangedError, match="ends after 5000 of 6000"), tar:
        tar.add_file("m/blobs/a", str(tmp_path / "s"), 6000, frozenset({Algo.SHA256}), "a")
        tar.close()


def test_a_refused_direct_write_goes_through_the_page_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file system that takes O_DIRECT at open but wants another alignment (EINVAL)."""
    real = os.pwrite
    refused: list[int] = []

    def pwrite(fd: int, data: object, offset: int) -> int:
        if os.get_blocking(fd) and fcntl.fcntl(fd, fcntl.F_GETFL) & getattr(os, "O_DIRECT", 0):
            refused.append(fd)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(fd, data, offset)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "pwrite", pwrite)
    data = os.urandom(300_000)
    (tmp_path / "s").write_bytes(data)
    out, tar = _direct_tar(tmp_path)
    with out, tar:
        tar.add_file("m/blobs/a", str(tmp_path / "s"), len(data), frozenset({Algo.SHA256}), "a")
        tar.close()
        tar.truncate()
        out.wrote(tar.pos)
        out.commit()
    assert not tar.direct and (refused or windows._O_DIRECT == 0)
    with tarfile.open(tmp_path / "b.tar") as tf:
        f = tf.extractfile("m/blobs/a")
        assert f is not None and f.read() == data


def test_no_room_names_the_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int, offset: int, length: int) -> bool:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(packstream, "allocate", full)
    (tmp_path / "s").write_bytes(b"x" * 5000)
    out, tar = _direct_tar(tmp_path)
    if not tar.direct:
        pytest.skip("no O_DIRECT here: nothing is allocated ahead")
    with out, tar, pytest.raises(OSError, match="No space") as e:
        tar.add_file("m/blobs/a", str(tmp_path / "s"), 5000, frozenset({Algo.SHA256}), "a")
        tar.close()
    assert e.value.filename == str(tmp_path / "b.tar")


def test_memory_is_a_fixed_pool_of_windows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """However many files, the windows in use never exceed the pool (flat memory)."""
    monkeypatch.setattr(packstream, "SMALL", 0)
    monkeypatch.setattr(windows, "WINDOW", 8192)
    monkeypatch.setattr(packstream, "ALLOCATE_AHEAD", 8192)
    (tmp_path / "s").write_bytes(os.urandom(50_000))
    out, tar = _direct_tar(tmp_path)
    with out, tar:
        most = 0
        for i in range(200):
            tar.add_file(f"m/blobs/{i}", str(tmp_path / "s"), 50_000, frozenset({Algo.SHA256}), i)
            most = max(most, len(tar._windows._open))
        tar.close()
    assert most <= 3 * tar._in_flight + 1
