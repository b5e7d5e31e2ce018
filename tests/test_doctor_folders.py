"""Files where folders belong, caches holding only the shared store, refs naming non-hex snapshot
folders, and the shared store's own leftovers: each judged as huggingface_hub judges it.

The layouts are those huggingface_hub's own tests build (``tests/test_utils_cache.py``,
``tests/test_shared_blobs.py`` in its 2.4.0 source distribution), made here from a real download.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from builders import CachedRepo, move_lfs_blobs_to_shared_store, requires_shared_store
from checks import codes, loads_exactly, scan_warnings, the_finding
from huggingface_hub import scan_cache_dir

from hfcache.bundle.pack import pack
from hfcache.doctor import diagnose
from hfcache.errors import PackRefusedError
from hfcache.findings import Severity
from hfcache.repair import fix

OLD = time.time() - 7200


@pytest.mark.parametrize(
    ("part", "client_says"),
    [
        ("refs", "Refs directory cannot be a file"),
        ("snapshots", "Snapshots dir doesn't exist"),
        ("blobs", "Blob missing"),
    ],
)
def test_a_file_where_a_repo_folder_belongs(fresh_cache: CachedRepo, part: str, client_says: str) -> None:
    """test_utils_cache.py builds refs as a file; blobs and snapshots are the same mistake."""
    c = fresh_cache
    folder = c.repo_folder / part
    shutil.rmtree(folder)
    folder.write_bytes(b"not a folder\n")
    assert any(client_says in w for w in scan_warnings(c.cache_dir))

    report = diagnose(c.cache_dir)
    found = the_finding(report, "repo-part-not-folder", folder)
    assert found.severity is Severity.ERROR
    assert "unreadable" not in codes(report)
    assert "chmod" not in found.text and "permission" not in found.text
    assert client_says.split()[0] in found.text
    assert not any(f.message.endswith("not judged") for f in report.findings)
    assert report.exit_code == 1

    result = fix(c.cache_dir)
    assert not folder.exists()
    parked = [p for p in (c.repo_folder / ".hfcache" / "quarantine").rglob(part) if p.is_file()]
    assert [p.read_bytes() for p in parked] == [b"not a folder\n"]  # moved aside, never deleted
    assert "repo-part-not-folder" not in codes(result.after)
    if part == "refs":  # the client's scan now accepts the repo; by commit hash it still loads
        assert scan_warnings(c.cache_dir) == []
        loads_exactly(c, revision=c.commit)


def test_a_file_named_like_a_repo_folder(fresh_cache: CachedRepo) -> None:
    """test_utils_cache.py test_repo_path_not_valid_dir: a file where a repo folder belongs."""
    c = fresh_cache
    stray = c.cache_dir / "models--org--file"
    stray.write_bytes(b"x")
    assert any("Repo path is not a directory" in w for w in scan_warnings(c.cache_dir))
    report = diagnose(c.cache_dir)
    assert the_finding(report, "repo-not-folder", stray).severity is Severity.ERROR
    assert "repo-bad-name" not in codes(report)
    fix(c.cache_dir)
    assert not stray.exists()
    assert scan_warnings(c.cache_dir) == []
    assert diagnose(c.cache_dir).findings == ()


def _store_only(c: CachedRepo) -> Path:
    move_lfs_blobs_to_shared_store(c.cache_dir, c.repo_folder)
    shutil.rmtree(c.repo_folder)
    shutil.rmtree(c.cache_dir / ".locks")  # as in the client's test: nothing but the store
    (c.cache_dir / "CACHEDIR.TAG").unlink(missing_ok=True)
    return c.cache_dir


@requires_shared_store
def test_a_cache_holding_only_the_shared_store_is_a_cache(fresh_cache: CachedRepo) -> None:
    """test_shared_blobs.py test_cache_total_counts_shared_payload_once_and_store_only_payloads:
    repos deleted, payloads kept; the client scans it and counts the payloads."""
    cache = _store_only(fresh_cache)
    assert os.listdir(cache) == ["blobs"]
    payload = scan_cache_dir(cache).size_on_disk
    assert payload > 0

    report = diagnose(cache)
    assert codes(report) == {"store-orphan"}
    assert report.exit_code == 0
    assert report.summary.prunable == payload

    cli = subprocess.run(
        [sys.executable, "-m", "hfcache", "doctor", str(cache)], capture_output=True, text=True
    )
    assert cli.returncode == 0, cli.stderr
    assert "hf cache prune" in cli.stdout + cli.stderr


@requires_shared_store
def test_an_unmarked_store_alone_is_a_cache_with_a_warning(fresh_cache: CachedRepo) -> None:
    """test_shared_blobs.py test_unmarked_blobs_directory_is_not_hidden: the client warns once."""
    cache = _store_only(fresh_cache)
    (cache / "blobs" / ".huggingface-shared-blobs").unlink()
    assert len(scan_warnings(cache)) == 1
    report = diagnose(cache)
    assert "store-unmarked" in codes(report)
    assert report.exit_code == 1
    assert report.summary.prunable == 0  # hf cache prune leaves a store it does not own


def test_a_marker_being_written_still_marks_a_store(tmp_path: Path) -> None:
    """test_shared_blobs.py test_abandoned_marker_temp_does_not_disable_store."""
    store = tmp_path / "blobs"
    store.mkdir()
    (store / ".huggingface-shared-blobs.deadbeef.tmp").write_text("1\n")
    report = diagnose(tmp_path)
    assert codes(report) == {"store-unmarked"}


def test_a_ref_naming_a_snapshot_folder_that_is_not_a_commit(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    """The client opens snapshots/<the ref's text>: a non-hex folder name loads (its test caches use them)."""
    c = fresh_cache
    name = "not-a-hash"
    os.rename(c.snapshot, c.snapshot.with_name(name))
    (c.repo_folder / "refs" / "main").write_text(name)
    assert scan_warnings(c.cache_dir) == []
    loads_exactly(c)

    report = diagnose(c.cache_dir)
    assert report.exit_code == 0, [f.text for f in report.problems]
    assert the_finding(report, "ref-not-commit").severity is Severity.INFO
    # It loads here, but a bundle carries revisions by commit: pack refuses, naming the finding.
    with pytest.raises(PackRefusedError) as refused:
        pack([c.repo_id], str(tmp_path / "b.tar"), cache_dir=str(c.cache_dir))
    assert [f.code for f in refused.value.problems] == ["ref-not-commit"]
    assert not (tmp_path / "b.tar").exists()


