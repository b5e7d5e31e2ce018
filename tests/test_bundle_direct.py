"""pack's direct way to one file (blobs copied in the kernel, hashed from the bundle on every
core, the manifest completed in place): the same bundle as the streamed way, every byte judged,
and anything wrong sent down the streamed way, which names it."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from builders import CachedRepo, cache_repo, cache_two_revisions
from checks import loads_exactly
from standin_hub import StandinHub

from hfcache.bundle import pack as pack_mod
from hfcache.bundle import packstream, tarwriter
from hfcache.bundle.pack import pack
from hfcache.bundle.packhash import PENDING_SHA256
from hfcache.bundle.packstream import BundleHasher, PositionalTar, Region
from hfcache.bundle.unpack import unpack
from hfcache.bundle.volumes import VolumeWriter
from hfcache.errors import PackRefusedError
from hfcache.fs.hashing import Algo, git_blob_sha1
from hfcache.progress import NO_PROGRESS


@pytest.fixture(params=["buffered", "kernel-copy", "read-write"])
def route(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each test three ways: small files through the buffer (the test repos' files are small),
    every file copied in the kernel in small steps with early writeback at each, and the
    same without copy_file_range (another file system): read and written by Python."""
    if request.param != "buffered":
        monkeypatch.setattr(packstream, "SMALL", 0)
        monkeypatch.setattr(packstream, "COPY_STEP", 1000)
        monkeypatch.setattr(packstream, "WRITEBACK_STEP", 1)
    if request.param == "read-write":

        def refused(*a: object, **k: object) -> int:
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        monkeypatch.setattr(os, "copy_file_range", refused)
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
def test_every_copy_of_the_manifest_is_completed(
    hub: StandinHub, tmp_path: Path, streamed: list[str]
) -> None:
    """Two revisions of one repo (one manifest in its folder) and a second repo (one more)."""
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
    assert len(manifests) == 2 and all(m == result.manifest.to_bytes() for m in manifests)
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
    with pytest.raises(PackRefusedError):
        pack([c.repo_id], str(tmp_path / "b.tar"), cache_dir=str(c.cache_dir))
    assert streamed == ["streamed"]
    assert list(tmp_path.glob("*b.tar*")) == []  # no bundle, no partial one


def test_a_file_that_shrinks_while_packed_leaves_no_bundle(
    fresh_cache: CachedRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, streamed: list[str]
) -> None:
    c = fresh_cache
    real_select = pack_mod.select

    def select_then_truncate(*a, **k):  # type: ignore[no-untyped-def]
        out = real_select(*a, **k)
        biggest = max((c.repo_folder / "blobs").iterdir(), key=lambda p: p.stat().st_size)
        os.truncate(biggest, biggest.stat().st_size // 2)
        return out

    monkeypatch.setattr(pack_mod, "select", select_then_truncate)
    with pytest.raises((PackRefusedError, EOFError)):
        pack([c.repo_id], str(tmp_path / "b.tar"), cache_dir=str(c.cache_dir))
    assert streamed == ["streamed"]
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


@pytest.mark.parametrize("small", [0, 1 << 20])
def test_positional_tar_writes_the_bytes_tarwriter_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small: int
) -> None:
    """Byte for byte, headers, padding and end blocks included (same mtimes)."""
    monkeypatch.setattr(packstream, "SMALL", small)
    monkeypatch.setattr(packstream, "COPY_STEP", 777)
    monkeypatch.setattr(tarwriter.time, "time", lambda: 1_700_000_000.0)
    sources = []
    for i, size in enumerate([0, 1, 511, 512, 513, 5000, 70_000]):
        p = tmp_path / f"src{i}"
        p.write_bytes(os.urandom(size))
        sources.append((f"models--a--b/blobs/{i:040x}", p, size))
    with VolumeWriter(str(tmp_path / "classic.tar")) as out:
        tw = tarwriter.TarWriter(out)
        tw.add_bytes("models--a--b/.hfcache/manifest.json", b"{}")
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
        with BundleHasher(temp, lambda r, d: judged.append((r.tag, d)), workers=2) as hasher:
            pt = PositionalTar(fd, 0, hasher, lambda n: None, str(tmp_path / "direct.tar"))
            pt.add_bytes("models--a--b/.hfcache/manifest.json", b"{}", 1_700_000_000.0)
            for name, p, size in sources:
                pt.add_file(name, str(p), size, frozenset({Algo.SHA256, Algo.GIT_SHA1}), name)
            pt.add_link("models--a--b/snapshots/c/x", "../../blobs/x", 1_700_000_000.0)
            pt.close()
            hasher.finish()
        out.wrote(pt.pos)
        out.commit()
    assert (tmp_path / "direct.tar").read_bytes() == (tmp_path / "classic.tar").read_bytes()
    assert [tag for tag, _ in judged] == [name for name, _, _ in sources]  # in bundle order
    for (_, digests), (_, p, _) in zip(judged, sources, strict=True):
        data = p.read_bytes()
        assert digests == {Algo.SHA256: hashlib.sha256(data).hexdigest(), Algo.GIT_SHA1: git_blob_sha1(data)}


