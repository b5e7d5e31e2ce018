"""ModelPack artifacts hfcache did not make: modctl's raw layers (spec v0.0.7+), the older
``vnd.cnai`` naming with tar layers (spec v0.0.3-v0.0.6, as modctl's own tests lay them out),
and a KitOps-style gzip tar of a folder. They carry no Hub identity: the repo is named with
--repo-id, blob ids are computed, and the result loads offline with huggingface_hub."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from builders import make_safetensors
from huggingface_hub import hf_hub_download
from ocitools import tar_of, write_layout
from test_cli import hfcache

from hfcache.fs.hashing import git_blob_sha1

CNCF = "application/vnd.cncf.model."
CNAI = "application/vnd.cnai.model."
WEIGHTS = make_safetensors({"w": ("F32", [512, 512])})  # 1 MiB
CONFIG = b'{"model_type": "qwen2", "torch_dtype": "bfloat16"}'
README = b"# A model\n"


def _loads(cache: Path, repo_id: str, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = hf_hub_download(repo_id, name, cache_dir=cache, local_files_only=True)
        assert Path(path).read_bytes() == data, name


def _blob_names(cache: Path, repo_id: str) -> set[str]:
    folder = cache / ("models--" + repo_id.replace("/", "--")) / "blobs"
    return {p.name for p in folder.iterdir()}


def test_modctl_raw_layers_install_with_repo_id(tmp_path: Path) -> None:
    layout = tmp_path / "modctl.oci"
    files = {"config.json": CONFIG, "model.safetensors": WEIGHTS, "README.md": README}
    layers = [
        (CNCF + "weight.config.v1.raw", CONFIG, {"org.cncf.model.filepath": "config.json"}),
        (CNCF + "weight.v1.raw", WEIGHTS, {"org.cncf.model.filepath": "model.safetensors"}),
        (CNCF + "doc.v1.raw", README, {"org.cncf.model.filepath": "README.md"}),
    ]
    config = {"descriptor": {"name": "Qwen2.5-0.5B", "createdAt": "2025-01-01T00:00:00Z"},
              "config": {"format": "safetensors"}, "modelfs": {"type": "layers", "diffIds": []}}  # fmt: skip
    write_layout(layout, layers, config, annotations={"org.cncf.modctl.modelfile": "FAMILY qwen2"})
    cache = tmp_path / "hub"
    run = hfcache("unpack", layout, "--cache-dir", cache)
    assert run.returncode == 2 and "--repo-id" in run.stderr and not cache.exists()
    run = hfcache("unpack", layout, "--cache-dir", cache, "--repo-id", "acme/qwen-mirror")
    assert run.returncode == 0, run.stderr
    _loads(cache, "acme/qwen-mirror", files)
    # blob ids as the Hub names them: sha256 for the weights (LFS), git's blob hash for the rest
    assert _blob_names(cache, "acme/qwen-mirror") == {
        hashlib.sha256(WEIGHTS).hexdigest(),
        git_blob_sha1(CONFIG),
        git_blob_sha1(README),
    }
    # the same artifact always installs as the same snapshot, and a second time writes nothing
    again = hfcache("unpack", layout, "--cache-dir", cache, "--repo-id", "acme/qwen-mirror", "--json")
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert (doc["installed"]["blobs_written"], doc["installed"]["blobs_already_present"]) == (0, 3)
    assert len(list((cache / "models--acme--qwen-mirror" / "snapshots").iterdir())) == 1


def test_legacy_cnai_tar_layers(tmp_path: Path) -> None:
    """As modctl's inspect_test lays out a spec v0.0.x artifact: vnd.cnai types, one tar per
    file named by its path, org.cnai.model.filepath, and the old ``diff_ids`` key."""
    layout = tmp_path / "legacy.oci"
    files = {"LICENSE": b"Apache-2.0\n", "foo/bar.json": b'{"a": 1}', "model.safetensors": WEIGHTS}
    layers = [
        (CNAI + "doc.v1.tar", tar_of({"LICENSE": files["LICENSE"]}), {"org.cnai.model.filepath": "LICENSE"}),
        (CNAI + "weight.config.v1.tar", tar_of({"foo/bar.json": files["foo/bar.json"]}),
         {"org.cnai.model.filepath": "foo/bar.json"}),
        (CNAI + "weight.v1.tar", tar_of({"model.safetensors": WEIGHTS}),
         {"org.cnai.model.filepath": "model.safetensors"}),
    ]  # fmt: skip
    config = {"descriptor": {"family": "qwen2", "name": "Qwen2.5-0.5B"},
              "modelfs": {"type": "layers", "diff_ids": None},
              "config": {"architecture": "transformer", "format": "tensorflow"}}  # fmt: skip
    write_layout(
        layout, layers, config, config_type=CNAI + "config.v1+json", artifact_type=CNAI + "manifest.v1+json"
    )
    cache = tmp_path / "hub"
    run = hfcache("unpack", f"oci:{layout}:main", "--cache-dir", cache, "--repo-id", "acme/legacy")
    assert run.returncode == 0, run.stderr
    _loads(cache, "acme/legacy", files)


def test_a_gzip_tar_of_a_folder_and_gitattributes(tmp_path: Path) -> None:
    """A KitOps-style layer: one gzip tar holding a folder; a .gitattributes saying which files
    are LFS decides the blob ids of the small ones."""
    layout = tmp_path / "kit.oci"
    attrs = b"*.bin filter=lfs diff=lfs merge=lfs -text\n"
    files = {"code/run.py": b"print(1)\n", "code/small.bin": b"\x00\x01", ".gitattributes": attrs}
    layers = [
        (CNCF + "code.v1.tar+gzip",
         tar_of({k: files[k] for k in ("code/run.py", "code/small.bin")}, gz=True), {}),
        (CNCF + "doc.v1.raw", attrs, {"org.cncf.model.filepath": ".gitattributes"}),
    ]  # fmt: skip
    write_layout(
        layout,
        layers,
        {"descriptor": {"name": "acme/kit"}, "config": {}, "modelfs": {"type": "layers", "diffIds": ["x"]}},
    )
    cache = tmp_path / "hub"
    run = hfcache("unpack", layout, "--cache-dir", cache)  # descriptor.name is a Hub id
    assert run.returncode == 0, run.stderr
    _loads(cache, "acme/kit", files)
    assert hashlib.sha256(b"\x00\x01").hexdigest() in _blob_names(
        cache, "acme/kit"
    )  # LFS, as .gitattributes says
    assert git_blob_sha1(b"print(1)\n") in _blob_names(cache, "acme/kit")
