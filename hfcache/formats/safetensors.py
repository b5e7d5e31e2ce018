"""Read safetensors headers and checkpoint index files, never the tensor data.

A safetensors file is an 8-byte little-endian header length ``N``, ``N`` bytes of UTF-8
JSON, then the tensor bytes.  Reading just the header tells how long the file must be, so
a truncated multi-GB download is spotted without reading it.  The checks follow the
format's own rules (the reference loader rejects the same files).

Nothing here raises on bad content or I/O trouble: problems come back as
:class:`HeaderError` with a plain-English reason.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from hfcache._hf import SAFETENSORS_MAX_HEADER_LENGTH

DTYPE_BITS: Final[Mapping[str, int]] = {
    "F64": 64, "I64": 64, "U64": 64, "C64": 64,
    "F32": 32, "I32": 32, "U32": 32,
    "F16": 16, "BF16": 16, "I16": 16, "U16": 16,
    "I8": 8, "U8": 8, "BOOL": 8, "F8_E4M3": 8, "F8_E5M2": 8, "F8_E8M0": 8,
    "F6_E2M3": 6, "F6_E3M2": 6, "F4": 4,
}  # fmt: skip
"""Bits per element of each dtype the format defines; others skip the size check."""

INDEX_MAX_BYTES = 64 * 1024 * 1024
"""Largest ``*.index.json`` :func:`read_index` will read (real ones are well under 10 MiB)."""


@dataclass(frozen=True)
class TensorInfo:
    """One tensor's entry: ``begin``/``end`` are byte offsets relative to the data start."""

    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


@dataclass(frozen=True)
class Header:
    """A validated safetensors header."""

    tensors: dict[str, TensorInfo]
    metadata: dict[str, str]
    data_start: int  # 8 + header length

    @property
    def expected_size(self) -> int:
        """Bytes the file must have at least: the data start plus the last tensor's end."""
        return self.data_start + max((t.end for t in self.tensors.values()), default=0)

    @property
    def data_bytes(self) -> int:
        """Total bytes of tensor data the header describes."""
        return sum(t.end - t.begin for t in self.tensors.values())


@dataclass(frozen=True)
class HeaderError:
    """Why a header or index could not be used."""

    reason: str


@dataclass(frozen=True)
class CheckpointIndex:
    """A sharded checkpoint index: tensor name -> shard file name, and the declared total."""

    weight_map: dict[str, str]
    total_size: int | None


class _Invalid(Exception):
    """Internal: carries a reason up to the public function that returns HeaderError."""


def _pairs_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _bits_needed(shape: list[int], bits: int, limit: int) -> int | None:
    """``numel * bits``, or ``None`` once it passes ``limit`` (a hostile shape stays cheap)."""
    if 0 in shape:
        return 0
    total = bits
    for dim in shape:
        total *= dim
        if total > limit:
            return None
    return total


