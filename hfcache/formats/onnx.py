"""Recognise an ONNX model (a protobuf ``ModelProto``) by a sanity walk of its first fields.

ONNX has no magic number. A ``ModelProto`` is a sequence of protobuf fields, and every writer
puts ``ir_version`` (field 1, a varint) first; the top-level fields that follow are small
numbers (1 to 20) of the wire types the schema uses, each of a length that fits in the file.
That is what is checked, over at most the first 64 KiB; the graph itself is never parsed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from hfcache.formats.safetensors import HeaderError

HEAD_BYTES = 64 * 1024
_VARINT, _LENGTH = 0, 2
_NAMES = {2: "producer_name", 3: "producer_version"}


@dataclass(frozen=True)
class OnnxInfo:
    """What the first fields of an ONNX file say."""

    ir_version: int
    producer_name: str | None
    producer_version: str | None


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("cut-off varint")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        shift += 7
        if not byte & 0x80:
            return value, pos


def parse_onnx_prefix(head: bytes, file_size: int) -> OnnxInfo | HeaderError:
    """Check that ``head`` (the file's first bytes) begins like a ``ModelProto``."""
    found: dict[str, str] = {}
    ir_version = 0
    try:
        key, pos = _varint(head, 0)
        if key != (1 << 3 | _VARINT):
            return HeaderError("does not start with an ONNX ir_version field")
        ir_version, pos = _varint(head, pos)
        if not 1 <= ir_version <= 100:
            return HeaderError(f"ir_version {ir_version} is not plausible")
        while pos < len(head):
            key, pos = _varint(head, pos)
            number, wire = key >> 3, key & 7
            if not 1 <= number <= 20 or wire not in (_VARINT, _LENGTH):
                return HeaderError(f"field {number} (wire type {wire}) is not one of a ModelProto")
            if wire == _VARINT:
                _, pos = _varint(head, pos)
                continue
            length, pos = _varint(head, pos)
            if pos + length > file_size:
                return HeaderError(f"field {number} is longer than the file")
            if number in _NAMES and pos + length <= len(head):
                found[_NAMES[number]] = head[pos : pos + length].decode("utf-8", "replace")
            pos += length
    except ValueError as exc:
        if ir_version == 0 or len(head) >= file_size:  # only the read window may cut a field off
            return HeaderError(f"not a protobuf message: {exc}")
    return OnnxInfo(ir_version, found.get("producer_name"), found.get("producer_version"))


def read_onnx_prefix(path: str | os.PathLike[str]) -> OnnxInfo | HeaderError:
    """Read the first :data:`HEAD_BYTES` of the file at ``path`` and recognise them."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            return parse_onnx_prefix(f.read(HEAD_BYTES), size)
    except OSError as exc:
        return HeaderError(f"cannot read file: {exc.strerror or exc}")
