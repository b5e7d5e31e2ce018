"""Read an OCI manifest of a model, as untrusted input: every field checked before it is used.

A manifest comes from a folder someone carried in or from a registry; it decides which paths
are written and which bytes are trusted. So it is bounded in size, every layer must be a
ModelPack media type hfcache can unpack, every digest and size well-formed, every path stay
inside the repo (one rule: :func:`hfcache.repoid.path_in_repo_problem`), no path appear twice,
and hfcache's own annotations, where present, must agree with the layers they describe.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from hfcache.errors import ArtifactError
from hfcache.oci import artifact as hf
from hfcache.oci import mediatypes as mt
from hfcache.repoid import (
    REPO_TYPES,
    RepoName,
    is_commit,
    path_in_repo_problem,
    repo_id_problem,
    revision_problem,
)

MAX_MANIFEST_BYTES = 8 << 20
"""Far above any real model (2,048 files of modctl's limit take about 1 MiB), far below harm."""
MAX_CONFIG_BYTES = 4 << 20
MAX_LAYER_BYTES = 1 << 44
_HEX64 = re.compile(r"[0-9a-f]{64}")
_ETAG = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@dataclass(frozen=True)
class ArtifactLayer:
    """One layer: its content digest (hex), size, kind, packing, and what it says of its file."""

    digest: str
    size: int
    kind: mt.Kind
    packing: mt.Packing
    path: str | None
    etag: str | None = None
    lfs: bool | None = None
    xet_hash: str | None = None


@dataclass(frozen=True)
class ModelArtifact:
    """A checked ModelPack manifest. ``repo``/``commit``/``refs`` come from hfcache's annotations
    (``None``/empty for an artifact another tool made)."""

    digest: str
    config_digest: str
    config_size: int
    layers: tuple[ArtifactLayer, ...]
    repo: RepoName | None
    commit: str | None
    refs: tuple[str, ...]
    legacy: bool


def _bad(where: str, why: str) -> ArtifactError:
    return ArtifactError(f"{where}: {why}; nothing was installed")


def _digest(value: Any, where: str, what: str) -> str:
    if not isinstance(value, str) or not value.startswith("sha256:") or not _HEX64.fullmatch(value[7:]):
        raise _bad(where, f"{what} has no sha256 digest hfcache can check ({str(value)[:80]!r})")
    return value[7:]


def _size(value: Any, where: str, what: str, limit: int = MAX_LAYER_BYTES) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
        raise _bad(where, f"{what} has an impossible size ({str(value)[:40]!r})")
    return value


def _annotations(value: Any, where: str, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _bad(where, f"the annotations of {what} are not a map of strings")
    return value


def parse_json(data: bytes, where: str, what: str, limit: int) -> dict[str, Any]:
    """A JSON object of at most ``limit`` bytes, or :class:`ArtifactError`."""
    if len(data) > limit:
        raise _bad(where, f"the {what} is {len(data)} bytes, more than the {limit} hfcache reads")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise _bad(where, f"the {what} is not JSON ({e})") from None
    if not isinstance(obj, dict):
        raise _bad(where, f"the {what} is not a JSON object")
    return obj


def _layer(raw: Any, i: int, where: str) -> ArtifactLayer:
    if not isinstance(raw, dict):
        raise _bad(where, f"layer {i} is not an object")
    media = raw.get("mediaType")
    kind = mt.parse_layer_type(media) if isinstance(media, str) else None
    if kind is None:
        raise _bad(where, f"layer {i} has media type {str(media)[:120]!r}, not a ModelPack model layer")
    if kind.packing is mt.Packing.TAR_ZSTD:
        raise _bad(where, f"layer {i} is a zstd-compressed tar ({media}), which hfcache does not unpack")
    notes = _annotations(raw.get("annotations"), where, f"layer {i}")
    path = notes.get(mt.FILEPATH) or notes.get(mt.LEGACY_FILEPATH) or notes.get(mt.TITLE)
    if path is not None and (why := path_in_repo_problem(path)) is not None:
        raise _bad(where, f"layer {i} names the path {path[:200]!r}, which {why}")
    if path is None and kind.packing is mt.Packing.RAW:
        raise _bad(where, f"layer {i} is a single file that names no path ({mt.FILEPATH})")
    digest, size = (
        _digest(raw.get("digest"), where, f"layer {i}"),
        _size(raw.get("size"), where, f"layer {i}"),
    )
    etag, lfs = notes.get(hf.ETAG), notes.get(hf.LFS)
    if etag is not None and (not _ETAG.fullmatch(etag) or (len(etag) == 64 and etag != digest)):
        raise _bad(where, f"layer {i} ({path}) has an etag that cannot be its blob id ({etag[:80]!r})")
    if lfs not in (None, "true", "false") or (
        etag is not None and lfs is not None and (lfs == "true") != (len(etag) == 64)
    ):
        raise _bad(where, f"layer {i} ({path}) says it is LFS ({lfs!r}) against its etag")
    xet = notes.get(hf.XET_HASH)
    if xet is not None and not _HEX64.fullmatch(xet):
        raise _bad(where, f"layer {i} ({path}) has a malformed Xet hash")
    is_lfs = None if etag is None and lfs is None else (len(etag) == 64 if etag else lfs == "true")
    return ArtifactLayer(digest, size, kind.kind, kind.packing, path, etag, is_lfs, xet)


def _identity(notes: dict[str, str], where: str) -> tuple[RepoName | None, str | None, tuple[str, ...]]:
    """Repo, commit and refs from hfcache's annotations, each checked; absent ones are ``None``."""
    repo_id, repo_type = notes.get(hf.REPO_ID), notes.get(hf.REPO_TYPE, "model")
    repo = None
    if repo_id is not None:
        if (why := repo_id_problem(repo_id)) is not None or repo_type not in REPO_TYPES:
            raise _bad(
                where, f"it names the repo {repo_id[:120]!r} ({repo_type[:20]!r}), which cannot be one: {why}"
            )
        repo = RepoName(repo_type, repo_id)
    commit = notes.get(mt.REVISION) if repo is not None else None
    if commit is not None and not is_commit(commit):
        commit = None  # another tool's notion of a revision; hfcache names the commit itself
    refs: tuple[str, ...] = ()
    if repo is not None and hf.REFS in notes:
        try:
            listed = json.loads(notes[hf.REFS])
        except ValueError:
            listed = None
        if not isinstance(listed, list) or not all(
            isinstance(r, str) and revision_problem(r) is None for r in listed
        ):
            raise _bad(where, f"its refs annotation is not a list of ref names ({notes[hf.REFS][:120]!r})")
        refs = tuple(listed)
    return repo, commit, refs


def read_manifest(data: bytes, where: str) -> ModelArtifact:
    """Check the manifest ``data`` (from ``where``, for messages) and describe what it holds."""
    obj = parse_json(data, where, "manifest", MAX_MANIFEST_BYTES)
    media = obj.get("mediaType")
    if media == mt.OCI_INDEX:
        raise _bad(where, "this is an image index, not one manifest: name one of its manifests")
    if obj.get("schemaVersion") != 2 or media not in (None, mt.OCI_MANIFEST):
        raise _bad(where, f"not an OCI image manifest (mediaType {str(media)[:80]!r})")
    config = obj.get("config")
    if not isinstance(config, dict) or config.get("mediaType") not in mt.MODEL_CONFIGS:
        shown = config.get("mediaType") if isinstance(config, dict) else None
        raise _bad(where, f"not a ModelPack model (its config is {str(shown)[:120]!r})")
    layers_raw = obj.get("layers")
    if not isinstance(layers_raw, list) or not layers_raw:
        raise _bad(where, "it lists no layers")
    layers = tuple(_layer(raw, i, where) for i, raw in enumerate(layers_raw))
    seen: set[str] = set()
    for layer in layers:
        if layer.path is not None and layer.packing is mt.Packing.RAW:
            if layer.path in seen:
                raise _bad(where, f"two layers are the file {layer.path!r}")
            seen.add(layer.path)
    repo, commit, refs = _identity(_annotations(obj.get("annotations"), where, "the manifest"), where)
    legacy = config["mediaType"] == mt.LEGACY_MODEL_CONFIG
    return ModelArtifact(
        hf.digest_of(data),
        _digest(config.get("digest"), where, "the config"),
        _size(config.get("size"), where, "the config", MAX_CONFIG_BYTES),
        layers,
        repo,
        commit,
        refs,
        legacy,
    )
