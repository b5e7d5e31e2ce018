"""One commit folder gone from ``snapshots/`` while a ref, its tree listing and every blob stay:
huggingface_hub's scan drops the repo ("Reference(s) refer to missing commit hashes") and loading
the ref fails offline; ``--fix`` rebuilds the snapshot exactly from the listing."""

from __future__ import annotations

import shutil
from pathlib import Path

from builders import CachedRepo, cache_two_revisions, with_tree_listing
from checks import codes, loads_exactly, scan_warnings, the_finding
from standin_hub import StandinHub

from hfcache.doctor import diagnose
from hfcache.repair import fix


def test_a_lost_commit_folder_is_rebuilt_from_its_listing(fresh_cache: CachedRepo) -> None:
    c = with_tree_listing(fresh_cache)  # what clients from 1.x on write; older ones cannot be rebuilt
    shutil.rmtree(c.snapshot)
    assert any("missing commit hashes" in w for w in scan_warnings(c.cache_dir))

    report = diagnose(c.cache_dir)
    dangling = the_finding(report, "ref-dangling")
    assert dangling.fixable is False and "--fix rebuilds" in dangling.text
    assert len(dangling.about) == len(c.files)  # each missing file folds into it
    shown = [f for f in report.findings if f.folded_into is None]
    assert [f.code for f in shown] == ["ref-dangling"]
    assert "delete" not in dangling.text

    result = fix(c.cache_dir)
    assert result.after.findings == (), [f.text for f in result.after.findings]
    assert scan_warnings(c.cache_dir) == []
    loads_exactly(c)


def test_without_every_blob_the_ref_dangles_as_before(fresh_cache: CachedRepo) -> None:
    c = with_tree_listing(fresh_cache)
    shutil.rmtree(c.snapshot)
    c.blob("config.json").unlink()
    report = diagnose(c.cache_dir)
    dangling = the_finding(report, "ref-dangling")
    assert "--fix rebuilds" not in dangling.text and not dangling.about
    assert "entry-missing" not in codes(report)


def test_one_of_two_revisions_lost(hub: StandinHub, tmp_path: Path, hf_env: Path) -> None:
    """The other revision keeps its snapshot; only the lost one (main) is rebuilt."""
    first, second = cache_two_revisions(hub, tmp_path / "hub")
    (second.repo_folder / "refs").mkdir(exist_ok=True)
    (second.repo_folder / "refs" / "main").write_text(second.commit)  # as a download of main writes it
    shutil.rmtree(second.snapshot)
    result = fix(first.cache_dir)
    assert "ref-dangling" in codes(result.before)
    assert result.after.findings == (), [f.text for f in result.after.findings]
    assert first.snapshot.is_dir() and second.snapshot.is_dir()
    assert scan_warnings(first.cache_dir) == []
