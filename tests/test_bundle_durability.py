"""The durability steps of pack and unpack: early writeback, one syncfs, the light blob lock
(the very flock huggingface_hub's filelock takes), and the digest record written in one go."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from builders import CachedRepo

from hfcache import _hf
from hfcache.bundle import install
from hfcache.bundle.pack import pack
from hfcache.bundle.unpack import unpack
from hfcache.fs import fsops, writeback
from hfcache.fs.digests import DigestStore, identity_of

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="syncfs, sync_file_range: Linux")


@linux
def test_writeback_calls_work_on_a_real_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    with open(path, "wb") as f:
        f.write(os.urandom(1 << 20))
        f.flush()
        writeback.start_writeback(f.fileno(), 0, 1 << 20)
        writeback.drop_cached(f.fileno(), 0, 1 << 20)
        writeback.advise_sequential(f.fileno())
        writeback.will_need(f.fileno())
    assert writeback.sync_filesystem(str(tmp_path)) is writeback.syncfs_reports_errors()


def test_without_the_calls_each_degrades(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writeback, "_LIBC", [None])
    assert not writeback.syncfs_reports_errors()
    assert writeback.sync_filesystem(str(tmp_path)) is False  # the caller fsyncs its files itself
    with open(tmp_path / "f", "wb") as f:
        f.write(b"x")
        writeback.start_writeback(f.fileno(), 0, 0)  # falls back to posix_fadvise, or nothing


def test_old_kernels_do_not_rely_on_syncfs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before Linux 5.8 syncfs did not report write errors."""
    monkeypatch.setattr(writeback, "_kernel_at_least", lambda major, minor: False)
    assert not writeback.syncfs_reports_errors()


