"""One view of a revision, over a cache and over a bundle read in place: same files, same bytes."""

from __future__ import annotations

from pathlib import Path

import damage
import pytest
from builders import CachedRepo

from hfcache import CacheView, Trust, locate, scan_location
from hfcache.bundle.pack import pack
from hfcache.bundle.view import BundleView
from hfcache.errors import BadInputError
from hfcache.repoid import RepoName
from hfcache.view import RevisionSource, ViewFile


def _read(f: ViewFile) -> bytes:
    out = b""
    for e in f.extents:
        with open(e.path, "rb") as fh:
            fh.seek(e.offset)
            out += fh.read(e.length)
    return out


def _same_files(source: RevisionSource, c: CachedRepo, revision: str = "main") -> None:
    rev = source.revision(RepoName("model", c.repo_id), revision)
    assert rev.commit == c.commit and rev.files.keys() == c.files.keys()
    for name, data in c.files.items():
        f = rev.files[name]
        assert f.size == len(data) and _read(f) == data, name


def test_cache_view(fresh_cache: CachedRepo) -> None:
    view = CacheView(scan_location(locate(fresh_cache.cache_dir)))
    assert view.repos() == [RepoName("model", fresh_cache.repo_id)]
    _same_files(view, fresh_cache)
    _same_files(view, fresh_cache, fresh_cache.commit[:10])
    with pytest.raises(BadInputError):
        view.revision(RepoName("model", fresh_cache.repo_id), "no-such-branch")


def test_cache_view_says_where_bytes_are_missing(fresh_cache: CachedRepo) -> None:
    c = fresh_cache
    damage.drop_blob(c, "config.json")
    rev = CacheView(scan_location(locate(c.cache_dir))).revision(RepoName("model", c.repo_id), "main")
    assert not rev.files["config.json"].available
    assert rev.files["config.json"].trust is Trust.DAMAGED
    assert "link-missing-blob" in rev.files["config.json"].problems
    assert rev.files["README.md"].trust in (Trust.SIZE_CHECKED, Trust.UNKNOWN)
    assert any(f.code == "link-missing-blob" for f in rev.errors)


@pytest.mark.parametrize("split", [None, 9000])
def test_bundle_view_reads_in_place(fresh_cache: CachedRepo, tmp_path: Path, split: int | None) -> None:
    c = fresh_cache
    result = pack([c.repo_id], str(tmp_path / "b.tar"), cache_dir=str(c.cache_dir), split_size=split)
    view = BundleView(result.paths[0])
    assert view.repos() == [RepoName("model", c.repo_id)]
    _same_files(view, c)
    if split is not None:
        assert len(result.paths) > 1
        assert any(
            len(f.extents) > 1 for f in view.revision(RepoName("model", c.repo_id), "main").files.values()
        )
    with pytest.raises(BadInputError):
        view.revision(RepoName("model", c.repo_id), "0" * 40)
