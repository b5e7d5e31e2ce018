"""Refs, tree listings, blobs and hashes: each finding code caused on a real cache."""

from __future__ import annotations

import os
import time
from pathlib import Path

import damage
from builders import CachedRepo
from checks import codes, loads_exactly, scan_warnings, the_finding

from hfcache.doctor import diagnose
from hfcache.findings import Severity
from hfcache.repair import fix

LFS_FILE = "model-00001-of-00002.safetensors"


def test_clean_cache_has_no_findings(fresh_cache: CachedRepo) -> None:
    report = diagnose(fresh_cache.cache_dir, verify_hashes=True)
    assert report.findings == ()
    assert report.summary.files == len(fresh_cache.files)
    assert report.summary.bytes_hashed == sum(len(v) for v in fresh_cache.files.values())


def test_ref_with_crlf_is_rewritten(fresh_cache: CachedRepo) -> None:
    c = fresh_cache
    path = damage.ref_with_newline(c)
    assert the_finding(diagnose(c.cache_dir), "ref-malformed", path).fixable
    assert scan_warnings(c.cache_dir)  # huggingface_hub itself trips over it
    fix(c.cache_dir)
    assert path.read_bytes() == c.commit.encode()
    assert scan_warnings(c.cache_dir) == []
    loads_exactly(c)


def test_ref_with_garbage_is_not_guessed(fresh_cache: CachedRepo) -> None:
    c = fresh_cache
    path = c.repo_folder / "refs" / "main"
    path.write_bytes(b"not a commit")
    finding = the_finding(diagnose(c.cache_dir), "ref-malformed", path)
    assert not finding.fixable
    assert fix(c.cache_dir).outcomes == ()
    assert path.read_bytes() == b"not a commit"


def test_ref_naming_no_snapshot_is_dangling(fresh_cache: CachedRepo) -> None:
    c = fresh_cache
    path = c.repo_folder / "refs" / "refs" / "pr" / "7"
    path.parent.mkdir(parents=True)
    path.write_text("0" * 40)
    finding = the_finding(diagnose(c.cache_dir), "ref-dangling", path)
    assert not finding.fixable
    assert "refs/pr/7" in finding.message


def test_unreadable_tree_listing_is_a_warning_and_checks_go_on(listed_cache: CachedRepo) -> None:
    c = listed_cache
    tree = c.repo_folder / "trees" / f"{c.commit}.json"
    tree.write_text("{not json")
    damage.backslash_link(c, "config.json")
    report = diagnose(c.cache_dir)
    assert the_finding(report, "tree-unreadable", tree).severity is Severity.WARNING
    # The link text alone still says which blob was meant.
    assert the_finding(report, "link-backslash").fixable


def test_truncated_blob_is_caught_by_size_without_hashing(listed_cache: CachedRepo) -> None:
    """The size to compare with comes from the tree listing."""
    c = listed_cache
    blob = damage.truncate_blob(c, "tokenizer.json", 100)
    report = diagnose(c.cache_dir)
    assert not the_finding(report, "blob-size-mismatch", blob).fixable
    assert report.verification is None


def test_flipped_byte_is_caught_by_verify_and_parked_by_fix(fresh_cache: CachedRepo) -> None:
    c = fresh_cache
    blob = damage.flip_byte(c.blob(LFS_FILE))
    assert "blob-hash-mismatch" not in codes(diagnose(c.cache_dir))
    report = diagnose(c.cache_dir, verify_hashes=True)
    assert the_finding(report, "blob-hash-mismatch", blob).fixable
    corrupt = blob.read_bytes()
    result = fix(c.cache_dir, verify_hashes=True)
    (outcome,) = result.outcomes
    assert outcome.status == "done"
    assert Path(outcome.quarantined[0]).read_bytes() == corrupt  # parked, not deleted
    assert not blob.exists()
    # It fails loudly instead of silently, and the client's scan still lists the repo.
    assert "entry-parked" in codes(result.after)
    assert scan_warnings(c.cache_dir) == []
    loads_exactly(c, [n for n in c.files if n != LFS_FILE])


