"""``hfcache fit`` as a user meets it: the JSON shape, exit codes, one-line errors, a repo id in a
real cache (downloaded from the stand-in hub), and the printed line against the kwargs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from builders import cache_repo, isolate_hf_env
from checkpoints import save_bert, save_llama
from standin_hub import StandinHub
from test_cli import hfcache
from test_fit import sparse_llama

PLAN = {
    "schema_version", "target", "checkpoint", "no_plan", "model", "auto_class", "fits", "verdict", "reasons",
    "dtype", "dtype_source",
    "context", "batch", "weights_bytes", "weights", "kv_cache_bytes", "kv_cache", "activations_bytes",
    "largest_layer_bytes", "quantization", "device_map", "max_memory", "offload_folder", "per_device",
    "unplaced_bytes", "kwargs", "call", "vllm", "hardware",
}  # fmt: skip
DEVICE = {"device", "name", "budget", "weights", "kv_cache", "activations", "reserved", "total", "modules"}
HARDWARE = {"gpus", "ram_available", "disk_free", "source", "offload_folder", "notes", "given", "accelerate"}


def _json(*args: str | Path, code: int) -> dict[str, Any]:
    run = hfcache("fit", *args, "--json")
    assert run.returncode == code, run.stdout + run.stderr
    doc = json.loads(run.stdout)
    assert doc["schema_version"] == 1
    return dict(doc)


def test_json_shape_and_exit_codes(tmp_path: Path) -> None:
    save_llama(tmp_path / "m", tied=True)
    doc = _json(tmp_path / "m", "--gpu", "8GiB", "--ram", "16G", "--disk", "1G", code=0)
    assert doc.keys() == PLAN and doc["hardware"].keys() == HARDWARE
    assert doc["checkpoint"] == {
        "kind": "folder", "path": str(tmp_path / "m"), "repo_id": None, "repo_type": None, "revision": None,
        "commit": None, "cache_dir": None,
    }  # fmt: skip
    assert doc["no_plan"] is None
    assert doc["per_device"][0].keys() == DEVICE
    assert (doc["verdict"], doc["fits"], doc["device_map"]) == ("fits-gpu", True, {"": 0})
    assert doc["kwargs"] == {"dtype": "bfloat16", "device_map": {"": 0}}
    assert (
        doc["call"]
        == f'AutoModelForCausalLM.from_pretrained("{tmp_path / "m"}", dtype="bfloat16", device_map={{"": 0}})'
    )
    flags = doc["vllm"]["flags"]
    assert (
        flags["max-model-len"] == 64 and flags["tensor-parallel-size"] == 1 and flags["dtype"] == "bfloat16"
    )
    assert 0 < float(flags["gpu-memory-utilization"]) <= 0.95
    assert doc["hardware"]["gpus"][0]["total"] == 8 << 30 and doc["hardware"]["source"]["gpus"] == "--gpu"
    assert doc["hardware"]["gpus"][0]["given"] == "8 GiB"
    assert doc["hardware"]["given"] == {"ram": "16 GiB", "disk": "1 GiB"}
    assert doc["hardware"]["accelerate"] is None  # another machine's Python cannot be seen: advice
    said = "if it is missing, install accelerate on the machine that loads it: pip install accelerate"
    assert doc["reasons"][1].endswith(said)


def test_offload_plan_json_and_exit_1_when_nothing_fits(tmp_path: Path) -> None:
    sparse_llama(tmp_path / "m")
    doc = _json(tmp_path / "m", "--gpu", "700MiB", "--ram", "64GiB", "--context", "1024", code=0)
    assert doc["verdict"] == "fits-gpu-cpu-offload" and doc["device_map"] == "auto"
    assert set(doc["max_memory"]) == {"0", "cpu"} and doc["kwargs"]["max_memory"] == doc["max_memory"]
    assert 'max_memory={0: "' in doc["call"]  # the Python line has the int key
    tiny_gpu = _json(tmp_path / "m", "--gpu", "600MiB", "--ram", "64GiB", "--context", "1024", code=0)
    assert tiny_gpu["verdict"] == "fits-cpu" and "GPU 0 (600 MiB given)" in tiny_gpu["reasons"][1]
    small = _json(tmp_path / "m", "--no-gpu", "--ram", "100MiB", "--disk", "100MiB", code=1)
    assert small["verdict"] == "does-not-fit" and small["fits"] is False
    human = hfcache("fit", tmp_path / "m", "--no-gpu", "--ram", "100MiB", "--disk", "100MiB")
    assert human.returncode == 1 and "does-not-fit" in human.stdout


def test_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    save_bert(tmp_path / "bert")
    for args in (
        [tmp_path / "nope"],
        [tmp_path / "bert", "--gpu", "lots"],
        [tmp_path / "bert", "--dtype", "int3"],
        [tmp_path / "bert", "--context", "0"],
        [tmp_path / "bert", "--gpu", "8G", "--no-gpu"],
    ):
        run = hfcache("fit", *args)
        assert run.returncode == 2, (args, run.stderr)
        assert run.stderr.count("\n") == 1 and run.stderr.startswith("hfcache: error:"), run.stderr
        assert "Traceback" not in run.stderr
        doc = json.loads(hfcache("fit", *args, "--json").stdout)
        assert doc["error"]["code"] == "bad-input"
    bert = _json(tmp_path / "bert", "--no-gpu", "--ram", "8G", code=0)
    assert bert["auto_class"] == "AutoModel" and bert["kv_cache_bytes"] == 0 and bert["vllm"] is None


def test_human_report(tmp_path: Path) -> None:
    save_llama(tmp_path / "m", tied=False)
    run = hfcache("fit", tmp_path / "m", "--gpu", "24GiB", "--ram", "64GiB", "--disk", "1T")
    assert run.returncode == 0, run.stderr
    for text in ("GPUs (--gpu)", "KV cache: 2 layers * 2 * kv_heads 2 * head_dim 8", "Verdict: fits-gpu",
                 "AutoModelForCausalLM.from_pretrained(", "vllm serve "):  # fmt: skip
        assert text in run.stdout, run.stdout


def test_repo_id_from_a_cache(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, hub: StandinHub
) -> None:
    save_llama(tmp_path / "model", tied=False)
    files = {p.name: p.read_bytes() for p in (tmp_path / "model").iterdir()}
    repo_id = hub.unique_repo_id("standin/tiny-llama-fit")
    hub.add_commit(repo_id, files)
    cache_dir = tmp_path / "hub"
    isolate_hf_env(monkeypatch, tmp_path_factory.mktemp("hf_home"), hub_cache=cache_dir, endpoint=hub.url)
    cached = cache_repo(hub, cache_dir, repo_id)
    doc = _json(repo_id, "--no-gpu", "--ram", "8G", code=0)
    local = _json(tmp_path / "model", "--no-gpu", "--ram", "8G", code=0)
    assert doc["model"] == repo_id and doc["kwargs"] == {"dtype": "bfloat16"}
    assert (doc["checkpoint"]["repo_id"], doc["checkpoint"]["commit"]) == (repo_id, cached.commit)
    assert doc["weights_bytes"] == local["weights_bytes"]
    assert doc["hardware"]["offload_folder"] == str(cache_dir.parent / "offload")
    snap = _json(cached.snapshot, "--no-gpu", "--ram", "8G", code=0)
    assert snap["kwargs"]["revision"] == cached.commit


@pytest.mark.parametrize("option", ["--gpu", "--ram", "--disk"])
def test_a_size_without_a_unit_is_refused(tmp_path: Path, option: str) -> None:
    save_bert(tmp_path / "bert")
    run = hfcache("fit", tmp_path / "bert", option, "24")
    assert run.returncode == 2 and run.stdout == ""
    assert (
        run.stderr
        == f"hfcache: error: {option} 24: give a unit, 24GiB or 24GB (a number alone would be 24 bytes)\n"
    )
    doc = json.loads(hfcache("fit", tmp_path / "bert", option, "24", "--json").stdout)
    assert doc["error"]["code"] == "bad-input" and "24GiB or 24GB" in doc["error"]["message"]


def test_sizes_are_shown_as_given(tmp_path: Path) -> None:
    save_llama(tmp_path / "m", tied=False)
    run = hfcache("fit", tmp_path / "m", "--gpu", "24GiB", "--gpu", "80GB", "--ram", "64G", "--disk", "1.5TB")
    assert run.returncode == 0, run.stderr
    for text in (
        "GPUs (--gpu): 0: 24 GiB free, 1: 80 GB free",
        "RAM available (--ram): 64 GiB",  # G is 1024^3 bytes, as for pack --split-size
        "Disk free (--disk): 1.5 TB at",
        "GPU 0 (24 GiB given): ",
    ):
        assert text in run.stdout, run.stdout
    doc = _json(tmp_path / "m", "--gpu", "80G", "--gpu", "80GB", "--ram", "64GB", "--disk", "1TiB", code=0)
    hw = doc["hardware"]
    assert [(g["total"], g["given"]) for g in hw["gpus"]] == [(80 << 30, "80 GiB"), (80 * 10**9, "80 GB")]
    assert (hw["ram_available"], hw["disk_free"]) == (64 * 10**9, 1 << 40)
    assert hw["given"] == {"ram": "64 GB", "disk": "1 TiB"}
