"""``hfcache inspect`` as a user meets it: JSON shape, exit codes, one-line errors, repo ids
resolved in a real cache downloaded from the stand-in hub, a GGUF file recognised."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from builders import CachedRepo, cache_repo, isolate_hf_env
from checkpoints import hostile_pickle, needs_torch, save_llama
from ggufgen import build, kv_str, kv_u32
from standin_hub import StandinHub
from test_cli import hfcache
from test_contract import FINDING

DOCUMENT = {
    "schema_version", "target", "kind", "path", "repo_id", "repo_type", "revision", "commit", "cache_dir",
    "formats", "totals", "dtypes", "files", "ignored", "indexes", "tied", "architecture", "quantization",
    "summary", "findings", "tensors", "written",
}  # fmt: skip
TOTALS = {"files", "tensors", "parameters", "bytes", "shared_bytes"}
FILE = {
    "name",
    "path",
    "format",
    "size",
    "tensors",
    "parameters",
    "bytes",
    "problem",
    "unsafe_imports",
    "details",
}
TENSOR = {"name", "dtype", "shape", "parameters", "bytes", "file"}


def _json(*args: str | Path, code: int) -> dict[str, Any]:
    run = hfcache("inspect", *args, "--json")
    assert run.returncode == code, run.stdout + run.stderr
    doc = json.loads(run.stdout)
    assert doc["schema_version"] == 1
    return dict(doc)


def test_json_shape_and_exit_0(tmp_path: Path) -> None:
    save_llama(tmp_path, tied=False, shard="20KB")
    doc = _json(tmp_path, code=0)
    assert doc.keys() == DOCUMENT and doc["totals"].keys() == TOTALS
    assert all(f.keys() == FILE for f in doc["files"]) and all(t.keys() == TENSOR for t in doc["tensors"])
    assert doc["kind"] == "folder" and doc["summary"] == {"errors": 0, "warnings": 0, "infos": 0}
    assert doc["indexes"][0].keys() == {"name", "shards", "tensors", "total_size", "data_bytes"}
    assert set(doc["dtypes"]["BF16"]) == {"tensors", "parameters", "bytes"}
    human = hfcache("inspect", tmp_path)
    assert human.returncode == 0 and "No problems found." in human.stdout and "BF16" in human.stdout
    assert "model.embed_tokens.weight" not in human.stdout
    assert "model.embed_tokens.weight" in hfcache("inspect", tmp_path, "-v").stdout


def test_findings_exit_1_in_the_doctor_shape(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    hostile_pickle(tmp_path / "pytorch_model.bin", marker)
    doc = _json(tmp_path / "pytorch_model.bin", code=1)
    (found,) = doc["findings"]
    assert found.keys() == FINDING and found["code"] == "pickle-unsafe-import"
    assert doc["summary"]["errors"] == 1
    human = hfcache("inspect", tmp_path)
    assert (
        human.returncode == 1 and "pickle-unsafe-import" in human.stdout and "Traceback" not in human.stderr
    )
    assert not marker.exists()


def test_strip_prefix_from_the_command_line(tmp_path: Path) -> None:
    torch = needs_torch()
    model = save_llama(tmp_path / "orig", tied=True)
    (tmp_path / "dp").mkdir()
    torch.save(torch.nn.DataParallel(model).state_dict(), tmp_path / "dp" / "pytorch_model.bin")
    (tmp_path / "dp" / "config.json").write_bytes((tmp_path / "orig" / "config.json").read_bytes())
    human = hfcache("inspect", tmp_path / "dp")
    assert (
        human.returncode == 1 and "keys-prefixed" in human.stdout and "--strip-prefix module." in human.stdout
    )
    out = tmp_path / "fixed"
    doc = _json(tmp_path / "dp", "--strip-prefix", "module.", "--write-to", out, code=0)
    assert doc["written"]["path"] == str(out) and doc["written"]["files"] == ["model.safetensors"]
    assert _json(out, code=0)["findings"] == []
    again = _json(tmp_path / "dp", "--strip-prefix", "module.", "--write-to", out, code=2)
    assert again["error"]["code"] == "bad-input"  # never overwrites


@pytest.mark.parametrize(
    "args",
    [
        ("/no/such/thing",),
        ("no-slash-and-no-path",),
        ("org/missing", "--cache-dir", "/no/such/cache"),
        (".", "--strip-prefix", "module."),
        (".", "--revision", "main"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: tuple[str, ...]) -> None:
    run = hfcache("inspect", *args)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("hfcache: error:")
    assert _json(*args, code=2)["error"]["code"] == "bad-input"


def test_gguf_file(tmp_path: Path) -> None:
    path = tmp_path / "tiny-Q4_K_M.gguf"
    kvs = [kv_str("general.architecture", "llama"), kv_u32("llama.context_length", 4096), kv_u32("a.b", 1)]
    path.write_bytes(build(kvs, [(f"blk.{i}.w", 12, (256, 2)) for i in range(5)]))
    doc = _json(path, code=0)
    (f,) = doc["files"]
    assert (f["format"], f["size"], f["details"]["version"], f["details"]["tensor_count"]) == (
        "gguf",
        path.stat().st_size,
        3,
        5,
    )
    assert "gguf" in hfcache("inspect", path).stdout


def test_repo_id_from_a_cache(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, hub: StandinHub
) -> None:
    save_llama(tmp_path / "model", tied=False, shard="20KB")
    files = {p.name: p.read_bytes() for p in (tmp_path / "model").iterdir()}
    repo_id = hub.unique_repo_id("standin/tiny-llama")
    hub.add_commit(repo_id, files)
    cache_dir = tmp_path / "hub"
    isolate_hf_env(monkeypatch, tmp_path_factory.mktemp("hf_home"), hub_cache=cache_dir, endpoint=hub.url)
    cached = cache_repo(hub, cache_dir, repo_id)
    doc = _json(repo_id, "--cache-dir", cache_dir, code=0)
    assert (doc["kind"], doc["repo_id"], doc["commit"], doc["revision"]) == (
        "repo",
        repo_id,
        cached.commit,
        "main",
    )
    local = _json(tmp_path / "model", code=0)
    assert doc["totals"] == local["totals"] and doc["dtypes"] == local["dtypes"]
    assert doc["findings"] == [] and doc["indexes"][0]["shards"] == local["indexes"][0]["shards"]
    # Without --cache-dir: the cache huggingface_hub uses (HF_HUB_CACHE); a snapshot folder; a commit.
    assert _json(repo_id, code=0)["totals"] == local["totals"]
    snap = _json(cached.snapshot, code=0)
    assert snap["kind"] == "repo" and snap["commit"] == cached.commit
    assert _json(repo_id, "--revision", cached.commit[:10], code=0)["commit"] == cached.commit
    # A shard lost from the cache is the doctor's finding, on the snapshot path.
    shard = next(n for n in files if n.startswith("model-0"))
    cached.blob(shard).unlink()  # the blob, and the link to it
    (cached.snapshot / shard).unlink()
    lost = _json(repo_id, code=1)
    (found,) = lost["findings"]
    assert found["code"] == "shard-missing" and found["repo_id"] == repo_id
    assert found["path_in_repo"] == shard and found["commit"] == cached.commit
    assert _json(repo_id, "--revision", "nope", code=2)["error"]["code"] == "bad-input"


def test_any_path_into_a_cache_is_that_repos_revision(fresh_cache: CachedRepo) -> None:
    """The paths people paste from transformers' errors: a file in a snapshot, the repo folder."""
    c = fresh_cache
    shard = hfcache("inspect", c.snapshot / "model-00001-of-00002.safetensors", "--json")
    doc = json.loads(shard.stdout)
    assert shard.returncode == 0 and doc["commit"] == c.commit and doc["totals"]["files"] == 1
    whole = json.loads(hfcache("inspect", c.snapshot / "config.json", "--json").stdout)
    assert whole["repo_id"] == c.repo_id and whole["totals"]["files"] == 2  # both shards
    planned = hfcache("fit", c.repo_folder, "--no-gpu", "--ram", "8GiB", "--json")
    assert planned.returncode == 0 and json.loads(planned.stdout)["checkpoint"]["commit"] == c.commit
