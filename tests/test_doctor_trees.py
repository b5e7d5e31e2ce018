"""Tree listings are judged as huggingface_hub judges them, and a lost snapshots/ is rebuilt from one.

The client's ``read_tree_cache`` ignores a listing of another format version (silently: a newer
client wrote it), a corrupt one (with a warning) and one with a masked Xet hash; hfcache then
trusts it no more than the client, says so, and goes by the blobs and links. A repo folder whose
snapshots/ was lost while its refs, listing and blobs stayed is rebuilt exactly by ``--fix``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import damage
import pytest
from builders import (
    HAS_TREES,
    CachedRepo,
    cache_two_revisions,
    download_cache,
    move_lfs_blobs_to_shared_store,
    requires_shared_store,
)
from checks import client_loads, codes, loads_exactly, scan_warnings, the_finding
from huggingface_hub import hf_hub_download, scan_cache_dir
from huggingface_hub.utils import EntryNotFoundError
from standin_hub import StandinHub

from hfcache import layout
from hfcache.doctor import diagnose
from hfcache.findings import Severity
from hfcache.repair import fix

MASKED = "*" * 64  # what the Hub shows for a gated repo's Xet hash; the client ignores such listings


def _listing(c: CachedRepo, commit: str | None = None) -> Path:
    return c.repo_folder / "trees" / f"{commit or c.commit}.json"


def _client_reads(path: Path) -> bool | None:
    """Does the installed client use this listing (``None``: it reads no listings at all)?"""
    if not HAS_TREES:
        return None
    from huggingface_hub import _tree_cache

    _tree_cache._IN_MEMORY_TREE_CACHE.clear()  # the download seeded it with what it wrote
    return _tree_cache.read_tree_cache(str(path.parent.parent), path.stem) is not None


def _rewrite(path: Path, change: dict[str, object]) -> None:
    document = json.loads(path.read_text())
    document.update(change)
    path.write_text(json.dumps(document))


def _hfcache(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hfcache", *map(str, args)], capture_output=True, text=True)


def _parked(c: CachedRepo) -> list[str]:
    quarantine = Path(layout.quarantine_root(str(c.repo_folder)))
    return sorted(p.name for p in quarantine.rglob("*") if p.is_file())


def test_a_newer_clients_listing_is_a_note_and_the_links_decide(listed_cache: CachedRepo) -> None:
    """A newer client's format_version: the client ignores it silently, hfcache notes it (exit 0)
    and falls back to the link text, as with no listing at all."""
    c = listed_cache
    path = _listing(c)
    _rewrite(path, {"format_version": 2})
    assert _client_reads(path) in (False, None)
    report = diagnose(c.cache_dir)
    note = the_finding(report, "tree-unknown-format", path)
    assert note.severity is Severity.INFO and not note.fixable and report.exit_code == 0
    assert "format_version 2" in note.message and note.place.commit == c.commit
    damage.backslash_link(c, "sub/dir/extra.txt")
    assert the_finding(diagnose(c.cache_dir), "link-backslash").fixable  # from the link text alone
    result = fix(c.cache_dir)
    assert codes(result.after) == {"tree-unknown-format"} and result.exit_code == 0
    assert json.loads(path.read_text())["format_version"] == 2  # not ours to touch
    loads_exactly(c)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("{not json", id="not-json"),
        pytest.param('{"format_version": 1}', id="no-files"),
        pytest.param('{"format_version": 1, "files": {"a.json": {"size": 5}}}', id="entry-without-blob-id"),
        pytest.param("[1, 2]", id="not-an-object"),
    ],
)
def test_a_corrupt_listing_is_a_warning_fix_parks(listed_cache: CachedRepo, content: str) -> None:
    c = listed_cache
    path = _listing(c)
    path.write_text(content)
    report = diagnose(c.cache_dir)
    found = the_finding(report, "tree-unreadable", path)
    assert found.severity is Severity.WARNING and found.fixable and report.exit_code == 1
    result = fix(c.cache_dir)
    assert result.after.findings == () and result.exit_code == 0
    assert not path.exists() and _parked(c) == [path.name]
    loads_exactly(c)
    assert scan_warnings(c.cache_dir) == []


def test_a_listing_that_is_a_link_is_not_followed(listed_cache: CachedRepo, tmp_path: Path) -> None:
    """The client would follow it; hfcache follows no link, so it says so and moves nothing."""
    c = listed_cache
    path = _listing(c)
    elsewhere = tmp_path / "elsewhere.json"
    shutil.move(path, elsewhere)
    path.symlink_to(elsewhere)
    report = diagnose(c.cache_dir)
    found = the_finding(report, "tree-unreadable", path)
    assert "link" in found.message and not found.fixable and codes(report) == {"tree-unreadable"}


def test_a_masked_xet_hash_makes_the_listing_untrusted(listed_cache: CachedRepo) -> None:
    """The client ignores the whole listing (is_valid_xet_hash); hfcache used to trust it, and would
    then have called a good link wrong by what the listing said."""
    c = listed_cache
    path = _listing(c)
    document = json.loads(path.read_text())
    document["files"]["config.json"]["blob_id"] = damage.etag(c, "tokenizer.json")  # a lie
    document["files"]["model-00001-of-00002.safetensors"]["xet_hash"] = MASKED
    path.write_text(json.dumps(document))
    assert _client_reads(path) in (False, None)
    report = diagnose(c.cache_dir)
    found = the_finding(report, "tree-unreadable", path)
    assert "not a real one" in found.message and "model-00001-of-00002.safetensors" in found.message
    assert codes(report) == {"tree-unreadable"}  # no entry-wrong-blob from a listing nobody uses
    result = fix(c.cache_dir)
    assert result.after.findings == ()
    loads_exactly(c)


def test_a_valid_uppercase_xet_hash_is_the_clients_too(listed_cache: CachedRepo) -> None:
    """is_valid_xet_hash takes hex of either case: such a listing is used, and so no finding."""
    c = listed_cache
    path = _listing(c)
    document = json.loads(path.read_text())
    document["files"]["model-00001-of-00002.safetensors"]["xet_hash"] = "AB" * 32
    path.write_text(json.dumps(document))
    assert _client_reads(path) in (True, None)
    assert diagnose(c.cache_dir).findings == ()


def test_listings_of_commits_without_a_snapshot(hub: StandinHub, tmp_path: Path, hf_env: Path) -> None:
    """A valid one is what `hf cache rm` leaves (the client's delete_revisions removes snapshots, refs
    and blobs, never trees/): no finding. One the client ignores is judged as any other."""
    c1, c2 = cache_two_revisions(hub, tmp_path / "hub")
    scan_cache_dir(c1.cache_dir).delete_revisions(c1.commit).execute()
    assert not c1.snapshot.exists() and _listing(c1).exists()
    assert diagnose(c1.cache_dir).findings == ()
    newer, corrupt = _listing(c1), _listing(c1, "0" * 40)
    _rewrite(newer, {"format_version": 99})
    corrupt.write_text('{"format_version": 1, "files": {"a": ')
    report = diagnose(c1.cache_dir)
    assert the_finding(report, "tree-unknown-format", newer).severity is Severity.INFO
    assert "without snapshot" in the_finding(report, "tree-unreadable", corrupt).message
    result = fix(c1.cache_dir)
    assert codes(result.after) == {"tree-unknown-format"} and result.exit_code == 0
    assert not corrupt.exists() and newer.exists()
    loads_exactly(c2, revision=c2.commit)


def _lose_snapshots(c: CachedRepo) -> None:
    shutil.rmtree(c.repo_folder / "snapshots")
    assert [r.repo_id for r in scan_cache_dir(c.cache_dir).repos] == []  # the client drops the repo


def test_a_lost_snapshots_folder_is_rebuilt_exactly(listed_cache: CachedRepo) -> None:
    c = listed_cache
    _lose_snapshots(c)
    report = diagnose(c.cache_dir)
    lost = the_finding(report, "repo-no-snapshots", c.repo_folder)
    assert lost.severity is Severity.ERROR and lost.place.commit == c.commit
    assert "main" in lost.message and "--fix rebuilds" in lost.advice and "delete" not in lost.text
    missing = [f for f in report.findings if f.code == "entry-missing"]
    assert {f.place.path_in_repo for f in missing} == set(c.files)
    assert all(f.fixable and f.folded_into == "repo-no-snapshots" for f in missing)
    assert codes(report) == {"repo-no-snapshots", "entry-missing"}  # no blob is an orphan
    shown = _hfcache("doctor", c.cache_dir)
    assert shown.returncode == 1 and "rebuilds" in shown.stdout, shown.stdout

    repaired = _hfcache("doctor", c.cache_dir, "--fix")
    assert repaired.returncode == 0, repaired.stdout
    assert diagnose(c.cache_dir).findings == ()
    for name in c.files:  # relative links, one ../ more per sub-folder, as the client writes them
        entry = damage.entry(c, name)
        assert os.readlink(entry) == os.path.relpath(c.blob(name), entry.parent), name
    (repo,) = scan_cache_dir(c.cache_dir).repos
    assert [(r.commit_hash, set(r.refs)) for r in repo.revisions] == [(c.commit, {"main"})]
    assert scan_warnings(c.cache_dir) == []
    loads_exactly(c)
    assert client_loads(c.cache_dir, c.repo_id) == (True, "")  # HF_HUB_OFFLINE=1, a fresh process


@requires_shared_store
def test_a_lost_snapshots_folder_over_the_shared_store_is_rebuilt(listed_cache: CachedRepo) -> None:
    c = listed_cache
    assert move_lfs_blobs_to_shared_store(c.cache_dir, c.repo_folder)
    _lose_snapshots(c)
    result = fix(c.cache_dir)
    assert result.after.findings == () and result.exit_code == 0
    loads_exactly(c)


def test_a_lost_snapshots_folder_with_a_blob_gone_keeps_the_blobs(listed_cache: CachedRepo) -> None:
    """Not rebuilt (a partial snapshot would pass for a partial download); never "delete the folder":
    the blobs may be the only copy, and the download it gives reuses them."""
    c = listed_cache
    damage.drop_blob(c, "tokenizer.json")
    _lose_snapshots(c)
    report = diagnose(c.cache_dir)
    lost = the_finding(report, "repo-no-snapshots", c.repo_folder)
    assert lost.severity is Severity.ERROR and not lost.fixable and report.plan.actions == ()
    assert "tokenizer.json" in lost.message and "Keep the folder" in lost.advice
    assert f"hf download {c.repo_id} --revision {c.commit}" in lost.advice
    assert "delete" not in lost.text.lower() and "blob-orphan" not in codes(report)
    assert fix(c.cache_dir).outcomes == ()
    download_cache(c.hub, c.cache_dir, c.repo_id)  # what the advice says, from the stand-in hub
    assert diagnose(c.cache_dir).findings == ()
    loads_exactly(c)


def test_a_lost_snapshots_folder_without_a_listing_keeps_the_blobs(fresh_cache: CachedRepo) -> None:
    c = fresh_cache
    damage.drop_tree_listings(c)
    _lose_snapshots(c)
    lost = the_finding(diagnose(c.cache_dir), "repo-no-snapshots", c.repo_folder)
    assert lost.severity is Severity.ERROR and not lost.fixable
    assert "no tree listing" in lost.message and "Keep the folder" in lost.advice


def test_only_the_clients_record_of_absent_files_is_a_note(
    hub: StandinHub, tmp_path: Path, hf_env: Path
) -> None:
    """One download of a file the repo lacks leaves .no_exist/ and refs/main, no snapshots/: the
    client wrote it so (its own scan calls the repo corrupted); nothing to load, nothing to delete."""
    repo_id = hub.unique_repo_id()
    hub.add_commit(repo_id, {"config.json": b"{}"})
    cache = tmp_path / "hub"
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(repo_id, "no/such.txt", cache_dir=cache, endpoint=hub.url, token=False)
    folder = cache / layout.repo_folder(repo_id)
    assert (folder / ".no_exist").is_dir() and not (folder / "snapshots").exists()
    assert scan_warnings(cache) != []  # the client's scan: "Snapshots dir doesn't exist" (its own layout)
    report = diagnose(cache)
    note = the_finding(report, "repo-no-snapshots", folder)
    assert note.severity is Severity.INFO and report.exit_code == 0 and not note.fixable
    assert ".no_exist" in note.message and "delete" not in note.text.lower()