def _hold(lock: Path, with_filelock: bool, seconds: float) -> subprocess.Popen[str]:
    """Another process holding the lock: huggingface_hub's way (filelock) or hfcache's."""
    take = (
        f"from filelock import FileLock; cm = FileLock({str(lock)!r})"
        if with_filelock
        else f"from hfcache.fs.fsops import blob_lock; cm = blob_lock({str(lock)!r})"
    )
    code = textwrap.dedent(f"""
        import sys, time
        {take}
        with cm:
            print("held", flush=True)
            time.sleep({seconds})
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_blob_lock_waits_for_a_download_holding_filelock(tmp_path: Path) -> None:
    lock = tmp_path / ".locks" / "models--a--b" / ("ab" * 32 + ".lock")
    lock.parent.mkdir(parents=True)
    holder = _hold(lock, with_filelock=True, seconds=5)
    try:
        with pytest.raises(fsops.Timeout), fsops.blob_lock(str(lock), timeout=0.2):
            pass
    finally:
        holder.kill()
        holder.wait()
    start = time.monotonic()
    with fsops.blob_lock(str(lock), timeout=5):  # free again
        pass
    assert time.monotonic() - start < 1


def test_a_download_waits_for_blob_lock(tmp_path: Path) -> None:
    from filelock import FileLock, Timeout

    lock = tmp_path / "x.lock"
    holder = _hold(lock, with_filelock=False, seconds=5)
    try:
        with pytest.raises(Timeout), FileLock(str(lock), timeout=0.2):
            pass
    finally:
        holder.kill()
        holder.wait()
    with FileLock(str(lock), timeout=5):
        pass
    assert lock.exists()  # left in place, as filelock leaves it: waiters share one inode


def test_blob_lock_falls_back_to_filelock_without_flock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fcntl

    def no_flock(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    no_locks = SimpleNamespace(
        flock=no_flock, LOCK_EX=fcntl.LOCK_EX, LOCK_NB=fcntl.LOCK_NB, LOCK_UN=fcntl.LOCK_UN
    )

    used: list[str] = []
    real = fsops.hf_lock

    def watched(lock_file: str, timeout: float = 10.0):  # type: ignore[no-untyped-def]
        used.append(lock_file)
        return real(lock_file, timeout)

    monkeypatch.setattr(fsops, "fcntl", no_locks)  # filelock keeps the real one
    monkeypatch.setattr(fsops, "hf_lock", watched)
    with fsops.blob_lock(str(tmp_path / "y.lock"), timeout=1):
        pass
    assert used == [str(tmp_path / "y.lock")]


def test_put_many_records_in_one_go(tmp_path: Path) -> None:
    store = DigestStore(str(tmp_path / "state" / "d.sqlite"))
    files = []
    for i in range(3):
        p = tmp_path / f"f{i}"
        p.write_bytes(b"%d" % i)
        files.append((str(p), identity_of(os.lstat(p)), {"sha256": f"{i:064x}"}))
    store.put_many(files)
    store.put_many([])
    for path, ident, digests in files:
        assert store.get(path, ident) == digests


def test_unpack_syncs_staged_blobs_before_the_first_rename_and_the_install_after(
    fresh_cache: CachedRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = fresh_cache
    pack([c.repo_id], str(tmp_path / "b.tar"), cache_dir=str(c.cache_dir))
    events: list[str] = []
    real_rename, real_symlink = os.rename, os.symlink

    def rename(a: str, b: str) -> None:
        events.append("rename")
        real_rename(a, b)

    def symlink(a: str, b: str) -> None:
        events.append("link")
        real_symlink(a, b)

    def sync(path: str) -> bool:
        events.append("sync")
        return True

    monkeypatch.setattr("hfcache.bundle.unpack.syncfs_reports_errors", lambda: True)
    monkeypatch.setattr(install, "sync_filesystem", sync)
    monkeypatch.setattr(install.os, "rename", rename)
    monkeypatch.setattr(fsops.os, "symlink", symlink)
    unpack(str(tmp_path / "b.tar"), cache_dir=str(tmp_path / "server"))
    assert events[0] == "sync" and events[-1] == "sync" and events.count("sync") == 2
    assert "rename" in events and "link" in events
    _same_tree_listings(c, tmp_path / "server")


def _same_tree_listings(c: CachedRepo, server: Path) -> None:
    """Each tree listing arrived with its bytes (staged, then renamed or copied into place)."""
    listings = sorted(c.cache_dir.glob("*/trees/*.json"))
    assert len(listings) == (1 if _hf.HAS_TREE_CACHE else 0)
    for t in listings:
        assert (server / t.relative_to(c.cache_dir)).read_bytes() == t.read_bytes()


def test_without_syncfs_each_staged_file_is_fsynced(
    fresh_cache: CachedRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By the stager (a bundle file) or the verifier (a stream), whichever staged it."""
    from hfcache.bundle import staged, stager

    c = fresh_cache
    pack([c.repo_id], str(tmp_path / "b.tar"), cache_dir=str(c.cache_dir))
    synced: list[object] = []
    real_path, real_fd = staged._fsync, stager._fsync
    monkeypatch.setattr(staged, "_fsync", lambda path: (synced.append(path), real_path(path))[1])
    monkeypatch.setattr(stager, "_fsync", lambda fd: (synced.append(fd), real_fd(fd))[1])
    monkeypatch.setattr("hfcache.bundle.unpack.syncfs_reports_errors", lambda: False)
    monkeypatch.setattr(install, "sync_filesystem", lambda path: pytest.fail("no syncfs here"))
    dirs: list[str] = []
    real_dir = fsops.fsync_dir
    monkeypatch.setattr(fsops, "fsync_dir", lambda path: (dirs.append(path), real_dir(path))[1])
    done = unpack(str(tmp_path / "b.tar"), cache_dir=str(tmp_path / "server"))
    assert done.installed is not None and len(synced) == done.installed.blobs_written
    _same_tree_listings(c, tmp_path / "server")
    # every folder the install put a name in is synced, so each rename and link is durable
    named = {str(p.parent) for p in (tmp_path / "server").glob("models--*/**/*") if not p.is_dir()}
    named -= {str(p.parent) for p in (tmp_path / "server").glob("models--*/.hfcache/**/*")}
    assert named and named <= set(dirs), sorted(named - set(dirs))


def test_an_install_that_fails_leaves_no_temporary_beside_a_ref(
    fresh_cache: CachedRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one sync, refs are written beside their final names before it; a failure after
    (here: renaming a blob into place) removes them: nothing half-written is left in the cache."""
    c = fresh_cache
    pack([c.repo_id], str(tmp_path / "b.tar"), cache_dir=str(c.cache_dir))
    staged_refs: list[str] = []
    real_open = open

    def watched_open(path, *a, **k):  # type: ignore[no-untyped-def]
        if fsops.TMP_MARK in str(path):
            staged_refs.append(str(path))
        return real_open(path, *a, **k)

    def no_rename(a: str, b: str) -> None:
        raise OSError(errno.EIO, "injected", b)

    monkeypatch.setattr("hfcache.bundle.unpack.syncfs_reports_errors", lambda: True)
    monkeypatch.setattr(install, "sync_filesystem", lambda path: True)
    monkeypatch.setattr(install.os, "rename", no_rename)
    monkeypatch.setattr("builtins.open", watched_open)
    with pytest.raises(OSError):
        unpack(str(tmp_path / "b.tar"), cache_dir=str(tmp_path / "server"))
    assert staged_refs and all(fsops.TMP_MARK in p and "/refs/" in p for p in staged_refs)
    assert not [p for p in (tmp_path / "server").rglob("*") if fsops.TMP_MARK in p.name]
