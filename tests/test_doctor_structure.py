"""Cache structure, file-system surprises, and what a PATH can be."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import damage
import pytest
from builders import CachedRepo, download_cache
from checks import codes, loads_exactly, the_finding

from hfcache import layout
from hfcache.doctor import diagnose
from hfcache.errors import BadInputError
from hfcache.findings import Severity
from hfcache.layout import PathKind, locate


def test_folder_that_is_not_a_repo(fresh_cache: CachedRepo) -> None:
    stray = fresh_cache.cache_dir / "my-notes"
    stray.mkdir()
    assert the_finding(diagnose(fresh_cache.cache_dir), "repo-bad-name", stray).severity is Severity.WARNING


def test_repo_without_snapshots_or_blobs(fresh_cache: CachedRepo) -> None:
    """Nothing of it is here to lose: a warning, download it again or delete the folder (a lost
    snapshots/ over blobs that are still here is in test_doctor_trees.py)."""
    c = fresh_cache
    shutil.rmtree(c.repo_folder / "snapshots")
    shutil.rmtree(c.repo_folder / "blobs")
    found = the_finding(diagnose(c.cache_dir), "repo-no-snapshots", c.repo_folder)
    assert found.severity is Severity.WARNING and "delete the folder" in found.advice


def test_stray_file_in_snapshots_does_not_hide_the_repo(fresh_cache: CachedRepo) -> None:
    c = fresh_cache
    stray = c.repo_folder / "snapshots" / "notes.txt"
    stray.write_text("x")
    damage.backslash_link(c, "config.json")
    report = diagnose(c.cache_dir)
    assert codes(report) == {"snapshot-stray-file", "link-backslash"}


def test_snapshot_folder_that_is_a_link_is_not_followed(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.safetensors").write_bytes(b"\xff" * 10)
    link = c.repo_folder / "snapshots" / ("f" * 40)
    os.symlink(elsewhere, link)
    report = diagnose(c.cache_dir)
    assert the_finding(report, "dir-is-link", link).severity is Severity.ERROR
    assert "shard-header-unreadable" not in codes(report)  # nothing behind the link was read


def test_fifo_in_a_snapshot(fresh_cache: CachedRepo) -> None:
    fifo = fresh_cache.snapshot / "pipe"
    os.mkfifo(fifo)
    assert the_finding(diagnose(fresh_cache.cache_dir), "special-file", fifo).severity is Severity.WARNING


def test_unreadable_folder_is_reported_and_the_rest_checked(
    fresh_cache: CachedRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = fresh_cache
    locked = c.repo_folder / "refs"
    damage.backslash_link(c, "config.json")
    if os.geteuid() != 0:
        locked.chmod(0)
    else:  # root reads through any mode bits: make the refusal happen where the OS would
        real_scandir = os.scandir

        def refusing_scandir(path: str) -> os.ScandirIterator[str]:
            if os.fspath(path) == str(locked):
                raise PermissionError(13, "Permission denied", str(locked))
            return real_scandir(path)

        monkeypatch.setattr(os, "scandir", refusing_scandir)
    try:
        report = diagnose(c.cache_dir)
    finally:
        locked.chmod(0o755)
    assert the_finding(report, "unreadable", locked).severity is Severity.ERROR
    assert "link-backslash" in codes(report)


def test_locate_every_kind_of_path(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    assert locate(c.cache_dir).kind is PathKind.HUB_CACHE
    home = c.cache_dir.parent
    assert locate(home) == layout.Location(PathKind.HF_HOME, str(home), str(c.cache_dir))
    repo = locate(c.repo_folder)
    assert repo.kind is PathKind.REPO and repo.only_repo == c.repo_folder.name
    local = download_cache(c.hub, tmp_path / "cache2", c.repo_id, local_dir=str(tmp_path / "plain"))
    assert locate(local).kind is PathKind.LOCAL_DIR


def test_single_repo_folder_is_checked_alone(fresh_cache: CachedRepo) -> None:
    c = fresh_cache
    (c.cache_dir / "my-notes").mkdir()
    damage.git_link_text(c, "config.json")
    assert codes(diagnose(c.repo_folder)) == {"entry-link-text"}


@pytest.mark.parametrize("make", ["missing", "file", "unrelated"])
def test_bad_input_is_one_clear_error(tmp_path: Path, make: str) -> None:
    """(An empty folder is an empty cache: "No models cached yet", see test_cli.)"""
    target = tmp_path / "target"
    if make == "file":
        target.write_text("x")
    elif make == "unrelated":
        target.mkdir()
        (target / "photo.jpg").write_bytes(b"x")
    with pytest.raises(BadInputError) as info:
        diagnose(target)
    assert str(target) in str(info.value) and "\n" not in str(info.value)


def test_default_path_is_huggingface_hubs_cache(fresh_cache: CachedRepo) -> None:
    """No PATH: the cache huggingface_hub itself resolves (HF_HUB_CACHE, set by the fixture)."""
    assert diagnose(None).root == str(fresh_cache.cache_dir)


def test_plain_model_folder(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    """hf download --local-dir: real files are normal there; LFS pointers in place of shards are not."""
    c = fresh_cache
    plain = _download_plain(c, tmp_path)
    assert diagnose(plain, verify_hashes=True).findings == ()
    pointer = plain / "model-00001-of-00002.safetensors"
    pointer.write_bytes(
        b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"a" * 64 + b"\nsize 1234\n"
    )
    assert "entry-lfs-pointer" in codes(diagnose(plain))
    loads_exactly(c)  # the cache itself was never touched


def test_plain_model_folder_empty_placeholder(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    """An emptied file is a placeholder when the download left a record of what belongs there (a tree
    listing, or the etag in download metadata, from 0.23 on); with no record at all it may be a
    genuinely empty file (an __init__.py), so it is left alone."""
    c = fresh_cache
    plain = _download_plain(c, tmp_path)
    (plain / "tokenizer.json").write_bytes(b"")
    record = plain / ".cache" / "huggingface"
    if not (record / "download").is_dir():  # huggingface_hub < 0.23 records nothing
        assert "entry-empty" not in codes(diagnose(plain))
        return
    assert "entry-empty" in codes(diagnose(plain))


def _download_plain(c: CachedRepo, tmp_path: Path) -> Path:
    """``c``'s repo downloaded again with ``local_dir=``, as ``hf download --local-dir`` does."""
    return Path(download_cache(c.hub, tmp_path / "cache2", c.repo_id, local_dir=str(tmp_path / "plain")))
