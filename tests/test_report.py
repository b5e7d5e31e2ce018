"""The doctor's report as people read it: one primary finding per damaged file, short hashes,
link text as ``readlink`` shows it, and hints that work when pasted."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import damage
from builders import CachedRepo, cache_repo
from standin_hub import StandinHub
from test_cli import hfcache

from hfcache.doctor import diagnose

SHARD = "model-00001-of-00002.safetensors"


def _human(path: Path, *args: str, columns: int = 80) -> str:
    run = hfcache("doctor", path, *args, env={"COLUMNS": str(columns)})
    assert run.returncode == 1, run.stderr
    return run.stdout


def test_a_truncated_shard_on_a_windows_copy_is_one_primary_finding(listed_cache: CachedRepo) -> None:
    c = listed_cache
    damage.backslash_link(c, SHARD)
    damage.truncate_blob(c, SHARD, 100)
    report = diagnose(c.cache_dir, verify_hashes=True)
    about_shard = [f for f in report.findings if f.place.path_in_repo == SHARD]
    primary = [f for f in about_shard if f.folded_into is None]
    assert len(about_shard) >= 3 and len(primary) == 1
    (p,) = primary
    assert p.code == "blob-hash-mismatch" and set(p.also) >= {"blob-size-mismatch", "link-backslash"}
    assert all(f.folded_into == p.code for f in about_shard if f is not p)
    assert p.about == (str(c.snapshot / SHARD),) and SHARD in p.message
    # Every fix is still planned: folding changes what people read, not what --fix does.
    planned = {(code, path) for a in report.plan.to_json() for code, path in _resolves(a)}
    assert {(f.code, f.path) for f in report.findings if f.fix is not None} <= planned

    text = _human(c.cache_dir, "--verify")
    assert text.count(SHARD) == 2  # the primary entry and its download command
    assert f"            hf download {c.repo_id} {SHARD} --revision {c.commit}\n" in text
    assert not re.search(r"[0-9a-f]{40}", text.replace(c.commit, ""))  # no full hash but the revision
    for line in text.splitlines():  # wrapped at the width, but a command to paste stays whole
        assert line == line.rstrip() and (len(line) <= 80 or line.lstrip().startswith(("To repair:", "hf ")))


def _resolves(action: dict[str, object]) -> list[tuple[str, str]]:
    resolves = action["resolves"]
    assert isinstance(resolves, list)
    return [(r["code"], r["path"]) for r in resolves]


def test_link_text_reads_as_readlink_shows_it(fresh_cache: CachedRepo) -> None:
    c = fresh_cache
    damage.backslash_link(c, "config.json")
    os.unlink(c.blob("config.json"))
    (f,) = (f for f in diagnose(c.cache_dir).findings if f.code == "link-backslash")
    etag = os.path.basename(c.blob("config.json"))
    assert f"..\\..\\blobs\\{etag[:12]}…" in f.message and "\\\\" not in f.message and "'" not in f.message


def test_hints_for_a_dataset_name_its_repo_type(hub: StandinHub, tmp_path: Path) -> None:
    repo_id = hub.unique_repo_id("standin/ds")
    hub.add_commit(repo_id, {"data/train.csv": b"a,b\n1,2\n", "README.md": b"# ds\n"}, repo_type="dataset")
    c = cache_repo(hub, tmp_path / "hub", repo_id, repo_type="dataset")
    damage.backslash_link(c, "README.md")
    os.unlink(c.blob("README.md"))
    text = _human(c.cache_dir)
    assert f"{repo_id} (dataset)\n" in text
    assert f" hf download {repo_id} README.md --repo-type dataset --revision {c.commit}" in text


def test_a_plain_folder_gets_no_invented_repo_id(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    shutil.copytree(fresh_cache.snapshot, folder)
    (folder / SHARD).unlink()
    (folder / SHARD).write_bytes(b"")
    report = diagnose(folder)
    assert report.findings
    for f in report.findings:
        assert "hf download" not in f.text and "--revision" not in f.text
        assert "snapshot local" not in f.text and "in the cache" not in f.text
        assert f.place.repo_id is None
    assert "hf download" not in _human(folder)


def test_a_missing_shard_behind_a_windows_copy_is_an_error(listed_cache: CachedRepo) -> None:
    """The index itself is a backslash link: it is judged by its blob, so the lost shard is a
    shard-missing error with the download to run, not a note that part of the repo was skipped."""
    c = listed_cache
    for name in c.files:
        damage.backslash_link(c, name)
    damage.remove_entry(c, SHARD)
    damage.drop_blob(c, SHARD)
    report = diagnose(c.cache_dir)
    (missing,) = (f for f in report.findings if f.place.path_in_repo == SHARD and f.folded_into is None)
    assert missing.code == "shard-missing" and missing.severity.value == "error"
    assert f"hf download {c.repo_id} {SHARD} --revision {c.commit}" in missing.text


def test_the_words_match_the_damage(fresh_cache: CachedRepo) -> None:
    """A link-text file is what a Windows zip leaves too, not only git; a relink over a broken link
    keeps nothing, so the report does not say old files are kept."""
    c = fresh_cache
    damage.backslash_link(c, "config.json")
    plain = " ".join(hfcache("doctor", c.cache_dir).stdout.split())
    assert "relinks each to its blob" in plain and "quarantine" not in plain, plain
    damage.git_link_text(c, "README.md")
    found = json.loads(hfcache("doctor", c.cache_dir, "--json").stdout)["findings"]
    (link_text,) = [f for f in found if f["code"] == "entry-link-text"]
    assert "zip made on Windows" in link_text["message"], link_text
    grouped = " ".join(hfcache("doctor", c.cache_dir).stdout.split())
    assert "(what it replaces kept in quarantine)" in grouped, grouped
