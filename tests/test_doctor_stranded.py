"""A revision whose snapshot lost its links while its blobs stayed (rsync -r, a copy that skips
links) is stranded, not a heap of orphans: the blobs are the only copy of the model. What can be
identified by content is relinked by --fix; the rest is kept and the download that restores it
given. Every command says the same about it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import damage
import pytest
from builders import CachedRepo, cache_two_revisions, make_safetensors
from checks import codes, loads_exactly, the_finding
from standin_hub import StandinHub

from hfcache.doctor import diagnose
from hfcache.findings import Severity
from hfcache.formats.identify import DIFFUSERS, index_name, name_of, parse_index_blob
from hfcache.repair import fix

UNNAMED = ("README.md", "sub/dir/extra.txt", "词表.txt")  # nothing in their content names them


def _hfcache(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hfcache", *map(str, args)], capture_output=True, text=True)


def _no_delete_advice(doc: dict[str, object]) -> None:
    for f in doc["findings"]:  # type: ignore[attr-defined]
        text = f"{f['message']} {f['advice'] or ''}".lower()
        assert ("deleting" not in text and "prune" not in text) or f["code"] != "blob-orphan", f


def test_an_old_clients_cache_copied_without_links(fresh_cache: CachedRepo, tmp_path: Path) -> None:
    c = fresh_cache
    damage.drop_tree_listings(c)
    damage.lose_snapshot_links(c)
    report = diagnose(c.cache_dir)
    strand = the_finding(report, "revision-stranded")
    assert strand.severity is Severity.ERROR and strand.place.commit == c.commit
    assert "main" in strand.message and "hf download" in strand.advice and c.commit in strand.advice
    assert "blob-orphan" not in codes(report)
    identified = {f.place.path_in_repo for f in report.findings if f.code == "entry-missing"}
    assert identified == set(c.files) - set(UNNAMED)
    assert all(
        f.folded_into == "revision-stranded" and f.fixable
        for f in report.findings
        if f.code == "entry-missing"
    )
    doc = json.loads(_hfcache("doctor", c.cache_dir, "--json").stdout)
    _no_delete_advice(doc)

    # Every command judges the revision the same way before the repair.
    inspected = _hfcache("inspect", c.repo_id, "--cache-dir", c.cache_dir, "--json")
    assert inspected.returncode == 1 and "revision-stranded" in {
        f["code"] for f in json.loads(inspected.stdout)["findings"]
    }
    planned = _hfcache("fit", c.repo_id, "--cache-dir", c.cache_dir, "--no-gpu", "--ram", "64GiB", "--json")
    no_plan = json.loads(planned.stdout)["no_plan"]
    assert planned.returncode == 1 and no_plan["command"].endswith("--fix")
    packed = _hfcache("pack", c.repo_id, "--cache-dir", c.cache_dir, "-o", tmp_path / "x.tar")
    assert (
        packed.returncode == 1 and "revision-stranded" in packed.stderr and not (tmp_path / "x.tar").exists()
    )

    # doctor given the snapshot folder (the path transformers prints) repairs that revision.
    repaired = _hfcache("doctor", c.snapshot, "--fix")
    assert "relinked 6 file(s)" in repaired.stdout, repaired.stdout
    loads_exactly(c, sorted(set(c.files) - set(UNNAMED)))
    after = diagnose(c.cache_dir)
    left = the_finding(after, "revision-stranded")  # the unnamed blobs may still be its files
    assert left.severity is Severity.WARNING and "hf download" in left.advice
    assert "blob-orphan" not in codes(after)


def test_a_listing_names_every_lost_link(listed_cache: CachedRepo) -> None:
    c = listed_cache
    damage.lose_snapshot_links(c)
    report = diagnose(c.cache_dir)
    assert "revision-stranded" not in codes(report) and "blob-orphan" not in codes(report)
    missing = [f for f in report.findings if f.code == "entry-missing"]
    assert {f.place.path_in_repo for f in missing} == set(c.files) and all(f.fixable for f in missing)
    assert not fix(c.cache_dir).after.problems
    loads_exactly(c)


def test_two_emptied_revisions_get_no_guess(hub: StandinHub, hf_env: Path) -> None:
    c1, c2 = cache_two_revisions(hub, hf_env)
    damage.drop_tree_listings(c1)
    damage.lose_snapshot_links(c1)
    report = diagnose(hf_env)
    strands = [f for f in report.findings if f.code == "revision-stranded"]
    assert {f.place.commit for f in strands} == {c1.commit, c2.commit}
    # Both revisions lack config.json: no blob is assigned to either by its content alone.
    identified = {f.place.path_in_repo for f in report.findings if f.code == "entry-missing"}
    assert "config.json" not in identified
    assert "blob-orphan" not in codes(report)


def test_an_orphan_is_prunable_only_where_listings_prove_it(hub: StandinHub, hf_env: Path) -> None:
    c1, c2 = cache_two_revisions(hub, hf_env)
    for p in sorted(c1.snapshot.rglob("*"), reverse=True):  # the old revision's snapshot deleted by hand
        p.unlink() if not p.is_dir() or p.is_symlink() else p.rmdir()
    c1.snapshot.rmdir()
    (c1.repo_folder / "trees" / f"{c1.commit}.json").unlink()
    orphan = the_finding(diagnose(hf_env), "blob-orphan")
    assert "hf cache prune" in orphan.advice and orphan.reclaimable > 0  # c2's listing proves it
    damage.drop_tree_listings(c2)
    report = diagnose(hf_env)
    suspect = the_finding(report, "revision-stranded")
    assert suspect.severity is Severity.WARNING and suspect.place.commit == c2.commit


def test_a_full_copy_and_its_blob_are_one_file(fresh_cache: CachedRepo) -> None:
    c = fresh_cache
    damage.drop_tree_listings(c)
    damage.dereference_snapshot(c)  # cp -rL of an old client's cache
    report = diagnose(c.cache_dir)
    assert not report.problems and "blob-orphan" not in codes(report)
    copies = [f for f in report.findings if f.code == "entry-full-copy"]
    assert len(copies) == len(c.files) and all(f.reclaimable > 0 for f in copies)
    run = _hfcache("doctor", c.cache_dir, "--fix")
    assert run.returncode == 0 and "kept" not in run.stdout, run.stdout
    done = f"replaced {len(c.files)} full copy(ies) with links to the verified blobs"
    assert done in run.stdout, run.stdout
    loads_exactly(c)
    assert not os.path.isfile(c.snapshot / "config.json") or os.path.islink(c.snapshot / "config.json")


def test_what_content_names_and_what_it_does_not() -> None:
    assert name_of(b'{"model_type": "llama", "architectures": ["LlamaForCausalLM"]}') == "config.json"
    assert name_of(b'\xef\xbb\xbf{"model_type": "bert"}') == "config.json"
    assert name_of(b'{"_class_name": "UNet2DModel", "_diffusers_version": "0.30.0"}') == DIFFUSERS
    assert name_of(b'{"model_type": "clip", "peft_type": "LORA"}') is None
    assert name_of(b'{"version": "1.0", "model": {"type": "BPE", "vocab": {}}}') == "tokenizer.json"
    assert name_of(b'{"bos_token": "<s>", "eos_token": "</s>"}') == "special_tokens_map.json"
    assert name_of(b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n") == ".gitattributes"
    assert name_of(b"# A model\n") is None and name_of(b"[1, 2]") is None and name_of(b"\x00\x01") is None
    index = parse_index_blob(
        b'{"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}'
    )
    assert index is not None and index_name(index) == "model.safetensors.index.json"
    odd = parse_index_blob(b'{"weight_map": {"a": "x.safetensors", "b": "model-00002-of-00002.safetensors"}}')
    assert odd is not None and index_name(odd) is None
    assert parse_index_blob(make_safetensors({"a": ("F32", [1])})) is None


@pytest.mark.parametrize("weights", ["model.safetensors"])
def test_nothing_is_linked_twice_or_guessed_for_a_single_file(weights: str) -> None:
    """A single unindexed safetensors file is not named by content: it could be any name."""
    assert name_of(make_safetensors({"w": ("F32", [2])})) is None


def test_a_shard_is_named_through_an_index_behind_a_broken_link(fresh_cache: CachedRepo) -> None:
    """The index is read through the intact blob its backslash link names, so the lost shard is
    identified at once and one --fix repairs both (found by the property test on huggingface_hub 0.36)."""
    c = fresh_cache
    damage.drop_tree_listings(c)
    damage.backslash_link(c, "model.safetensors.index.json")
    damage.remove_entry(c, "model-00001-of-00002.safetensors")
    report = diagnose(c.cache_dir)
    lost = [f for f in report.findings if f.code == "entry-missing"]
    assert [f.place.path_in_repo for f in lost] == ["model-00001-of-00002.safetensors"] and lost[0].fixable
    assert not fix(c.cache_dir).after.problems
    assert not diagnose(c.cache_dir).plan.actions
    loads_exactly(c)