def _regions(path: Path, sizes: list[int]) -> list[Region]:
    out, at = [], 0
    with open(path, "wb") as f:
        for i, size in enumerate(sizes):
            f.write(os.urandom(size))
            out.append(Region(at, size, frozenset({Algo.SHA256}), i))
            at += size
    return out


def test_hasher_judges_in_order_and_a_judgement_stops_it(tmp_path: Path) -> None:
    regions = _regions(tmp_path / "f", [10, 100_000, 0, 7, 3 << 20])
    data = (tmp_path / "f").read_bytes()
    order: list[int] = []

    def judge(r: Region, d: dict[Algo, str]) -> None:
        assert d[Algo.SHA256] == hashlib.sha256(data[r.offset : r.offset + r.size]).hexdigest()
        order.append(r.tag)

    with BundleHasher(str(tmp_path / "f"), judge, workers=3) as h:
        for r in regions:
            if r.size > 1000:
                g = h.follow(r)
                g.advance(r.size)
                g.close()
            else:
                h.written(r)
        h.finish()
    assert order == [0, 1, 2, 3, 4] and h.hashed_to == sum(r.size for r in regions)

    def refuse(r: Region, d: dict[Algo, str]) -> None:
        raise ValueError(f"no to {r.tag}")

    with pytest.raises(ValueError, match="no to 0"), BundleHasher(str(tmp_path / "f"), refuse) as h:
        for r in regions:
            h.written(r)
        h.finish()


def test_hasher_waits_when_too_much_is_unhashed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    real = packstream._hash_regions

    def slow(path, regions, growing):  # type: ignore[no-untyped-def]
        release.wait(10)
        return real(path, regions, growing)

    monkeypatch.setattr(packstream, "_hash_regions", slow)
    regions = _regions(tmp_path / "f", [1000, 1000, 1000])
    with BundleHasher(str(tmp_path / "f"), lambda r, d: None, workers=2, max_pending=1500) as h:
        for r in regions[:2]:
            g = h.follow(r)
            g.advance(r.size)
            g.close()
        threading.Timer(0.2, release.set).start()
        start = time.monotonic()
        h.follow(regions[2]).close()  # 2000 > 1500 unhashed: waits for the oldest first
        assert time.monotonic() - start >= 0.15
        with pytest.raises(packstream.ChangedError):  # the third was closed before any byte came
            h.finish()


def test_a_copy_that_stops_short_is_a_change(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x" * 100)
    with pytest.raises(packstream.ChangedError), BundleHasher(str(tmp_path / "f"), lambda r, d: None) as h:
        g = h.follow(Region(0, 100, frozenset({Algo.SHA256}), "blob"))
        g.advance(40)
        g.close()
        h.finish()


def test_reading_back_needs_a_readable_bundle(tmp_path: Path) -> None:
    """The bundle's temporary is opened read-write, so the hashers can read it back."""
    with VolumeWriter(str(tmp_path / "b.tar")) as out:
        direct = out.direct()
        assert direct is not None
        fd, temp = direct
        os.pwrite(fd, b"abc", 0)
        assert os.pread(fd, 3, 0) == b"abc" and io.FileIO(temp).read() == b"abc"
    assert VolumeWriter(str(tmp_path / "v.tar"), 10).direct() is None
