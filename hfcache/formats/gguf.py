"""Read a GGUF file (llama.cpp's format): metadata, every tensor, and whether the data is all there.

The rules are llama.cpp's reader, ``gguf_init_from_reader`` in ``ggml/src/gguf.cpp``: magic
``GGUF``; version 2 or 3 (0 is bad, 1 is "no longer supported", a version whose low 16 bits are
0 is the other byte order); tensor and key counts are int64 >= 0; each key is a non-empty,
unique string of at most 1 GiB (``GGUF_MAX_STRING_LENGTH``) that fits in the file, its value one
of the 13 ``gguf_type``s, an array of at most 2^30 (``GGUF_MAX_ARRAY_ELEMENTS``) elements of any
type but array; ``general.alignment``, when present, a u32 power of two (default 32). Each
tensor: a unique name shorter than 64 bytes (``GGML_MAX_NAME``), at most 4 dimensions
(``GGML_MAX_DIMS``), each >= 0, an element count that fits int64, a ggml type llama.cpp knows
(:mod:`hfcache.formats.ggml_types`), a first dimension that is a whole number of blocks, an
offset. The data section starts at the next multiple of the alignment, and tensor ``i`` must
start exactly where the padded tensors before it end (``ti.offset != ctx->size`` is refused).

What llama.cpp refuses while reading the header makes the file unreadable
(:class:`~hfcache.formats.safetensors.HeaderError`). Offsets it would refuse (misaligned,
overlapping, out of place) and data missing at the end are reported in :attr:`GgufFile.problems`
with every tensor still listed. Work is bounded: the header region read is at most
:data:`MAX_HEADER` bytes, arrays of numbers are skipped without decoding, and at most
:data:`MAX_TENSORS` tensors, :data:`MAX_KEYS` keys and :data:`MAX_STRINGS` array strings are
walked; past those hfcache says which limit of its own the file exceeds.
"""

from __future__ import annotations

import itertools
import math
import os
import struct
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO

from hfcache.formats.ggml_types import GGML_TYPES, REMOVED, GgmlType
from hfcache.formats.regular import open_regular_sized
from hfcache.formats.safetensors import HeaderError

MAGIC = b"GGUF"
MAX_HEADER = 128 * 1024 * 1024
MAX_TENSORS = 131_072
MAX_KEYS = 65_536
MAX_STRINGS = 4_000_000
MAX_KEY = 65_536
MAX_STRING = 1 << 30  # GGUF_MAX_STRING_LENGTH
MAX_ARRAY = 1 << 30  # GGUF_MAX_ARRAY_ELEMENTS
MAX_NAME = 64  # GGML_MAX_NAME
MAX_DIMS = 4  # GGML_MAX_DIMS
INT64_MAX = (1 << 63) - 1
DEFAULT_ALIGNMENT = 32
SHOWN = 256  # characters of a string value kept in the report

_STRING, _ARRAY = 8, 9
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "b", 10: "Q", 11: "q", 12: "d"}
TYPE_NAMES = {0: "u8", 1: "i8", 2: "u16", 3: "i16", 4: "u32", 5: "i32", 6: "f32", 7: "bool", 8: "str"}
TYPE_NAMES |= {9: "arr", 10: "u64", 11: "i64", 12: "f64"}


