"""Every way a snapshot entry breaks: doctor names it, --fix repairs it, the real client then loads
exactly the original bytes, and a second --fix changes nothing."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import damage
import pytest
from builders import CachedRepo, cache_two_revisions
from checks import codes, loads_exactly, scan_warnings, the_finding
from standin_hub import StandinHub

from hfcache.doctor import diagnose
from hfcache.findings import Severity
from hfcache.repair import fix

LFS_FILE = "model-00001-of-00002.safetensors"
SMALL_FILE = "config.json"
NESTED_FILE = "sub/dir/extra.txt"
NON_ASCII = "词表.txt"

Damage = Callable[[CachedRepo, str], Path]

FIXABLE: list[tuple[str, Damage, str]] = [
    ("link-backslash", damage.backslash_link, SMALL_FILE),
    ("link-backslash", damage.backslash_link, NESTED_FILE),
    ("link-absolute-foreign", damage.windows_absolute_link, LFS_FILE),
    ("link-absolute-foreign", damage.foreign_home_link, SMALL_FILE),
    ("link-absolute", damage.absolute_link_here, SMALL_FILE),
    ("link-bad-target", damage.link_into_other_repo, SMALL_FILE),
    ("entry-full-copy", damage.full_copy, LFS_FILE),
    ("entry-full-copy", damage.full_copy_without_blob, LFS_FILE),
    ("entry-full-copy", damage.full_copy_without_blob, NON_ASCII),
    ("entry-link-text", damage.git_link_text, SMALL_FILE),
    ("entry-link-text", damage.git_link_text, NESTED_FILE),
    ("entry-cygwin-link", damage.cygwin_link, LFS_FILE),
    ("entry-xsym-link", damage.xsym_link, SMALL_FILE),
    ("entry-interix-link", damage.interix_link, SMALL_FILE),
    ("entry-lnk-shortcut", damage.lnk_shortcut, LFS_FILE),
    ("entry-lnk-shortcut", damage.lnk_shortcut, NON_ASCII),
    ("entry-lfs-pointer", damage.lfs_pointer, LFS_FILE),
]
# Damage that leaves no trace of the blob: only the tree listing says what belongs there.
FIXABLE_FROM_LISTING: list[tuple[str, Damage, str]] = [
    ("entry-empty", damage.empty_placeholder, LFS_FILE),
    ("entry-missing", damage.remove_entry, NESTED_FILE),
]


@pytest.mark.parametrize(("code", "hurt", "name"), FIXABLE, ids=[f"{c}-{n}" for c, _, n in FIXABLE])
def test_found_fixed_and_loads(fresh_cache: CachedRepo, code: str, hurt: Damage, name: str) -> None:
    """On the cache exactly as the installed client wrote it (with no tree listing, on old clients)."""
    found_fixed_and_loads(fresh_cache, code, hurt, name)


@pytest.mark.parametrize(
    ("code", "hurt", "name"), FIXABLE_FROM_LISTING, ids=[f"{c}-{n}" for c, _, n in FIXABLE_FROM_LISTING]
)
def test_found_fixed_and_loads_with_a_listing(
    listed_cache: CachedRepo, code: str, hurt: Damage, name: str
) -> None:
    found_fixed_and_loads(listed_cache, code, hurt, name)


def found_fixed_and_loads(c: CachedRepo, code: str, hurt: Damage, name: str) -> None:
    """Doctor names the damage as fixable; --fix repairs it for good; the real client loads every file."""
    path = hurt(c, name)
    report = diagnose(c.cache_dir)
    finding = the_finding(report, code, path)
    assert finding.fixable, finding
    assert finding.repo == c.repo_folder.name

    result = fix(c.cache_dir)
    assert [o.status for o in result.outcomes] == ["done"], result.outcomes
    assert not result.after.findings, result.after.findings
    loads_exactly(c)
    assert scan_warnings(c.cache_dir) == []
    assert Path(damage.entry(c, name)).is_symlink()
    again = fix(c.cache_dir)
    assert again.outcomes == ()


def test_outside_link_is_never_followed_but_is_relinked(listed_cache: CachedRepo, tmp_path: Path) -> None:
    c = listed_cache
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"not for you")
    path = damage.outside_link(c, SMALL_FILE, secret)
    finding = the_finding(diagnose(c.cache_dir), "link-outside-cache", path)
    assert secret.name in finding.message
    # The tree listing still names the right blob, so the link can be pointed back at it.
    assert finding.fixable
    fix(c.cache_dir)
    loads_exactly(c)
    assert secret.read_bytes() == b"not for you"


def test_missing_blob_is_not_fixable_and_says_how_to_get_it(fresh_cache: CachedRepo) -> None:
    c = fresh_cache
    damage.drop_blob(c, SMALL_FILE)
    finding = the_finding(diagnose(c.cache_dir), "link-missing-blob")
    assert not finding.fixable
    assert "hf download" in finding.text
    result = fix(c.cache_dir)
    assert result.outcomes == ()
    assert codes(result.after) == {"link-missing-blob"}


def test_missing_blob_restored_from_a_copy_in_another_revision(
    hub: StandinHub, tmp_path: Path, hf_env: Path
) -> None:
    """Revision 2 holds a full copy of a shard; revision 1 only link text and no blob. The copy
    is verified, adopted as the blob, and both revisions load."""
    cache = tmp_path / "hub"
    c1, c2 = cache_two_revisions(hub, cache)
    damage.git_link_text(c1, LFS_FILE)
    damage.full_copy_without_blob(c2, LFS_FILE)
    report = diagnose(cache)
    assert the_finding(report, "entry-link-text").fixable
    result = fix(cache)
    assert {o.status for o in result.outcomes} == {"done"}
    assert not result.after.problems, result.after.findings
    loads_exactly(c1, revision=c1.commit)
    loads_exactly(c2, revision=c2.commit)


def test_partial_download_missing_file_is_only_a_note(listed_cache: CachedRepo) -> None:
    c = listed_cache
    damage.remove_entry(c, "README.md")
    damage.drop_blob(c, "README.md")
    report = diagnose(c.cache_dir)
    finding = the_finding(report, "entry-missing")
    assert finding.severity is Severity.INFO
    assert not report.problems


def test_wrong_blob_is_relinked_to_the_listed_one(listed_cache: CachedRepo) -> None:
    c = listed_cache
    path = damage.entry(c, SMALL_FILE)
    path.unlink()
    path.symlink_to(damage.link_text(c, "README.md"))
    assert the_finding(diagnose(c.cache_dir), "entry-wrong-blob", path).fixable
    fix(c.cache_dir)
    loads_exactly(c)


def test_copy_with_wrong_size_is_parked_not_deleted(listed_cache: CachedRepo) -> None:
    c = listed_cache
    path = damage.full_copy(c, SMALL_FILE)
    path.write_bytes(b"{}")
    assert the_finding(diagnose(c.cache_dir), "entry-size-mismatch", path).fixable
    result = fix(c.cache_dir)
    (outcome,) = result.outcomes
    assert outcome.status == "done"
    (parked,) = outcome.quarantined
    assert Path(parked).read_bytes() == b"{}"
    loads_exactly(c)
    assert scan_warnings(c.cache_dir) == []


def test_copy_that_does_not_hash_right_is_left_alone(listed_cache: CachedRepo) -> None:
    c = listed_cache
    path = damage.full_copy_without_blob(c, LFS_FILE)
    damage.flip_byte(path)
    report = diagnose(c.cache_dir, verify_hashes=True)
    assert "entry-hash-mismatch" in codes(report)
    before = path.read_bytes()
    result = fix(c.cache_dir, verify_hashes=True)
    assert path.read_bytes() == before
    assert "entry-hash-mismatch" in codes(result.after)
    assert not (c.repo_folder / "blobs" / damage.etag(c, LFS_FILE)).exists()


def test_every_file_damaged_at_once_is_repaired(listed_cache: CachedRepo) -> None:
    """Many problems in one repo: none hides another, and one --fix run repairs them all."""
    c = listed_cache
    damage.backslash_link(c, SMALL_FILE)
    damage.git_link_text(c, NESTED_FILE)
    damage.lfs_pointer(c, LFS_FILE)
    damage.full_copy(c, "model-00002-of-00002.safetensors")
    damage.lnk_shortcut(c, NON_ASCII)
    damage.ref_with_newline(c)
    report = diagnose(c.cache_dir)
    assert codes(report) == {
        "link-backslash",
        "entry-link-text",
        "entry-lfs-pointer",
        "entry-full-copy",
        "entry-lnk-shortcut",
        "ref-malformed",
    }
    result = fix(c.cache_dir)
    assert {o.status for o in result.outcomes} == {"done"}
    assert not result.after.findings
    loads_exactly(c)
    assert scan_warnings(c.cache_dir) == []


def test_hard_link_to_the_blob_is_not_counted_twice(listed_cache: CachedRepo) -> None:
    """rsync -H / cp -al turn links into hard links: same bytes, no waste, still not a symlink."""
    c = listed_cache
    path = damage.remove_entry(c, LFS_FILE)
    os.link(c.blob(LFS_FILE), path)
    finding = the_finding(diagnose(c.cache_dir), "entry-full-copy", path)
    assert finding.reclaimable == 0 and "hard link" in finding.message
    (outcome,) = fix(c.cache_dir).outcomes
    assert outcome.status == "done" and outcome.reclaimed == 0
    assert path.is_symlink()
    loads_exactly(c)
