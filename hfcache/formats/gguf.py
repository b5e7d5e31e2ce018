"""Recognise a GGUF file (llama.cpp's format) from its first 24 bytes, without parsing tensors.

The header is the magic ``GGUF``, a uint32 version, then the tensor count and the metadata
key/value count (uint32 each in version 1, uint64 from version 2 on). Files written on a
big-endian machine carry the same magic with the numbers byte-swapped. Counts are checked
against the file size (every tensor and key needs bytes of its own), so a hostile header that
claims billions of tensors in a small file is refused rather than believed.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from hfcache.formats.safetensors import HeaderError

MAGIC = b"GGUF"
KNOWN_VERSIONS = (1, 2, 3)


@dataclass(frozen=True)
class GgufInfo:
    """What the first bytes of a GGUF file say."""

    version: int
    tensor_count: int
    kv_count: int
    byte_order: str  # "little" or "big"


def parse_gguf_prefix(head: bytes, file_size: int) -> GgufInfo | HeaderError:
    """Validate the fixed header at the start of ``head`` (at least 24 bytes for versions 2 and 3)."""
    if head[:4] != MAGIC:
        return HeaderError("no GGUF magic")
    if len(head) < 8:
        return HeaderError("too short for a GGUF header")
    for order, fmt in (("little", "<"), ("big", ">")):  # noqa: B007 - both used after the loop
        (version,) = struct.unpack_from(f"{fmt}I", head, 4)
        if version in KNOWN_VERSIONS:
            break
    else:
        return HeaderError(f"GGUF version {struct.unpack_from('<I', head, 4)[0]} is not one hfcache knows")
    count_fmt = f"{fmt}II" if version == 1 else f"{fmt}QQ"
    needed = 8 + struct.calcsize(count_fmt)
    if len(head) < needed:
        return HeaderError(f"GGUF header is truncated: needs {needed} bytes, only {len(head)} present")
    tensors, kvs = struct.unpack_from(count_fmt, head, 8)
    # Each metadata entry takes at least a key length and a value type (12 bytes), each tensor
    # info at least a name length, a dimension count, a type and an offset (24 bytes).
    if needed + 12 * kvs + 24 * tensors > file_size:
        return HeaderError(
            f"GGUF header claims {tensors} tensors and {kvs} keys: more than the file can hold"
        )
    return GgufInfo(version, tensors, kvs, order)


def read_gguf_prefix(path: str | os.PathLike[str]) -> GgufInfo | HeaderError:
    """Read the first 24 bytes of the file at ``path`` and recognise them."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            return parse_gguf_prefix(f.read(24), size)
    except OSError as exc:
        return HeaderError(f"cannot read file: {exc.strerror or exc}")
