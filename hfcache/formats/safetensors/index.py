"""Read a sharded checkpoint's index file: which shard holds each tensor, and the total size.

``model.safetensors.index.json`` and ``pytorch_model.bin.index.json`` are plain JSON that
transformers reads with Python's ``json``; only their size is bounded here, and NaN-like
constants refused. Shard names come back as written: callers check them before use.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from hfcache.formats.safetensors.fileio import describe, open_file, read_exact
from hfcache.formats.safetensors.loader import HeaderError, Invalid
from hfcache.formats.safetensors.serdejson import reject_constant

INDEX_MAX_BYTES = 64 * 1024 * 1024
"""Largest ``*.index.json`` :func:`read_index` will read (real ones are well under 10 MiB)."""


@dataclass(frozen=True)
class CheckpointIndex:
    """A sharded checkpoint index: tensor name -> shard file name, and the declared total."""

    weight_map: dict[str, str]
    total_size: int | None


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def parse_index(data: bytes) -> CheckpointIndex | HeaderError:
    """Parse a ``model.safetensors.index.json`` / ``pytorch_model.bin.index.json`` body.

    Shard names are returned exactly as written; callers must check that they are plain
    file names before joining them to a path.  An absent or non-integer
    ``metadata.total_size`` gives ``None`` rather than an error.
    """
    try:
        obj = json.loads(bytes(data).decode("utf-8-sig"), parse_constant=reject_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        return HeaderError(f"index is not valid JSON: {exc}")
    if not isinstance(obj, dict):
        return HeaderError("index is not a JSON object")
    weight_map = obj.get("weight_map")
    if not isinstance(weight_map, dict):
        return HeaderError("index has no weight_map object")
    if not all(isinstance(v, str) for v in weight_map.values()):
        return HeaderError("index weight_map values must be file names (strings)")
    metadata = obj.get("metadata")
    total = metadata.get("total_size") if isinstance(metadata, dict) else None
    if isinstance(total, float) and total.is_integer():
        total = int(total)
    return CheckpointIndex(dict(weight_map), total if _is_count(total) else None)


def read_index(
    path: str | os.PathLike[str], *, follow_symlinks: bool = False
) -> CheckpointIndex | HeaderError:
    """Read a checkpoint index file (at most :data:`INDEX_MAX_BYTES`) and parse it."""
    try:
        fd = open_file(path, follow_symlinks)
        try:
            if os.fstat(fd).st_size > INDEX_MAX_BYTES:
                return HeaderError(f"index is larger than {INDEX_MAX_BYTES} bytes")
            return parse_index(read_exact(fd, INDEX_MAX_BYTES))
        finally:
            os.close(fd)
    except Invalid as exc:
        return HeaderError(str(exc))
    except OSError as exc:
        return HeaderError(describe(exc, follow_symlinks))