def test_corrupt_blob_replaced_by_a_verified_copy(fresh_cache: CachedRepo) -> None:
    c = fresh_cache
    copy = damage.full_copy(c, LFS_FILE)
    damage.flip_byte(c.blob(LFS_FILE))
    result = fix(c.cache_dir, verify_hashes=True)
    assert {o.status for o in result.outcomes} == {"done"}
    assert copy.is_symlink()
    assert not result.after.problems
    loads_exactly(c)


def test_orphan_blob_is_a_note_with_its_size(listed_cache: CachedRepo) -> None:
    """Where a tree listing proves every file of the revision linked, an unused blob is an orphan."""
    c = listed_cache
    orphan = c.repo_folder / "blobs" / ("ab" * 20)
    orphan.write_bytes(b"x" * 1000)
    report = diagnose(c.cache_dir)
    finding = the_finding(report, "blob-orphan", orphan)
    assert finding.severity is Severity.INFO and finding.reclaimable == 1000
    assert "hf cache prune" in finding.advice and not report.problems


def test_without_a_listing_an_unused_blob_may_be_a_lost_file(fresh_cache: CachedRepo) -> None:
    """An old client writes no listing: nothing proves the one revision lost no link, so the blob
    is kept and the revision flagged as possibly incomplete, never offered for deletion."""
    c = fresh_cache
    damage.drop_tree_listings(c)
    (c.repo_folder / "blobs" / ("ab" * 20)).write_bytes(b"x" * 1000)
    report = diagnose(c.cache_dir)
    suspect = the_finding(report, "revision-stranded")
    assert suspect.severity is Severity.WARNING and "hf download" in suspect.advice
    assert all("prune" not in f.text and "deleting" not in f.text for f in report.findings)


def test_stale_incomplete_download(fresh_cache: CachedRepo) -> None:
    c = fresh_cache
    partial = c.repo_folder / "blobs" / (("cd" * 32) + ".incomplete")
    partial.write_bytes(b"half")
    old = time.time() - 7200
    os.utime(partial, (old, old))
    finding = the_finding(diagnose(c.cache_dir), "blob-incomplete", partial)
    assert finding.severity is Severity.WARNING and finding.reclaimable == 4 and finding.fixable


def test_incomplete_file_of_a_running_download_is_not_reported(fresh_cache: CachedRepo) -> None:
    from filelock import FileLock

    c = fresh_cache
    etag = "ef" * 32
    (c.repo_folder / "blobs" / f"{etag}.incomplete").write_bytes(b"half")
    lock = c.cache_dir / ".locks" / c.repo_folder.name / f"{etag}.lock"
    with FileLock(lock):
        assert "blob-incomplete" not in codes(diagnose(c.cache_dir))


def test_strange_name_in_blobs(fresh_cache: CachedRepo) -> None:
    c = fresh_cache
    odd = c.repo_folder / "blobs" / "notes.txt"
    odd.write_text("mine")
    assert the_finding(diagnose(c.cache_dir), "blob-bad-name", odd).severity is Severity.INFO


def test_locks_of_a_deleted_repo_are_a_note(fresh_cache: CachedRepo) -> None:
    c = fresh_cache
    gone = c.cache_dir / ".locks" / "models--gone--repo"
    gone.mkdir(parents=True)
    (gone / ("ab" * 20 + ".lock")).touch()
    old = time.time() - 86400
    os.utime(gone, (old, old))
    assert the_finding(diagnose(c.cache_dir), "lock-stale").severity is Severity.INFO


def test_a_blob_hard_linked_as_its_copy_is_not_an_orphan(fresh_cache: CachedRepo) -> None:
    """Without a listing a copy's blob id is unknown, but a hard link to a blob is that blob."""
    import shutil

    c = fresh_cache
    shutil.rmtree(c.repo_folder / "trees", ignore_errors=True)
    entry = c.snapshot / "config.json"
    blob = c.blob("config.json")
    entry.unlink()
    os.link(blob, entry)
    assert "blob-orphan" not in codes(diagnose(c.cache_dir))