@dataclass(frozen=True)
class GgufTensor:
    """One tensor info: ``shape`` is ggml's ``ne`` (innermost dimension first), ``offset`` is from
    the start of the data section."""

    name: str
    type: GgmlType
    shape: tuple[int, ...]
    offset: int

    @property
    def elements(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.type.nbytes(self.elements)


@dataclass(frozen=True)
class GgufFile:
    """What a GGUF file holds. ``metadata`` maps each key to its value (numbers, booleans, strings
    cut to :data:`SHOWN` characters) or, for arrays, ``{"array": type, "length": n}``;
    ``problems`` are ``(kind, message)`` with kind ``"offsets"`` or ``"truncated"``."""

    version: int
    byte_order: str
    alignment: int
    data_start: int
    file_size: int
    metadata: dict[str, Any]
    string_lengths: dict[str, int]
    tensors: tuple[GgufTensor, ...]
    problems: tuple[tuple[str, str], ...] = field(default=())

    @property
    def data_size(self) -> int:
        """The data section llama.cpp expects: every tensor's bytes padded to the alignment."""
        return sum(_pad(t.nbytes, self.alignment) for t in self.tensors)


class _Bad(Exception):
    """The header does not hold together (llama.cpp refuses the file)."""


class _Cursor:
    """Sequential reads from the file's header region, fetched in growing chunks, never past
    :data:`MAX_HEADER` or the file's end."""

    def __init__(self, f: BinaryIO, size: int, order: str) -> None:
        self.f, self.size, self.order = f, size, order
        self.buf = bytearray()
        self.pos = 0

    def need(self, n: int, what: str) -> int:
        end = self.pos + n
        if end > self.size:
            raise _Bad(f"{what} runs past the end of the file ({self.size} bytes)")
        if end > MAX_HEADER:
            raise _Bad(f"{what} ends past the first {MAX_HEADER >> 20} MiB, more header than hfcache reads")
        if end > len(self.buf):
            want = min(max(end, 2 * len(self.buf), 1 << 20), self.size, MAX_HEADER) - len(self.buf)
            got = self.f.read(want)
            self.buf += got
            if len(self.buf) < end:
                raise _Bad(f"{what} runs past the end of the file (it changed while read)")
        start, self.pos = self.pos, end
        return start

    def num(self, fmt: str, what: str) -> Any:
        start = self.need(struct.calcsize(fmt), what)
        return struct.unpack_from(self.order + fmt, self.buf, start)[0]

    def string(self, what: str, keep: int = SHOWN * 4) -> tuple[str, int]:
        """(the first ``keep`` bytes decoded, the full length) of a length-prefixed string."""
        n = self.num("Q", what)
        if n > MAX_STRING:
            raise _Bad(f"{what} is {n} bytes long, more than llama.cpp's 1 GiB limit")
        start = self.need(n, what)
        return bytes(self.buf[start : start + min(n, keep)]).decode("utf-8", "replace"), n


def _pad(n: int, align: int) -> int:
    return (n + align - 1) // align * align


def _value(c: _Cursor, key: str, vtype: int, budget: list[int]) -> tuple[Any, int | None]:
    """One value: (what the report keeps, the full length of a string)."""
    if vtype == _STRING:
        text, n = c.string(f"the value of {key!r}")
        return text[:SHOWN], n
    if vtype != _ARRAY:
        if vtype not in _SCALARS:
            raise _Bad(f"key {key!r} has invalid GGUF type {vtype}")
        got = c.num(_SCALARS[vtype], f"the value of {key!r}")
        return (bool(got) if vtype == 7 else got), None
    etype, n = c.num("i", f"the array type of {key!r}"), c.num("Q", f"the array length of {key!r}")
    if etype == _ARRAY or (etype != _STRING and etype not in _SCALARS):
        raise _Bad(f"key {key!r} has invalid GGUF array type {etype}")
    if n > MAX_ARRAY:
        raise _Bad(f"array {key!r} has {n} elements, more than llama.cpp's 2^30 limit")
    if etype == _STRING:
        if n * 8 > c.size - c.pos:
            raise _Bad(f"array {key!r} of {n} strings runs past the end of the file")
        budget[0] -= n
        if budget[0] < 0:
            raise _Bad(f"more than {MAX_STRINGS} strings in arrays, more than hfcache walks")
        what, q = f"a string of {key!r}", struct.Struct(c.order + "Q")
        for _ in range(n):
            length = q.unpack_from(c.buf, c.need(8, what))[0]
            if length > MAX_STRING:
                raise _Bad(f"{what} is {length} bytes long, more than llama.cpp's limit")
            c.need(length, what)
    else:
        c.need(n * struct.calcsize(_SCALARS[etype]), f"array {key!r}")
    return {"array": TYPE_NAMES[etype], "length": n}, None


def _tensor(c: _Cursor, i: int, seen: set[str]) -> GgufTensor:
    name, n = c.string(f"the name of tensor {i}")
    if n >= MAX_NAME:
        raise _Bad(f"tensor {i}'s name is {n} bytes long, llama.cpp's limit is {MAX_NAME - 1}")
    if name in seen:
        raise _Bad(f"duplicate tensor name {name!r}")
    seen.add(name)
    dims = c.num("I", f"the dimension count of {name!r}")
    if dims > MAX_DIMS:
        raise _Bad(f"tensor {name!r} has {dims} dimensions, llama.cpp's limit is {MAX_DIMS}")
    shape = tuple(c.num("q", f"the shape of {name!r}") for _ in range(dims))
    if any(d < 0 for d in shape):
        raise _Bad(f"tensor {name!r} has a negative dimension {list(shape)}")
    ne = [*shape, *([1] * (MAX_DIMS - dims))]
    if 0 not in ne and (
        INT64_MAX // ne[1] <= ne[0]
        or INT64_MAX // ne[2] <= ne[0] * ne[1]
        or INT64_MAX // ne[3] <= ne[0] * ne[1] * ne[2]
    ):
        raise _Bad(f"tensor {name!r} of shape {list(shape)} has more elements than int64 holds")
    tid = c.num("i", f"the type of {name!r}")
    gtype = GGML_TYPES.get(tid)
    if gtype is None:
        gone = f" ({REMOVED[tid]}, no longer supported)" if tid in REMOVED else ""
        raise _Bad(f"tensor {name!r} has ggml type {tid}{gone}, not one llama.cpp reads")
    if ne[0] % gtype.block:
        blocks = f"not whole blocks of {gtype.block}"
        raise _Bad(f"tensor {name!r} ({gtype.name}) has {ne[0]} elements a row, {blocks}")
    t = GgufTensor(name, gtype, shape, c.num("Q", f"the offset of {name!r}"))
    if t.elements // gtype.block > (1 << 64) // gtype.size:
        raise _Bad(f"tensor {name!r} of shape {list(shape)} is larger than a 64-bit size")
    return t


def _header(c: _Cursor) -> tuple[int, int, int]:
    version = c.num("I", "the version")
    if version == 0 or version & 0xFFFF == 0:
        raise _Bad(f"bad GGUF version {version}")
    if version == 1:
        raise _Bad("GGUF version 1 is no longer supported by llama.cpp")
    if version > 3:
        raise _Bad(f"GGUF version {version} is newer than llama.cpp's 3")
    tensors, kvs = c.num("q", "the tensor count"), c.num("q", "the key count")
    left = c.size - c.pos
    if tensors < 0 or kvs < 0 or tensors * 24 + kvs * 12 > left:
        raise _Bad(f"the header claims {tensors} tensors and {kvs} keys, more than the file can hold")
    if tensors > MAX_TENSORS or kvs > MAX_KEYS:
        raise _Bad(f"{tensors} tensors and {kvs} keys: more than hfcache lists ({MAX_TENSORS}, {MAX_KEYS})")
    return version, tensors, kvs


def parse_gguf(f: BinaryIO, size: int) -> GgufFile | HeaderError:
    """Read the GGUF file open as ``f`` (``size`` bytes); see the module docstring."""
    head = f.read(8)
    if head[:4] != MAGIC:
        return HeaderError("no GGUF magic")
    if len(head) < 8:
        return HeaderError("too short for a GGUF header")
    order = "<" if struct.unpack_from("<I", head, 4)[0] & 0xFFFF else ">"
    c = _Cursor(f, size, order)
    c.buf, c.pos = bytearray(head), 4
    try:
        version, n_tensors, n_kv = _header(c)
        metadata: dict[str, Any] = {}
        lengths: dict[str, int] = {}
        budget = [MAX_STRINGS]
        for i in range(n_kv):
            key, n = c.string(f"key {i}", MAX_KEY)
            if n == 0 or n > MAX_KEY:
                raise _Bad(f"key {i} is empty" if n == 0 else f"key {i} is {n} bytes, over hfcache's limit")
            if key in metadata:
                raise _Bad(f"duplicate key {key!r}")
            vtype = c.num("i", f"the type of {key!r}")
            metadata[key], full = _value(c, key, vtype, budget)
            if full is not None:
                lengths[key] = full
            if key == "general.alignment" and vtype != 4:
                raise _Bad(f"general.alignment must be of type u32 but is {TYPE_NAMES.get(vtype, vtype)}")
        align = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
        if align == 0 or align & (align - 1):
            raise _Bad(f"general.alignment {align} is not a power of 2")
        seen: set[str] = set()
        tensors = tuple(_tensor(c, i, seen) for i in range(n_tensors))
    except _Bad as e:
        return HeaderError(str(e))
    start = _pad(c.pos, align) if n_tensors else c.pos
    byte_order = "little" if order == "<" else "big"
    got = GgufFile(version, byte_order, align, start, size, metadata, lengths, tensors)
    return replace(got, problems=tuple(_layout(got)))


def _layout(g: GgufFile) -> list[tuple[str, str]]:
    """Offsets llama.cpp refuses, then data missing at the end."""
    problems: list[tuple[str, str]] = []
    expected = 0
    bad: list[str] = []
    spans = sorted((t.offset, t.offset + t.nbytes, t.name) for t in g.tensors if t.nbytes)
    overlaps = [(a[2], b[2]) for a, b in itertools.pairwise(spans) if b[0] < a[1]]
    for t in g.tensors:
        if t.offset != expected:
            why = "not a multiple of the alignment" if t.offset % g.alignment else "out of place"
            if g.data_start + t.offset + t.nbytes > g.file_size:
                why += ", past the end of the file"
            bad.append(f"{t.name} at offset {t.offset} ({why}; llama.cpp expects {expected})")
        expected += _pad(t.nbytes, g.alignment)
    said = []
    if overlaps:
        pairs = ", ".join(f"{a} and {b}" for a, b in overlaps[:3])
        said.append(f"{len(overlaps)} pair(s) of tensors overlap: {pairs}")
    if bad:
        said.append(f"{len(bad)} tensor(s) misplaced: " + "; ".join(bad[:3]))
    if said:
        problems.append(("offsets", "; ".join(said)))
    need = g.data_start + g.data_size
    if g.tensors and not bad and need > g.file_size:
        problems.append(("truncated", f"the tensor data needs {need} bytes, the file has {g.file_size}"))
    return problems


def read_gguf(path: str | os.PathLike[str]) -> GgufFile | HeaderError:
    """Read the GGUF file at ``path`` (a regular file, opened non-blocking)."""
    try:
        f, size = open_regular_sized(path)
        with f:
            return parse_gguf(f, size)
    except OSError as exc:
        return HeaderError(f"cannot read file: {exc.strerror or exc}")
