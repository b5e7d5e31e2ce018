"""Everything huggingface_hub writes is read as healthy: repo types, PR refs, tags, shared blobs
across revisions, .no_exist, and caches of old versions (no trees/, absolute links)."""

from __future__ import annotations

import os
from pathlib import Path

import damage
import pytest
from builders import CachedRepo, cache_repo, sharded_model_files
from checks import codes, loads_exactly, scan_warnings
from huggingface_hub import hf_hub_download
from huggingface_hub.utils import EntryNotFoundError
from standin_hub import StandinHub

from hfcache.doctor import diagnose
from hfcache.findings import Severity
from hfcache.repair import fix
from hfcache.scan import walk


@pytest.mark.parametrize("repo_type", ["dataset", "space"])
def test_other_repo_types(hub: StandinHub, tmp_path: Path, hf_env: Path, repo_type: str) -> None:
    repo_id = hub.unique_repo_id()
    hub.add_commit(
        repo_id, {"data/train.jsonl": b'{"a": 1}\n', "README.md": b"# data\n"}, repo_type=repo_type
    )
    c = cache_repo(hub, tmp_path / "hub", repo_id, repo_type=repo_type)
    assert diagnose(c.cache_dir).findings == ()
    damage.git_link_text(c, "data/train.jsonl")
    fix(c.cache_dir)
    loads_exactly(c)


def test_two_revisions_pr_ref_and_tag_share_blobs(hub: StandinHub, tmp_path: Path, hf_env: Path) -> None:
    repo_id = hub.unique_repo_id()
    files = sharded_model_files()
    main = hub.add_commit(repo_id, files)
    hub.add_ref(repo_id, "v1.0", main)
    pr = hub.add_commit(repo_id, {**files, "config.json": b'{"pr": 1}'}, branch="refs/pr/1", parent=main)
    cache = tmp_path / "hub"
    c_main = cache_repo(hub, cache, repo_id, revision="v1.0")
    c_pr = cache_repo(hub, cache, repo_id, revision="refs/pr/1")
    report = diagnose(cache, verify_hashes=True)
    assert report.findings == ()
    assert report.summary.revisions == 2
    damage.backslash_link(c_pr, "model-00001-of-00002.safetensors")  # a blob both revisions use
    fix(cache)
    loads_exactly(c_main, revision="v1.0")
    loads_exactly(c_pr, revision="refs/pr/1")
    assert pr != main


def test_no_exist_markers_are_not_problems(fresh_cache: CachedRepo) -> None:
    c = fresh_cache
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(c.repo_id, "no/such.txt", cache_dir=c.cache_dir, endpoint=c.hub.url, token=False)
    assert (c.repo_folder / ".no_exist").is_dir()
    assert diagnose(c.cache_dir).findings == ()


def test_old_cache_without_trees_and_with_absolute_links(fresh_cache: CachedRepo) -> None:
    """What huggingface_hub 0.13 left: absolute links, no tree listings. Readable; --fix makes it portable."""
    c = fresh_cache
    damage.drop_tree_listings(c)
    for name in c.files:
        damage.absolute_link_here(c, name)
    report = diagnose(c.cache_dir)
    assert codes(report) == {"link-absolute"}
    assert not report.problems and all(f.severity is Severity.INFO for f in report.findings)
    fix(c.cache_dir)
    assert all(not os.path.isabs(os.readlink(damage.entry(c, n))) for n in c.files)
    assert diagnose(c.cache_dir).findings == ()
    loads_exactly(c)


def test_cache_without_trees_still_repairs_from_link_text(fresh_cache: CachedRepo) -> None:
    c = fresh_cache
    damage.drop_tree_listings(c)
    damage.git_link_text(c, "config.json")
    damage.lfs_pointer(c, "model-00001-of-00002.safetensors")
    fix(c.cache_dir)
    loads_exactly(c)
    assert scan_warnings(c.cache_dir) == []


def test_windows_copy_without_symlinks_or_trees_is_rebuilt(fresh_cache: CachedRepo) -> None:
    """huggingface_hub on Windows without symlink support: real files in snapshots/, no blobs.
    With no tree listing, --fix names each blob by the content's own hash."""
    c = fresh_cache
    damage.drop_tree_listings(c)
    for name in c.files:
        damage.full_copy_without_blob(c, name)
    assert not any((c.repo_folder / "blobs").iterdir())
    result = fix(c.cache_dir)
    assert {o.status for o in result.outcomes} == {"done"}
    assert not result.after.problems
    loads_exactly(c)
    # Blob names follow the Hub's rules: sha256 for LFS files (.gitattributes), git sha1 otherwise.
    assert sorted(p.name for p in (c.repo_folder / "blobs").iterdir()) == sorted(
        damage.etag(c, n) for n in c.files
    )


def test_unreadable_file_by_its_mode_bits(fresh_cache: CachedRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    c = fresh_cache
    blob = c.blob("config.json")
    blob.chmod(0)
    monkeypatch.setattr(walk, "_EUID", 12345)  # judge the mode bits as an ordinary user would
    monkeypatch.setattr(walk, "_GROUPS", frozenset({12345}))
    try:
        found = [f for f in diagnose(c.cache_dir).findings if f.code == "unreadable"]
    finally:
        blob.chmod(0o644)
    assert [f.path for f in found] == [str(blob)]
