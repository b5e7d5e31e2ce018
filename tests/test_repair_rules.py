"""One rule set for repairs: a finding's fix is the action the plan runs, and --fix keeps its word.

Also the reversible transfer damage (CRLF, BOM) that --fix undoes byte-exactly, and the
leftovers (stale partial downloads, lock folders of vanished repos) it moves into quarantine.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import damage
import pytest
from builders import CachedRepo, cache_two_revisions
from checks import codes, loads_exactly, scan_warnings, the_finding
from standin_hub import StandinHub

from hfcache.actions import Step
from hfcache.doctor import diagnose
from hfcache.repair import fix

TEXT = "config.json"
LFS_FILE = "model-00001-of-00002.safetensors"


def _age(path: Path, seconds: float = 7200) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old), follow_symlinks=False)


def test_plan_is_exactly_the_findings_actions(fresh_cache: CachedRepo) -> None:
    c = fresh_cache
    damage.backslash_link(c, "README.md")
    damage.full_copy(c, TEXT)
    damage.ref_with_newline(c)
    report = diagnose(c.cache_dir)
    fixes = {f.fix for f in report.findings if f.fix is not None}
    assert set(report.plan.actions) == fixes
    for action, resolved in report.plan.resolves.items():
        assert all(the_finding(report, code, Path(path)).fix == action for code, path in resolved)
    assert [a.step for a in report.plan.actions] == sorted(
        (a.step for a in report.plan.actions), key=list(Step).index
    )


def test_crlf_text_blob_is_restored_byte_exact(listed_cache: CachedRepo) -> None:
    c = listed_cache
    blob = damage.crlf_blob(c, TEXT)
    report = diagnose(c.cache_dir)
    found = the_finding(report, "blob-size-mismatch", blob)
    assert found.fix is not None and found.fix.step is Step.RESTORE and found.fix.rewrite == "crlf"
    result = fix(c.cache_dir)
    assert [o.status for o in result.outcomes] == ["done"]
    loads_exactly(c)
    assert not result.after.problems
    (parked,) = result.outcomes[0].quarantined
    assert b"\r\n" in Path(parked).read_bytes()  # the damaged bytes are kept, not deleted


def test_bom_is_undone_when_found_by_verify(fresh_cache: CachedRepo) -> None:
    c = fresh_cache
    blob = damage.bom_blob(c, "README.md")
    found = the_finding(diagnose(c.cache_dir, verify_hashes=True), "blob-hash-mismatch", blob)
    assert found.fix is not None and found.fix.step is Step.RESTORE
    result = fix(c.cache_dir, verify_hashes=True)
    assert not result.after.problems, result.after.findings
    loads_exactly(c)


def test_crlf_copy_in_snapshot_is_restored_and_linked(listed_cache: CachedRepo) -> None:
    c = listed_cache
    damage.drop_blob(c, TEXT)
    path = damage.crlf_copy(c, TEXT)
    found = the_finding(diagnose(c.cache_dir), "entry-size-mismatch", path)
    assert found.fix is not None and found.fix.step is Step.RESTORE
    result = fix(c.cache_dir)
    assert not result.after.problems, result.after.findings
    assert path.is_symlink()
    loads_exactly(c)


def test_a_rewrite_that_does_not_hash_is_not_offered(listed_cache: CachedRepo) -> None:
    c = listed_cache
    blob = damage.crlf_blob(c, TEXT)
    blob.write_bytes(blob.read_bytes().replace(b"llama", b"LLAMA"))
    found = the_finding(diagnose(c.cache_dir), "blob-size-mismatch", blob)
    assert not found.fixable
    assert fix(c.cache_dir).outcomes == ()


def test_wrong_size_copy_relinked_to_another_revisions_copy(
    hub: StandinHub, tmp_path: Path, hf_env: Path
) -> None:
    """The right bytes exist only as a full copy in another revision: adopted first, then linked."""
    cache = tmp_path / "hub"
    c1, c2 = cache_two_revisions(hub, cache)
    damage.full_copy_without_blob(c2, LFS_FILE)
    broken = damage.entry(c1, LFS_FILE)
    broken.unlink()
    broken.write_bytes(b"short")
    report = diagnose(cache)
    assert the_finding(report, "entry-size-mismatch", broken).fixable
    result = fix(cache)
    assert "entry-size-mismatch" not in codes(result.after)
    loads_exactly(c1, revision=c1.commit)
    loads_exactly(c2, revision=c2.commit)


def test_copy_failing_verify_is_not_counted_fixable(listed_cache: CachedRepo) -> None:
    c = listed_cache
    path = damage.full_copy_without_blob(c, LFS_FILE)
    damage.flip_byte(path)
    report = diagnose(c.cache_dir, verify_hashes=True)
    assert "entry-full-copy" not in codes(report)
    assert not the_finding(report, "entry-hash-mismatch", path).fixable
    assert report.summary.fixable == 0


def test_copy_failing_its_hash_during_fix_is_reported_as_corrupt(listed_cache: CachedRepo) -> None:
    """Without --verify the repair still hashes the copy; the re-check says what it learnt."""
    c = listed_cache
    path = damage.full_copy_without_blob(c, LFS_FILE)
    damage.flip_byte(path)
    result = fix(c.cache_dir)
    assert [o.status for o in result.outcomes] == ["skipped"]
    assert "entry-full-copy" not in codes(result.after)
    assert not the_finding(result.after, "entry-hash-mismatch", path).fixable


def test_blob_repaired_from_a_good_copy_is_marked_fixed(listed_cache: CachedRepo) -> None:
    c = listed_cache
    blob = c.blob(LFS_FILE)
    damage.full_copy(c, LFS_FILE)  # the entry now holds the good bytes
    damage.flip_byte(blob)
    result = fix(c.cache_dir, verify_hashes=True)
    doc = result.to_json()
    mismatch = next(f for f in doc["findings_before"] if f["code"] == "blob-hash-mismatch")
    assert mismatch["fixed"] is True
    assert not result.after.problems
    loads_exactly(c)
    json.dumps(doc)


def test_stale_partial_download_is_moved_to_quarantine(fresh_cache: CachedRepo) -> None:
    c = fresh_cache
    partial = c.repo_folder / "blobs" / (("cd" * 32) + ".incomplete")
    partial.write_bytes(b"half")
    _age(partial)
    found = the_finding(diagnose(c.cache_dir), "blob-incomplete", partial)
    assert found.fix is not None and found.fix.step is Step.QUARANTINE_LEFTOVER
    result = fix(c.cache_dir)
    assert not partial.exists()
    (parked,) = result.outcomes[0].quarantined
    assert Path(parked).read_bytes() == b"half"
    assert "blob-incomplete" not in codes(result.after)


def test_recent_partial_download_is_left_for_the_download(fresh_cache: CachedRepo) -> None:
    c = fresh_cache
    partial = c.repo_folder / "blobs" / (("cd" * 32) + ".incomplete")
    partial.write_bytes(b"half")
    found = the_finding(diagnose(c.cache_dir), "blob-incomplete", partial)
    assert not found.fixable and found.severity.value == "info"
    assert fix(c.cache_dir).outcomes == () and partial.exists()


def test_lock_folder_of_a_vanished_repo_is_parked(fresh_cache: CachedRepo) -> None:
    c = fresh_cache
    gone = c.cache_dir / ".locks" / "models--gone--repo"
    gone.mkdir(parents=True)
    lock = gone / ("ab" * 20 + ".lock")
    lock.touch()
    _age(lock)
    assert the_finding(diagnose(c.cache_dir), "lock-stale").fixable
    result = fix(c.cache_dir)
    assert not gone.exists() and "lock-stale" not in codes(result.after)
    assert scan_warnings(c.cache_dir) == []
    assert fix(c.cache_dir).outcomes == ()


@pytest.mark.parametrize("verify", [False, True])
def test_all_recoverable_damage_exits_clean(listed_cache: CachedRepo, verify: bool) -> None:
    c = listed_cache
    damage.backslash_link(c, "README.md")
    damage.crlf_blob(c, TEXT)
    damage.ref_with_newline(c)
    partial = c.repo_folder / "blobs" / (("ef" * 32) + ".incomplete")
    partial.write_bytes(b"half")
    _age(partial)
    result = fix(c.cache_dir, verify_hashes=verify)
    assert not result.after.problems, result.after.findings
    loads_exactly(c)


def test_reverify_skips_unchanged_files_and_rehashes_changed_ones(
    fresh_cache: CachedRepo, tmp_path: Path
) -> None:
    from hfcache.fs.digests import DigestStore

    c = fresh_cache
    store = DigestStore(str(tmp_path / "digests.sqlite"))
    first = diagnose(c.cache_dir, verify_hashes=True, store=store).summary
    assert first.bytes_hashed > 0 and first.bytes_reused == 0
    second = diagnose(c.cache_dir, verify_hashes=True, store=store).summary
    assert second.bytes_hashed == 0 and second.bytes_reused == first.bytes_hashed
    blob = damage.flip_byte(c.blob(LFS_FILE).resolve())  # rewritten: a new mtime
    third = diagnose(c.cache_dir, verify_hashes=True, store=store)
    assert third.summary.bytes_hashed == blob.stat().st_size
    assert "blob-hash-mismatch" in codes(third)
