"""The output contract, pinned: each command's JSON shape, errors as JSON, -h, -q, exit codes.

Scripts rely on these keys; a change here is a change of ``schema_version``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import damage
import pytest
from builders import CachedRepo
from test_cli import hfcache

FINDING = {
    "code", "severity", "path", "repo_id", "repo_type", "commit", "path_in_repo", "message", "advice",
    "fixable", "fix", "action", "repo", "reclaimable_bytes", "about", "folded_into", "also",
}  # fmt: skip
ACTION = {
    "step", "repo", "path", "etag", "commit", "leftover", "rewrite", "needs_verify", "store", "description",
}  # fmt: skip
SUMMARY = {
    "repos", "revisions", "files", "bytes", "bytes_hashed", "bytes_reused", "errors", "warnings",
    "infos", "fixable", "reclaimable", "prunable", "quarantine_items", "quarantine_bytes",
}  # fmt: skip
REPORT = {
    "schema_version", "path", "kind", "cache_dir", "revision", "verified", "summary", "findings", "plan",
}  # fmt: skip


def _json(*args: str | Path, code: int) -> dict[str, Any]:
    run = hfcache(*args, "--json")
    assert run.returncode == code, run.stdout + run.stderr
    doc = json.loads(run.stdout)
    assert doc["schema_version"] == 1
    return dict(doc)


def test_doctor_shape(fresh_cache: CachedRepo) -> None:
    damage.backslash_link(fresh_cache, "config.json")
    doc = _json("doctor", fresh_cache.cache_dir, code=1)
    assert doc.keys() == REPORT and doc["summary"].keys() == SUMMARY
    (finding,) = doc["findings"]
    assert finding.keys() == FINDING and finding["action"].keys() == ACTION
    assert (finding["repo_id"], finding["repo_type"]) == (fresh_cache.repo_id, "model")
    assert (finding["commit"], finding["path_in_repo"]) == (fresh_cache.commit, "config.json")
    (planned,) = doc["plan"]
    assert planned.keys() == ACTION | {"resolves"}
    assert planned["resolves"] == [{"code": "link-backslash", "path": finding["path"]}]


def test_fix_shape(fresh_cache: CachedRepo) -> None:
    damage.backslash_link(fresh_cache, "config.json")
    doc = _json("doctor", fresh_cache.cache_dir, "--fix", code=0)
    assert doc.keys() == REPORT | {"findings_before", "summary_before", "actions", "reclaimed_bytes"}
    (before,) = doc["findings_before"]
    assert before.keys() == FINDING | {"fixed"} and before["fixed"] is True
    (action,) = doc["actions"]
    outcome = {"status", "effect", "detail", "quarantined", "reclaimed_bytes", "resolves"}
    assert action.keys() == ACTION | outcome


def test_pack_unpack_shapes(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    bundle = tmp_path / "b.tar"
    doc = _json("pack", c.repo_id, "--cache-dir", c.cache_dir, "-o", bundle, code=0)
    keys = {"schema_version", "paths", "bytes_written", "repos", "checksum_file", "source_problems", "delta"}
    assert doc.keys() == keys and doc["delta"] is None  # a whole bundle, not a delta
    repo_keys = {"repo_id", "repo_type", "revision", "commit", "files", "expected", "problems"}
    assert doc["repos"][0].keys() == repo_keys
    check = _json("unpack", bundle, "--check", code=0)
    target = tmp_path / "home"
    installed = _json("unpack", bundle, "--cache-dir", target, code=0)
    assert check.keys() == installed.keys()
    assert installed["target"] == str(target)


def test_unpack_into_an_hf_home_installs_under_hub(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    bundle = tmp_path / "b.tar"
    _json("pack", c.repo_id, "--cache-dir", c.cache_dir.parent, "-o", bundle, code=0)  # an HF_HOME
    home = tmp_path / "home"
    (home / "hub").mkdir(parents=True)
    (home / "token").write_text("x")
    doc = _json("unpack", bundle, "--cache-dir", home, code=0)
    assert doc["target"] == str(home / "hub")
    assert (home / "hub" / c.repo_folder.name / "snapshots" / c.commit).is_dir()


def test_pack_refusal_is_one_json_document(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    damage.drop_blob(c, "config.json")
    doc = _json("pack", c.repo_id, "--cache-dir", c.cache_dir, "-o", tmp_path / "b.tar", code=1)
    assert doc.keys() == {"schema_version", "error"}
    assert doc["error"]["code"] == "pack-refused" and doc["error"]["problems"]
    assert not (tmp_path / "b.tar").exists()


@pytest.mark.parametrize(
    "args",
    [
        ("pack", "x/y!", "-o", "out.tar"),
        ("pack", "x/y", "-o", "out.tar", "--split-size", "lots"),
        ("unpack", "/no/such/bundle.tar"),
        ("quarantine", "/no/such/cache"),
        ("serve", "--port", "99999"),
        ("serve", "--public-url", "ftp://mirror.lan"),
    ],
)
def test_bad_arguments_are_checked_by_the_library(args: tuple[str, ...]) -> None:
    doc = _json(*args, code=2)
    assert doc["error"]["code"] == "bad-input" and doc["error"]["message"]


def test_serve_shape(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    from mirror import running

    with running(fresh_cache.cache_dir, state=tmp_path / "state") as m:
        doc = m.started
    assert doc.keys() == {"schema_version", "url", "host", "port", "sources", "repos", "client_settings"}
    assert doc["schema_version"] == 1 and doc["repos"] == 1


def test_split_to_stdout_is_refused_before_anything_is_written() -> None:
    run = hfcache("pack", "x/y", "-o", "-", "--split-size", "1G")
    assert run.returncode == 2 and run.stdout == ""  # stdout would carry the bundle
    assert run.stderr.strip().splitlines()[-1] == "hfcache: error: --split-size needs -o FILE, not stdout"


def test_usage_error_is_one_line_and_json() -> None:
    run = hfcache("doctor", "--no-such-option")
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("hfcache: error:")
    assert _json("doctor", "--no-such-option", code=2)["error"]["code"] == "usage"


def test_short_help_and_quiet(fresh_cache: CachedRepo) -> None:
    for command in ("doctor", "pack", "unpack", "quarantine"):
        run = hfcache(command, "-h")
        assert run.returncode == 0 and "--json" in run.stdout and "--quiet" in run.stdout, command
    run = hfcache("quarantine", fresh_cache.cache_dir, "-q")
    assert run.returncode == 0 and run.stderr == ""


def test_quarantine_lists_and_empties_only_when_told(listed_cache: CachedRepo) -> None:
    c = listed_cache
    damage.full_copy(c, "config.json")
    Path(damage.entry(c, "config.json")).write_bytes(b"{}")  # wrong size: parked, not deleted
    _json("doctor", c.cache_dir, "--fix", code=0)
    listed = _json("quarantine", c.cache_dir, code=0)
    assert listed["files"] == 1 and listed["bytes"] == 2 and not listed["emptied"]
    assert _json("doctor", c.cache_dir, code=0)["summary"]["quarantine_bytes"] == 2
    dry = _json("quarantine", c.cache_dir, "--empty", code=0)
    assert dry["dry_run"] and len(dry["removed"]) == 1
    assert Path(dry["removed"][0]["path"]).exists()
    done = _json("quarantine", c.cache_dir, "--empty", "--yes", code=0)
    assert done["emptied"] and not Path(done["removed"][0]["path"]).exists()
    assert _json("quarantine", c.cache_dir, code=0)["items"] == []


def test_quarantine_never_follows_a_planted_link(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    outside = tmp_path / "precious"
    (outside / "20260101T000000").mkdir(parents=True)
    (outside / "20260101T000000" / "data").write_bytes(b"keep me")
    (c.repo_folder / ".hfcache").mkdir()
    os.symlink(outside, c.repo_folder / ".hfcache" / "quarantine")
    doc = _json("quarantine", c.cache_dir, "--empty", "--yes", code=0)
    assert doc["items"] == []
    assert (outside / "20260101T000000" / "data").read_bytes() == b"keep me"


def test_quarantine_older_than(fresh_cache: CachedRepo) -> None:
    c = fresh_cache
    item = c.repo_folder / ".hfcache" / "quarantine" / "20260101T000000"
    item.mkdir(parents=True)
    (item / "f").write_bytes(b"x")
    assert _json("quarantine", c.cache_dir, "--empty", "--older-than", "1", code=0)["removed"] == []
    old = time.time() - 3 * 86400
    os.utime(item, (old, old))
    assert len(_json("quarantine", c.cache_dir, "--empty", "--older-than", "1", code=0)["removed"]) == 1


def test_file_names_that_are_not_utf8(fresh_cache: CachedRepo) -> None:
    """JSON stays valid UTF-8 (undecodable bytes as \\udcXX escapes that give the bytes back)."""
    c = fresh_cache
    odd = os.path.join(os.fsencode(c.snapshot), b"caf\xe9.txt")
    with open(odd, "wb") as f:
        f.write(b"")
    run = subprocess.run(
        [sys.executable, "-m", "hfcache", "doctor", str(c.cache_dir), "--json"],
        capture_output=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stderr
    doc = json.loads(run.stdout.decode("utf-8"))  # strict UTF-8
    (found,) = [f for f in doc["findings"] if f["path"].endswith(".txt") and "caf" in f["path"]]
    assert os.fsencode(found["path"]) == odd
    human = subprocess.run([sys.executable, "-m", "hfcache", "doctor", str(c.cache_dir)], capture_output=True)
    assert human.returncode == 1 and b"Traceback" not in human.stderr


def test_a_choice_outside_its_list_is_a_usage_error() -> None:
    doc = _json("pack", "x/y", "-o", "out.tar", "--repo-type", "model-ish", code=2)
    assert doc["error"]["code"] == "usage" and "model-ish" in doc["error"]["message"]
