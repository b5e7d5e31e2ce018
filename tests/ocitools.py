"""OCI helpers for tests: layouts read back, and the ModelPack config rules as a JSON schema.

``MODEL_CONFIG_SCHEMA`` restates the rules of modelpack/model-spec's ``schema/config-schema.json``
(docs/config.md): the three required objects, no property beyond those the spec defines at any
level, ``modelfs.type`` = ``layers`` with at least one diff id, strings and string lists as typed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

_STR = {"type": "string"}
_STRS = {"type": "array", "items": _STR}
MODALITY = {"type": "string", "enum": ["text", "image", "audio", "video", "embedding", "other"]}
MODEL_CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["descriptor", "config", "modelfs"],
    "additionalProperties": False,
    "properties": {
        "descriptor": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "createdAt": {"type": "string", "format": "date-time"},
                "authors": _STRS,
                "family": _STR,
                "name": {"type": "string", "minLength": 1},
                "docURL": _STR,
                "sourceURL": _STR,
                "datasetsURL": _STRS,
                "version": _STR,
                "revision": _STR,
                "vendor": _STR,
                "licenses": _STRS,
                "title": _STR,
                "description": _STR,
            },
        },
        "config": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "architecture": _STR,
                "format": _STR,
                "paramSize": _STR,
                "precision": _STR,
                "quantization": _STR,
                "transformerConfig": {"type": "object"},
                "capabilities": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "inputTypes": {"type": "array", "items": MODALITY},
                        "outputTypes": {"type": "array", "items": MODALITY},
                        "knowledgeCutoff": {"type": "string", "format": "date-time"},
                        "reasoning": {"type": "boolean"},
                        "toolUsage": {"type": "boolean"},
                        "reward": {"type": "boolean"},
                        "languages": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]{2}$"}},
                    },
                },
            },
        },
        "modelfs": {
            "type": "object",
            "additionalProperties": False,
            "required": ["type", "diffIds"],
            "properties": {
                "type": {"type": "string", "enum": ["layers"]},
                "diffIds": {"type": "array", "items": _STR, "minItems": 1},
            },
        },
    },
}


def blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()


def index(layout: Path) -> dict[str, Any]:
    return json.loads((layout / "index.json").read_text())


def tagged(layout: Path, ref_name: str) -> dict[str, Any]:
    """The manifest the layout's index names ``ref_name``."""
    for d in index(layout)["manifests"]:
        if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref_name:
            return json.loads(blob(layout, d["digest"]))
    raise AssertionError(f"no manifest tagged {ref_name} in {layout}")


def copy_layout(src: Path, dest: Path) -> Path:
    """A copy with its own bytes (a packed layout hard-links the cache's blobs: never edit those)."""
    shutil.copytree(src, dest, copy_function=shutil.copy2)
    return dest


def rewrite_manifest(layout: Path, edit: Any, tag: str = "main") -> str:
    """Apply ``edit(manifest) -> manifest`` to the manifest tagged ``tag``, store it by its new
    digest and point every index entry at it; returns the new digest."""
    import hashlib

    manifest = edit(tagged(layout, tag))
    data = json.dumps(manifest).encode() if not isinstance(manifest, bytes) else manifest
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest[7:]).write_bytes(data)
    idx = index(layout)
    for d in idx["manifests"]:
        d["digest"], d["size"] = digest, len(data)
    (layout / "index.json").write_text(json.dumps(idx))
    return digest


def put_blob(layout: Path, data: bytes) -> str:
    import hashlib

    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest[7:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def write_layout(
    layout: Path,
    layers: list[tuple[str, bytes, dict[str, str]]],
    config: dict[str, Any],
    *,
    config_type: str = "application/vnd.cncf.model.config.v1+json",
    artifact_type: str | None = "application/vnd.cncf.model.manifest.v1+json",
    annotations: dict[str, str] | None = None,
    tag: str = "main",
) -> str:
    """An OCI layout holding one manifest of ``layers`` ((media type, bytes, annotations)) as other
    tools write them; returns the manifest digest."""
    descriptors = []
    for media, data, notes in layers:
        d: dict[str, Any] = {"mediaType": media, "digest": put_blob(layout, data), "size": len(data)}
        if notes:
            d["annotations"] = notes
        descriptors.append(d)
    cfg = json.dumps(config).encode()
    manifest: dict[str, Any] = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}
    if artifact_type:
        manifest["artifactType"] = artifact_type
    manifest["config"] = {"mediaType": config_type, "digest": put_blob(layout, cfg), "size": len(cfg)}
    manifest["layers"] = descriptors
    if annotations:
        manifest["annotations"] = annotations
    data = json.dumps(manifest).encode()
    digest = put_blob(layout, data)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    entry = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": len(data),
             "annotations": {"org.opencontainers.image.ref.name": tag}}  # fmt: skip
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    return digest


def tar_of(files: dict[str, bytes], *, gz: bool = False, extra: list[Any] | None = None) -> bytes:
    """A tar (gzip-compressed with ``gz``) of ``files`` as modctl's tar codec writes one: each
    member named by its path in the model; ``extra`` TarInfo members are added as they are."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode = len(data), 0o644
            tf.addfile(ti, io.BytesIO(data))
        for ti in extra or []:
            tf.addfile(ti)
    return buf.getvalue()
