"""Read an ONNX model's initializers (its weights) from the protobuf wire format, without ``onnx``.

The schema is ``onnx/onnx.proto``: ``ModelProto`` has ``ir_version`` = 1, ``producer_name`` = 2,
``producer_version`` = 3, ``graph`` = 7; ``GraphProto`` has ``initializer`` = 5 (repeated
``TensorProto``) and ``sparse_initializer`` = 15 (``SparseTensorProto``, whose ``values`` = 1
is a ``TensorProto``); ``TensorProto`` has ``dims`` = 1 (int64, packed or not), ``data_type`` =
2, ``name`` = 8, ``raw_data`` = 9, the typed ``*_data`` fields 4-7, 10, 11, ``external_data`` =
13 (``StringStringEntryProto``: ``key`` = 1, ``value`` = 2) and ``data_location`` = 14
(``EXTERNAL`` = 1). External data is ``location`` (a path relative to the model's folder; onnx
refuses absolute paths and ones that leave the folder), ``offset`` and ``length``.

Only that path through the schema is walked (model → graph → initializer → entries): nesting is
fixed, never driven by the input. Every field counts against :data:`MAX_FIELDS`, initializers
against :data:`MAX_TENSORS`, dimensions against :data:`MAX_DIMS`; tensor bytes are skipped by
offset, never read. Node attributes (``Constant`` tensors, subgraphs) are not listed.
"""

from __future__ import annotations

import math
import os
import posixpath
from dataclasses import dataclass
from typing import Any

from hfcache.formats.protowire import LENGTH, VARINT, Source, WireError, signed64
from hfcache.formats.regular import open_regular_sized
from hfcache.formats.safetensors import HeaderError

MAX_FIELDS = 2_000_000
MAX_TENSORS = 131_072
MAX_DIMS = 64
KEEP = 4096  # bytes of a name or external-data value kept

# TensorProto.DataType → (name as safetensors spells it where it has one, bits per element)
DATA_TYPES: dict[int, tuple[str, int]] = {
    1: ("F32", 32), 2: ("U8", 8), 3: ("I8", 8), 4: ("U16", 16), 5: ("I16", 16), 6: ("I32", 32),
    7: ("I64", 64), 8: ("STRING", 0), 9: ("BOOL", 8), 10: ("F16", 16), 11: ("F64", 64),
    12: ("U32", 32), 13: ("U64", 64), 14: ("C64", 64), 15: ("C128", 128), 16: ("BF16", 16),
    17: ("F8_E4M3", 8), 18: ("F8_E4M3FNUZ", 8), 19: ("F8_E5M2", 8), 20: ("F8_E5M2FNUZ", 8),
    21: ("U4", 4), 22: ("I4", 4), 23: ("F4", 4), 24: ("F8_E8M0", 8), 25: ("U2", 2), 26: ("I2", 2),
}  # fmt: skip
_TYPED = (4, 5, 6, 7, 10, 11)  # float_data, int32_data, string_data, int64_data, double_data, uint64_data


