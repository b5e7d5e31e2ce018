"""The cache-wide shared blob store of Xet downloads: two symlink hops from entry to bytes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import damage
import pytest
from builders import CachedRepo, move_lfs_blobs_to_shared_store, requires_shared_store
from checks import codes, loads_exactly, scan_warnings, the_finding

from hfcache.actions import Step
from hfcache.doctor import diagnose
from hfcache.findings import Severity
from hfcache.repair import fix

pytestmark = requires_shared_store
LFS_FILE = "model-00001-of-00002.safetensors"


@pytest.fixture
def shared(fresh_cache: CachedRepo) -> CachedRepo:
    moved = move_lfs_blobs_to_shared_store(fresh_cache.cache_dir, fresh_cache.repo_folder)
    assert moved and all(os.path.islink(b.repo_blob) for b in moved)
    return fresh_cache


def test_clean_shared_store_cache_is_clean_even_verified(shared: CachedRepo) -> None:
    report = diagnose(shared.cache_dir, verify_hashes=True)
    assert [f for f in report.findings if f.severity is not Severity.INFO] == []
    assert report.findings == ()  # hf_xet is installed here, so store entries were hashed too
    loads_exactly(shared)


def test_store_entry_missing(shared: CachedRepo) -> None:
    c = shared
    repo_blob = c.blob(LFS_FILE)
    target = os.path.realpath(repo_blob)
    os.chmod(target, 0o644)
    os.unlink(target)
    finding = the_finding(diagnose(c.cache_dir), "store-missing", repo_blob)
    assert not finding.fixable


def test_store_folder_not_copied(shared: CachedRepo) -> None:
    """A repo folder carried without the cache's top-level blobs/: every LFS blob is a dead link."""
    c = shared
    shutil.rmtree(c.cache_dir / "blobs")
    report = diagnose(c.cache_dir)
    assert "store-missing" in codes(report)
    assert all(f.code == "store-missing" for f in report.findings)


def test_corrupt_store_entry(shared: CachedRepo) -> None:
    c = shared
    target = os.path.realpath(c.blob(LFS_FILE))
    damage.flip_byte(damage.Path(target))
    report = diagnose(c.cache_dir, verify_hashes=True)
    assert the_finding(report, "store-hash-mismatch", damage.Path(target)).severity is Severity.ERROR


def test_store_entry_nobody_uses(shared: CachedRepo) -> None:
    c = shared
    repo_blob = c.blob(LFS_FILE)
    target = os.path.realpath(repo_blob)
    repo_blob.unlink()
    repo_blob.write_bytes(damage.Path(target).read_bytes())  # the repo keeps its own copy again
    finding = the_finding(diagnose(c.cache_dir), "store-orphan")
    assert finding.path == target and finding.severity is Severity.INFO


def test_unmarked_store_folder(shared: CachedRepo) -> None:
    c = shared
    (c.cache_dir / "blobs" / ".huggingface-shared-blobs").unlink()
    assert the_finding(diagnose(c.cache_dir), "store-unmarked").severity is Severity.WARNING
    assert scan_warnings(c.cache_dir)  # huggingface_hub agrees that something is off


def test_snapshot_damage_is_repaired_through_the_store(shared: CachedRepo) -> None:
    c = shared
    damage.git_link_text(c, LFS_FILE)
    damage.backslash_link(c, "tokenizer.json")
    result = fix(c.cache_dir)
    assert {o.status for o in result.outcomes} == {"done"}
    assert not result.after.findings
    loads_exactly(c)
    assert scan_warnings(c.cache_dir) == []


def test_full_copy_deduplicated_against_a_store_entry(shared: CachedRepo) -> None:
    c = shared
    path = damage.full_copy(c, LFS_FILE)
    result = fix(c.cache_dir)
    (outcome,) = result.outcomes
    assert outcome.status == "done" and outcome.reclaimed == len(c.files[LFS_FILE])
    assert path.is_symlink()
    loads_exactly(c)


def test_without_hf_xet_store_entries_are_noted_not_failed(
    shared: CachedRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "hf_xet", None)  # import hf_xet now raises ImportError
    report = diagnose(shared.cache_dir, verify_hashes=True)
    noted = [f for f in report.findings if f.code == "store-hash-mismatch"]
    assert noted and all(f.severity is Severity.INFO and "hf_xet" in f.message for f in noted)
    assert not report.problems


def test_a_copy_without_links_keeps_the_store_as_the_only_copy(shared: CachedRepo) -> None:
    """rsync -r skips the snapshot links and the repo's blob links into the store alike: the
    revision is stranded and the store entries, named by the tree listing, are never orphans."""
    c = shared
    damage.lose_snapshot_links(c)
    for blob in (c.repo_folder / "blobs").iterdir():
        if blob.is_symlink():
            blob.unlink()
    report = diagnose(c.cache_dir)
    lost = [f for f in report.findings if f.code == "entry-missing"]
    assert lost and all(f.severity is Severity.ERROR for f in lost)  # not a partial download
    assert "store-orphan" not in codes(report) and report.problems
    assert all("prune" not in f.text and "deleting" not in f.text for f in report.findings)


def test_a_real_rsync_r_copy_is_relinked_through_the_store(shared: CachedRepo, tmp_path: Path) -> None:
    """rsync -r (no -l) drops every link: the snapshot's and the repo blobs' into the store. The
    tree listing names each file's Xet hash, so --fix links the repo blobs to the store entries
    again (size-checked, as the client's try_link_from_shared_store checks them) and then the
    snapshot entries to the blobs; the client loads every file."""
    c = shared
    dest = tmp_path / "copy"
    subprocess.run(["rsync", "-r", f"{c.cache_dir}/", f"{dest}/"], check=True, capture_output=True)
    copy = CachedRepo(c.hub, dest, c.repo_id, c.repo_type, c.commit, c.files)
    assert not any(p.is_symlink() for p in copy.repo_folder.rglob("*"))
    report = diagnose(dest)
    stored = [a for a in report.plan.actions if a.store is not None]
    assert stored and all(a.step is Step.LINK for a in stored)
    result = fix(dest)
    assert result.after.findings == (), [f.text for f in result.after.findings]
    assert scan_warnings(dest) == []
    loads_exactly(copy)