@requires_shared_store
def test_a_shared_store_prefix_that_links_out_is_never_followed(
    fresh_cache: CachedRepo, tmp_path: Path
) -> None:
    """test_shared_blobs.py test_symlinked_prefix_is_refused: the client refuses it too."""
    c = fresh_cache
    move_lfs_blobs_to_shared_store(c.cache_dir, c.repo_folder)
    store = c.cache_dir / "blobs"
    outside = tmp_path / "external"
    outside.mkdir()
    (store / "ff").symlink_to(outside, target_is_directory=True)
    report = diagnose(c.cache_dir)
    assert the_finding(report, "dir-is-link", store / "ff").severity is Severity.ERROR


@requires_shared_store
def test_a_stale_soft_lock_of_the_store_is_parked(fresh_cache: CachedRepo) -> None:
    """test_shared_blobs.py test_stale_soft_lock_fails_without_blocking: while it exists, publishing
    times out."""
    c = fresh_cache
    shared = move_lfs_blobs_to_shared_store(c.cache_dir, c.repo_folder)
    entry = c.cache_dir / "blobs" / shared[0].xet_hash[:2] / shared[0].xet_hash
    fresh = Path(f"{entry}.lock.soft")
    fresh.touch()
    assert "lock-stale" not in codes(diagnose(c.cache_dir))  # a live download may hold it
    os.utime(fresh, (OLD, OLD))
    report = diagnose(c.cache_dir)
    assert the_finding(report, "lock-stale", fresh).fix is not None
    assert report.exit_code == 0
    fix(c.cache_dir)
    assert not fresh.exists()
    assert diagnose(c.cache_dir).findings == ()


@requires_shared_store
def test_a_repo_blob_linking_into_the_store_is_named_by_its_store_entry(fresh_cache: CachedRepo) -> None:
    """An unused repo blob that links into the store: its size is the entry's, not the link's 0 B."""
    c = fresh_cache
    shared = move_lfs_blobs_to_shared_store(c.cache_dir, c.repo_folder)
    unused = c.repo_folder / "blobs" / ("e" * 64)  # a blob of a revision deleted since, say
    unused.symlink_to(os.readlink(shared[0].repo_blob))
    report = diagnose(c.cache_dir)
    orphan = the_finding(report, "blob-orphan")
    assert "shared store entry" in orphan.message and "(0 B)" not in orphan.message


@pytest.mark.parametrize("as_link", [False, True])
def test_a_bad_blob_name_is_one_code_whether_file_or_link(fresh_cache: CachedRepo, as_link: bool) -> None:
    c = fresh_cache
    stray = c.repo_folder / "blobs" / "notes.txt"
    if as_link:
        stray.symlink_to(next(p for p in (c.repo_folder / "blobs").iterdir()).name)
    else:
        stray.write_bytes(b"x")
    assert the_finding(diagnose(c.cache_dir), "blob-bad-name", stray).severity is Severity.INFO
