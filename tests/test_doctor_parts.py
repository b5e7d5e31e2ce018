"""A cache of many repos is judged a few repos at a time: the same findings, fixes and counts.

Each test judges one damaged cache of several repos twice, whole and in parts of two repos (so
every cache-wide rule has to cross parts), and compares everything the report says.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import damage
import pytest
from builders import (
    CachedRepo,
    cache_repo,
    move_lfs_blobs_to_shared_store,
    publish_sharded_model,
    requires_shared_store,
    with_tree_listing,
)

from hfcache.doctor import Report, diagnose, stream
from hfcache.repair import FixResult, fix
from hfcache.scan.top import scan_top

OTHERS = ("standin/parts-a", "standin/parts-b", "standin/parts-c", "standin/parts-d")
SHARD = "model-00001-of-00002.safetensors"


def _everything(report: Report) -> dict[str, Any]:
    return {**report.to_json(), "verification": _counts(report)}


def _counts(report: Report) -> tuple[int, int, list[str]] | None:
    v = report.verification
    return None if v is None else (v.bytes_hashed, v.bytes_reused, sorted(v.corrupt))


def _both(monkeypatch: pytest.MonkeyPatch, cache_dir: Path, **kw: Any) -> tuple[Report, Report]:
    whole = diagnose(cache_dir, **kw)
    with monkeypatch.context() as m:
        m.setattr(stream, "PART_REPOS", 2)
        assert len(stream.parts_of(scan_top(whole.location))) > 1
        parts = diagnose(cache_dir, **kw)
    return whole, parts


@pytest.fixture
def many(fresh_cache: CachedRepo) -> list[CachedRepo]:
    """``fresh_cache`` and four more repos in the same cache, each with its tree listing (as every
    client since 1.x writes it: what tells a truncated blob), four of them damaged."""
    hub = fresh_cache.hub
    repos = [with_tree_listing(fresh_cache)]
    for i, repo_id in enumerate(OTHERS):
        publish_sharded_model(hub, repo_id, seed=i + 1)
        repos.append(with_tree_listing(cache_repo(hub, fresh_cache.cache_dir, repo_id)))
    damage.truncate_blob(repos[1], SHARD, 100)
    damage.backslash_link(repos[2], "config.json")
    damage.full_copy(repos[3], SHARD)
    damage.flip_byte(repos[4].blob(SHARD), 200)
    return repos


def _stale_locks_of_a_gone_repo(cache_dir: Path) -> None:
    folder = cache_dir / ".locks" / "models--standin--gone"
    folder.mkdir(parents=True)
    lock = folder / "0123.lock"
    lock.write_bytes(b"")
    old = time.time() - 7200
    os.utime(lock, (old, old))


def test_parts_say_what_the_whole_says(many: list[CachedRepo], monkeypatch: pytest.MonkeyPatch) -> None:
    cache_dir = many[0].cache_dir
    _stale_locks_of_a_gone_repo(cache_dir)
    (cache_dir / "notes.txt").write_text("not a repo")
    whole, parts = _both(monkeypatch, cache_dir)
    assert _everything(parts) == _everything(whole)
    got = {f.code for f in whole.findings}
    expected = {"blob-size-mismatch", "link-backslash", "entry-full-copy", "lock-stale", "repo-bad-name"}
    assert expected <= got, got
    assert parts.summary.repos == 5 and parts.summary.files == whole.summary.files > 0


def test_parts_verify_as_the_whole_does(many: list[CachedRepo], monkeypatch: pytest.MonkeyPatch) -> None:
    whole, parts = _both(monkeypatch, many[0].cache_dir, verify_hashes=True)
    assert _everything(parts) == _everything(whole)
    assert "blob-hash-mismatch" in {f.code for f in parts.findings}
    assert parts.summary.bytes_hashed == whole.summary.bytes_hashed > 0


def test_parts_report_one_progress_phase(many: list[CachedRepo], monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int | None]] = []
    advanced: list[int] = []

    class Recording:
        def start(self, task: str, total: int | None) -> None:
            calls.append((task, total))

        def advance(self, n: int) -> None:
            advanced.append(n)

        def finish(self) -> None:
            calls.append(("finish", None))

    monkeypatch.setattr(stream, "PART_REPOS", 2)
    report = diagnose(many[0].cache_dir, verify_hashes=True, progress=Recording())
    assert calls[0][0] == "verify" and calls[1:] == [("finish", None)]
    assert sum(advanced) == calls[0][1] == report.summary.bytes_hashed


def _found(result: FixResult, root: Path) -> list[tuple[str, str, bool]]:
    """Every finding before the repair, where (relative to the cache), and whether it was fixed."""
    before = result.to_json()["findings_before"]
    return [(f["code"], os.path.relpath(f["path"], root), f["fixed"]) for f in before]


def test_fix_in_parts_repairs_as_the_whole_does(
    many: list[CachedRepo], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    twin = tmp_path / "twin"
    shutil.copytree(many[0].cache_dir, twin, symlinks=True)
    whole = fix(many[0].cache_dir, verify_hashes=True)
    monkeypatch.setattr(stream, "PART_REPOS", 2)
    parts = fix(twin, verify_hashes=True)
    assert _found(parts, twin) == _found(whole, many[0].cache_dir)
    assert any(fixed for _, _, fixed in _found(parts, twin))
    assert len(parts.outcomes) == len(whole.outcomes) > 0
    assert parts.after.exit_code == whole.after.exit_code


@requires_shared_store
def test_parts_judge_the_shared_store_once(many: list[CachedRepo], monkeypatch: pytest.MonkeyPatch) -> None:
    """Store entries are hashed once, an entry one part's repo needs is no orphan in another's, and a
    corrupt entry found with the first part is not linked to by a later one."""
    cache_dir = many[0].cache_dir
    moved = move_lfs_blobs_to_shared_store(cache_dir, many[0].repo_folder)
    move_lfs_blobs_to_shared_store(cache_dir, many[4].repo_folder)
    damage.flip_byte(moved[0].store_path, 50)
    for name in ("plain", "verified"):
        whole, parts = _both(monkeypatch, cache_dir, verify_hashes=name == "verified")
        assert _everything(parts) == _everything(whole), name
    assert "store-hash-mismatch" in {f.code for f in parts.findings}
    assert "store-orphan" not in {f.code for f in parts.findings}
