"""Sharded checkpoints: repos published broken on the stand-in Hub, downloaded by the real client."""

from __future__ import annotations

import json
from pathlib import Path

import damage
from builders import CachedRepo, cache_repo, make_safetensors, sharded_model_files
from checks import codes, the_finding
from standin_hub import StandinHub

from hfcache.doctor import diagnose

INDEX = "model.safetensors.index.json"
SHARD1 = "model-00001-of-00002.safetensors"
SHARD2 = "model-00002-of-00002.safetensors"


def _publish(hub: StandinHub, tmp_path: Path, files: dict[str, bytes]) -> CachedRepo:
    repo_id = hub.unique_repo_id()
    hub.add_commit(repo_id, files)
    return cache_repo(hub, tmp_path / "hub", repo_id)


def _index(files: dict[str, bytes]) -> dict[str, object]:
    data: dict[str, object] = json.loads(files[INDEX])
    return data


def test_sound_checkpoint_has_no_shard_findings(hub: StandinHub, tmp_path: Path, hf_env: Path) -> None:
    c = _publish(hub, tmp_path, sharded_model_files())
    assert diagnose(c.cache_dir).findings == ()


def test_shard_missing_from_a_partial_download(hub: StandinHub, tmp_path: Path, hf_env: Path) -> None:
    c = _publish(hub, tmp_path, sharded_model_files())
    damage.remove_entry(c, SHARD2)
    damage.drop_blob(c, SHARD2)
    report = diagnose(c.cache_dir)
    finding = the_finding(report, "shard-missing")
    assert finding.path == str(c.snapshot / SHARD2)
    assert not finding.fixable and "hf download" in finding.text


def test_shard_the_repo_never_had(hub: StandinHub, tmp_path: Path, hf_env: Path) -> None:
    files = sharded_model_files()
    del files[SHARD2]
    c = _publish(hub, tmp_path, files)
    assert the_finding(diagnose(c.cache_dir), "shard-missing").path == str(c.snapshot / SHARD2)


def test_index_names_a_tensor_the_shard_lacks(hub: StandinHub, tmp_path: Path, hf_env: Path) -> None:
    files = sharded_model_files()
    index = _index(files)
    weight_map = index["weight_map"]
    assert isinstance(weight_map, dict)
    weight_map["lm_head.extra"] = SHARD1
    files[INDEX] = json.dumps(index).encode()
    c = _publish(hub, tmp_path, files)
    finding = the_finding(diagnose(c.cache_dir), "shard-tensor-missing")
    assert "lm_head.extra" in finding.message


def test_total_size_disagrees(hub: StandinHub, tmp_path: Path, hf_env: Path) -> None:
    files = sharded_model_files()
    index = _index(files)
    metadata = index["metadata"]
    assert isinstance(metadata, dict)
    metadata["total_size"] += 4
    files[INDEX] = json.dumps(index).encode()
    c = _publish(hub, tmp_path, files)
    assert "shard-total-size" in codes(diagnose(c.cache_dir))


def test_unreadable_header_and_truncated_data(hub: StandinHub, tmp_path: Path, hf_env: Path) -> None:
    good = make_safetensors({"w": ("F32", [64, 64])})
    files = {
        "config.json": b"{}",
        "garbage.safetensors": b"\xff" * 64,
        "cut.safetensors": good[: len(good) - 100],
        "long.safetensors": good + b"appended",  # the loader refuses it: not fully covered
    }
    c = _publish(hub, tmp_path, files)
    report = diagnose(c.cache_dir)
    assert the_finding(report, "shard-header-unreadable").path == str(c.snapshot / "garbage.safetensors")
    assert the_finding(report, "shard-truncated").path == str(c.snapshot / "cut.safetensors")
    assert the_finding(report, "shard-trailing-bytes").path == str(c.snapshot / "long.safetensors")


def test_index_that_is_not_json(hub: StandinHub, tmp_path: Path, hf_env: Path) -> None:
    files = sharded_model_files()
    files[INDEX] = b"{ this is not json"
    c = _publish(hub, tmp_path, files)
    assert the_finding(diagnose(c.cache_dir), "index-unreadable").path == str(c.snapshot / INDEX)


def test_pytorch_index_in_a_subfolder(hub: StandinHub, tmp_path: Path, hf_env: Path) -> None:
    """Diffusers-style layout: the index sits in a sub-folder and names shards beside it."""
    index = {"metadata": {"total_size": 8}, "weight_map": {"a": "pytorch_model-00001-of-00002.bin"}}
    files = {"unet/pytorch_model.bin.index.json": json.dumps(index).encode(), "unet/config.json": b"{}"}
    c = _publish(hub, tmp_path, files)
    finding = the_finding(diagnose(c.cache_dir), "shard-missing")
    assert finding.path == str(c.snapshot / "unet" / "pytorch_model-00001-of-00002.bin")