@dataclass(frozen=True)
class OnnxTensor:
    """One initializer. ``location`` names its external data file (``None``: inside the model);
    ``stored`` is how many bytes hold it there (raw_data, typed fields, or external ``length``)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int
    stored: int
    location: str | None = None
    offset: int = 0
    sparse: bool = False


@dataclass(frozen=True)
class OnnxModel:
    """What an ONNX file says; ``external`` maps each external data file to whether it is present
    and its size; ``problems`` are sentences about data missing or out of place."""

    ir_version: int
    producer_name: str | None
    producer_version: str | None
    tensors: tuple[OnnxTensor, ...]
    external: dict[str, dict[str, Any]]
    problems: tuple[str, ...]


def _tensor(src: Source, start: int, end: int, sparse: bool) -> OnnxTensor:
    dims: list[int] = []
    dtype, name, stored, location = 0, "", 0, None
    entries: dict[str, str] = {}
    external = False
    for number, wire, value, pos in src.fields(start, end):
        if number == 1 and wire == VARINT:
            dims.append(signed64(value))
        elif number == 1 and wire == LENGTH:
            dims += [signed64(v) for v in src.packed_varints(pos, pos + value, MAX_DIMS)]
        elif number == 2 and wire == VARINT:
            dtype = value
        elif number == 8 and wire == LENGTH:
            name = src.text(pos, value, KEEP)
        elif (number == 9 or number in _TYPED) and wire == LENGTH:
            stored += value
        elif number == 13 and wire == LENGTH:
            key = val = ""
            for n2, w2, v2, p2 in src.fields(pos, pos + value):
                if w2 == LENGTH and n2 in (1, 2):
                    key, val = (src.text(p2, v2, KEEP), val) if n2 == 1 else (key, src.text(p2, v2, KEEP))
            entries[key] = val
        elif number == 14 and wire == VARINT:
            external = value == 1
        if len(dims) > MAX_DIMS:
            raise WireError(f"initializer {name!r} has more than {MAX_DIMS} dimensions")
    if any(d < 0 for d in dims):
        raise WireError(f"initializer {name!r} has a negative dimension {dims}")
    kind, bits = DATA_TYPES.get(dtype, (f"type {dtype}", 0))
    nbytes = (math.prod(dims) * bits + 7) // 8 if bits else stored
    offset = 0
    if external or entries:
        location = entries.get("location", "")
        try:
            offset = int(entries.get("offset", "0"))
            stored = int(entries["length"]) if "length" in entries else nbytes
        except ValueError as e:
            raise WireError(f"initializer {name!r} has a non-numeric external offset or length") from e
    return OnnxTensor(name, kind, tuple(dims), nbytes, stored, location, offset, sparse)


def _graph(src: Source, start: int, end: int) -> list[OnnxTensor]:
    found: list[OnnxTensor] = []
    for number, wire, value, pos in src.fields(start, end):
        if wire != LENGTH or number not in (5, 15):
            continue
        if len(found) >= MAX_TENSORS:
            raise WireError(f"more than {MAX_TENSORS} initializers, more than hfcache lists")
        if number == 5:
            found.append(_tensor(src, pos, pos + value, False))
            continue
        for n2, w2, v2, p2 in src.fields(pos, pos + value):
            if n2 == 1 and w2 == LENGTH:
                found.append(_tensor(src, p2, p2 + v2, True))
    return found


def parse_onnx(src: Source, folder: str | None) -> OnnxModel | HeaderError:
    """Walk the model in ``src``; ``folder`` is where its external data files would be."""
    ir_version, tensors = 0, []
    names: dict[int, str | None] = {2: None, 3: None}
    try:
        for i, (number, wire, value, pos) in enumerate(src.fields(0, src.size)):
            if i == 0 and (number, wire) != (1, VARINT):
                return HeaderError("does not start with an ONNX ir_version field")
            if number == 1 and wire == VARINT:
                ir_version = value
            elif number in (2, 3) and wire == LENGTH:
                names[number] = src.text(pos, value, 256)
            elif number == 7 and wire == LENGTH:
                tensors += _graph(src, pos, pos + value)
            elif number > 64:
                return HeaderError(f"field {number} is not one of a ModelProto")
    except WireError as e:
        return HeaderError(f"not a protobuf model: {e}")
    if not 1 <= ir_version <= 100:
        return HeaderError(f"ir_version {ir_version} is not plausible")
    external, problems = _externals(tensors, folder)
    return OnnxModel(ir_version, names[2], names[3], tuple(tensors), external, tuple(problems))


def _externals(tensors: list[OnnxTensor], folder: str | None) -> tuple[dict[str, dict[str, Any]], list[str]]:
    files: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for t in tensors:
        if t.location is None:
            if t.stored and t.dtype != "STRING" and t.stored < t.nbytes:
                problems.append(f"{t.name} holds {t.stored} bytes inline, its shape needs {t.nbytes}")
            continue
        where = posixpath.normpath(t.location.replace("\\", "/"))
        if not t.location or posixpath.isabs(where) or where == ".." or where.startswith("../"):
            problems.append(f"{t.name}: external data location {t.location!r} leaves the model's folder")
            continue
        if where not in files:
            size = _size(os.path.join(folder, where)) if folder is not None else None
            files[where] = {"present": size is not None, "size": size, "tensors": 0, "bytes": 0}
        entry = files[where]
        entry["tensors"] += 1
        entry["bytes"] += t.stored
        if entry["size"] is not None and t.offset + t.stored > entry["size"]:
            problems.append(
                f"{t.name}: bytes {t.offset}-{t.offset + t.stored} of {where}, which has {entry['size']}"
            )
        if t.stored != t.nbytes and t.dtype != "STRING":
            problems.append(f"{t.name}: external length {t.stored}, its shape needs {t.nbytes}")
    problems += [f"external data file {n} is not there" for n, e in files.items() if not e["present"]]
    return files, problems


def _size(path: str) -> int | None:
    try:
        f, size = open_regular_sized(path)
        f.close()
        return size
    except OSError:
        return None


def read_onnx(path: str | os.PathLike[str], folder: str | None = None) -> OnnxModel | HeaderError:
    """Read the ONNX file at ``path`` (a regular file, opened non-blocking)."""
    try:
        f, size = open_regular_sized(path)
        with f:
            return parse_onnx(Source(f, size, max_fields=MAX_FIELDS), folder)
    except OSError as exc:
        return HeaderError(f"cannot read file: {exc.strerror or exc}")