def _tensor(name: str, entry: object) -> TensorInfo:
    if not isinstance(entry, dict):
        raise _Invalid(f"tensor {name!r}: entry is not a JSON object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str):
        raise _Invalid(f"tensor {name!r}: dtype is missing or not a string")
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise _Invalid(f"tensor {name!r}: shape must be a list of non-negative integers")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(o) for o in offsets)):
        raise _Invalid(f"tensor {name!r}: data_offsets must be two non-negative integers")
    begin, end = offsets
    if end < begin:
        raise _Invalid(f"tensor {name!r}: data_offsets end {end} is before begin {begin}")
    bits = DTYPE_BITS.get(dtype)
    if bits is not None:
        total_bits = _bits_needed(shape, bits, max((end - begin) * 8, 1 << 128))
        if total_bits is not None and total_bits % 8:
            raise _Invalid(f"tensor {name!r}: {dtype} {shape} does not fill a whole number of bytes")
        if total_bits is None or end - begin != total_bits // 8:
            needs = "more" if total_bits is None else str(total_bits // 8)
            raise _Invalid(
                f"tensor {name!r}: data_offsets span {end - begin} bytes "
                f"but {dtype} with shape {shape} needs {needs}"
            )
    return TensorInfo(dtype, tuple(shape), begin, end)


def _parse_json(raw: bytes, data_start: int) -> Header:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Invalid(f"header is not valid UTF-8 (byte {exc.start})") from None
    if not text.startswith("{"):
        raise _Invalid("header does not start with '{'")
    try:
        obj = json.loads(text, object_pairs_hook=_pairs_without_duplicates, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise _Invalid(f"header is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise _Invalid("header is not a JSON object")
    metadata: dict[str, str] = {}
    tensors: dict[str, TensorInfo] = {}
    for name, entry in obj.items():
        if name != "__metadata__":
            tensors[name] = _tensor(name, entry)
        elif isinstance(entry, dict) and all(isinstance(v, str) for v in entry.values()):
            metadata = dict(entry)
        else:
            raise _Invalid("__metadata__ must map strings to strings")
    position = 0  # the data must be covered exactly, without holes or overlaps
    for name, info in sorted(tensors.items(), key=lambda item: (item[1].begin, item[1].end)):
        if info.begin != position:
            kind = "a gap before" if info.begin > position else "an overlap at"
            raise _Invalid(f"tensor {name!r}: {kind} offset {info.begin} (expected {position})")
        position = info.end
    return Header(tensors, metadata, data_start)


def _header_length(head: bytes) -> int:
    if len(head) < 8:
        raise _Invalid(f"only {len(head)} bytes: too short for a safetensors header")
    length: int = struct.unpack_from("<Q", head)[0]
    if length > SAFETENSORS_MAX_HEADER_LENGTH:
        raise _Invalid(f"header length {length} exceeds the {SAFETENSORS_MAX_HEADER_LENGTH} byte limit")
    if length < 2:
        raise _Invalid(f"header length {length} is too small for a JSON object")
    return length


def parse_header(head: bytes) -> Header | HeaderError:
    """Validate the header found at the start of ``head`` (the file's first bytes).

    ``head`` must hold at least the 8 length bytes and the whole JSON header; anything
    after is ignored, so passing the whole file works too.
    """
    try:
        length = _header_length(head)
        if len(head) < 8 + length:
            raise _Invalid(f"header is truncated: needs {length} bytes, only {len(head) - 8} present")
        return _parse_json(bytes(head[8 : 8 + length]), 8 + length)
    except _Invalid as exc:
        return HeaderError(str(exc))


def _open(path: str | os.PathLike[str], follow_symlinks: bool) -> int:
    """Open read-only, refusing a final symlink unless asked and never blocking on a FIFO."""
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_NONBLOCK", 0)
    if not follow_symlinks:
        if hasattr(os, "O_NOFOLLOW"):
            flags |= os.O_NOFOLLOW
        elif stat.S_ISLNK(os.lstat(path).st_mode):  # no O_NOFOLLOW (Windows): best effort
            raise OSError(errno.ELOOP, "is a symbolic link")
    fd = os.open(path, flags)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _Invalid("not a regular file")
    return fd


def _read_exact(fd: int, count: int) -> bytes:
    chunks: list[bytes] = []
    while count > 0:
        chunk = os.read(fd, min(count, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def _describe(exc: OSError, follow_symlinks: bool) -> str:
    if not follow_symlinks and exc.errno in (errno.ELOOP, errno.EMLINK):
        return "is a symbolic link (not followed)"
    return f"cannot read file: {exc.strerror or exc}"


def read_header(path: str | os.PathLike[str], *, follow_symlinks: bool = False) -> Header | HeaderError:
    """Read and validate the header of the safetensors file at ``path``.

    Reads 8 bytes plus the header, nothing more.  A header longer than the file is
    reported as such; comparing :attr:`Header.expected_size` with the file size (to find
    truncated tensor data) is left to the caller.
    """
    try:
        fd = _open(path, follow_symlinks)
        try:
            size = os.fstat(fd).st_size
            head = _read_exact(fd, 8)
            length = _header_length(head)
            if 8 + length > size:
                raise _Invalid(f"header length {length} points past the end of the {size} byte file")
            return parse_header(head + _read_exact(fd, length))
        finally:
            os.close(fd)
    except _Invalid as exc:
        return HeaderError(str(exc))
    except OSError as exc:
        return HeaderError(_describe(exc, follow_symlinks))


def parse_index(data: bytes) -> CheckpointIndex | HeaderError:
    """Parse a ``model.safetensors.index.json`` / ``pytorch_model.bin.index.json`` body.

    Shard names are returned exactly as written; callers must check that they are plain
    file names before joining them to a path.  An absent or non-integer
    ``metadata.total_size`` gives ``None`` rather than an error.
    """
    try:
        obj = json.loads(bytes(data).decode("utf-8-sig"), parse_constant=_reject_constant)
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
        fd = _open(path, follow_symlinks)
        try:
            if os.fstat(fd).st_size > INDEX_MAX_BYTES:
                return HeaderError(f"index is larger than {INDEX_MAX_BYTES} bytes")
            return parse_index(_read_exact(fd, INDEX_MAX_BYTES))
        finally:
            os.close(fd)
    except _Invalid as exc:
        return HeaderError(str(exc))
    except OSError as exc:
        return HeaderError(_describe(exc, follow_symlinks))
