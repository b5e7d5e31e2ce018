"""A revision as a ModelPack artifact: the config and manifest bytes, built the same way always.

One raw layer per file (its digest is the file's sha256, its size the file's), laid out as
modctl lays them (config files, weights, code, docs, datasets; each kind sorted by path). The
bytes depend only on the revision (repo, commit, refs, files), never on when or where it was
packed, so the same revision gives the same manifest digest on every machine: ``pack
--format oci`` and ``serve``'s ``/v2/`` both build it here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hfcache.bundle.manifest import FileEntry
from hfcache.oci import mediatypes as mt
from hfcache.oci.names import oci_name, revision_tags
from hfcache.repoid import URL_PREFIX, RepoName

NS = "io.hfcache"
FORMAT = f"{NS}.format"
FORMAT_VERSION = "1"
REPO_ID = f"{NS}.repo.id"
REPO_TYPE = f"{NS}.repo.type"
REFS = f"{NS}.refs"
ETAG = f"{NS}.file.etag"
LFS = f"{NS}.file.lfs"
XET_HASH = f"{NS}.file.xet-hash"

_PRECISIONS = {"float32", "float64", "float16", "bfloat16", "float8_e4m3", "float8_e5m2", "int8", "int16",
               "int32", "int64", "uint8", "bool"}  # fmt: skip
_FORMATS = ((".safetensors", "safetensors"), (".gguf", "gguf"), (".onnx", "onnx"), (".bin", "pt"),
            (".pt", "pt"), (".pth", "pt"), (".h5", "h5"), (".msgpack", "msgpack"))  # fmt: skip


def canonical(obj: Any) -> bytes:
    """JSON bytes with a fixed layout (insertion order, no spaces): what digests are taken over."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Layer:
    """One layer: its descriptor as the manifest lists it, and the file it is."""

    descriptor: dict[str, Any]
    file: FileEntry

    @property
    def digest(self) -> str:
        return str(self.descriptor["digest"])


@dataclass(frozen=True)
class Artifact:
    """A revision's ModelPack artifact: manifest and config bytes, layers, and the tags it has."""

    repo: RepoName
    commit: str
    name: str
    tags: tuple[str, ...]
    config: bytes
    layers: tuple[Layer, ...]
    manifest: bytes

    @property
    def digest(self) -> str:
        return digest_of(self.manifest)

    @property
    def config_digest(self) -> str:
        return digest_of(self.config)

    def descriptor(self, ref_name: str | None = None) -> dict[str, Any]:
        """The manifest's descriptor, as an image index lists it (tagged ``ref_name``)."""
        d: dict[str, Any] = {
            "mediaType": mt.OCI_MANIFEST,
            "digest": self.digest,
            "size": len(self.manifest),
            "artifactType": mt.MODEL_MANIFEST,
        }
        if ref_name is not None:
            d["annotations"] = {mt.REF_NAME: ref_name}
        return d


def _config_facts(config_json: Mapping[str, Any] | None, files: Sequence[FileEntry]) -> dict[str, Any]:
    """The spec's ``config`` object, from ``config.json`` where it says, and the weights' format."""
    facts: dict[str, Any] = {}
    cfg = config_json or {}
    if isinstance(cfg.get("transformers_version"), str):
        facts["architecture"] = "transformer"
    names = [f.path.lower() for f in files]
    for suffix, fmt in _FORMATS:
        if any(n.endswith(suffix) for n in names):
            facts["format"] = fmt
            break
    dtype = cfg.get("torch_dtype", cfg.get("dtype"))
    if isinstance(dtype, str) and dtype.removeprefix("torch.") in _PRECISIONS:
        facts["precision"] = dtype.removeprefix("torch.")
    quant = cfg.get("quantization_config")
    if isinstance(quant, dict) and isinstance(quant.get("quant_method"), str):
        facts["quantization"] = quant["quant_method"]
    return facts


def source_url(repo: RepoName) -> str:
    return f"https://huggingface.co/{URL_PREFIX[repo.repo_type]}{repo.repo_id}"


def _layer(f: FileEntry, repo_type: str, xet_hash: str | None) -> tuple[mt.Kind, Layer]:
    kind, guessed = mt.classify(f.path, f.size, repo_type)
    notes: dict[str, str] = {mt.FILEPATH: f.path, mt.TITLE: f.path}
    if guessed:
        notes[mt.UNTESTED] = "true"
    notes[ETAG] = f.etag
    notes[LFS] = "true" if f.etag == f.sha256 else "false"
    if xet_hash is not None:
        notes[XET_HASH] = xet_hash
    d = {
        "mediaType": mt.layer_media_type(kind),
        "digest": f"sha256:{f.sha256}",
        "size": f.size,
        "annotations": notes,
    }
    return kind, Layer(d, f)


def build(
    repo: RepoName,
    commit: str,
    refs: Sequence[str],
    files: Sequence[FileEntry],
    *,
    config_json: Mapping[str, Any] | None = None,
    xet_hashes: Mapping[str, str] | None = None,
) -> Artifact:
    """The artifact of one revision: ``files`` with their sha256 and Hub etag (an LFS file's etag
    is its sha256), ``config_json`` the revision's parsed ``config.json`` if it has one."""
    if not files:
        raise ValueError(f"{repo} @ {commit[:8]}: a ModelPack artifact needs at least one file")
    order = list(mt.Kind)
    made = [_layer(f, repo.repo_type, (xet_hashes or {}).get(f.path)) for f in files]
    made.sort(key=lambda kl: (order.index(kl[0]), kl[1].file.path))
    layers = tuple(layer for _, layer in made)
    descriptor: dict[str, Any] = {"name": repo.repo_id, "sourceURL": source_url(repo), "revision": commit}
    family = (config_json or {}).get("model_type")
    if isinstance(family, str) and family:
        descriptor["family"] = family
    config = canonical(
        {
            "descriptor": descriptor,
            "config": _config_facts(config_json, files),
            "modelfs": {"type": "layers", "diffIds": [layer.digest for layer in layers]},
        }
    )
    manifest = canonical(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "artifactType": mt.MODEL_MANIFEST,
            "config": {"mediaType": mt.MODEL_CONFIG, "digest": digest_of(config), "size": len(config)},
            "layers": [layer.descriptor for layer in layers],
            "annotations": {
                mt.SOURCE: source_url(repo),
                mt.REVISION: commit,
                FORMAT: FORMAT_VERSION,
                REPO_ID: repo.repo_id,
                REPO_TYPE: repo.repo_type,
                REFS: json.dumps(sorted(refs), separators=(",", ":")),
            },
        }
    )
    tags = tuple(revision_tags(commit, list(refs)))
    return Artifact(repo, commit, oci_name(repo), tags, config, layers, manifest)
