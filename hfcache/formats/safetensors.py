"""Read safetensors headers and checkpoint index files, never the tensor data.

A safetensors file is an 8-byte little-endian header length ``N``, ``N`` bytes of UTF-8
JSON, then the tensor bytes.  Reading just the header tells how long the file must be, so
a truncated multi-GB download is spotted without reading it.

The header is judged as the safetensors loader judges it: the Rust crate's
``SafeTensors::read_metadata`` (``safetensors/src/tensor.rs``), which ``safe_open``,
``load_file`` and transformers' ``from_pretrained`` all go through.  Each rule below names the
part of that file it comes from; ``tests/test_safetensors_loader.py`` checks every one against
the installed loader, file by file.  A file hfcache accepts is one the loader opens; a file it
refuses carries the loader's reason (:attr:`HeaderError.kind`).

The header is parsed one tensor entry at a time into flat arrays (:class:`TensorTable`), so a
header of 400,000 tensors costs about its own size in memory, not several times it.

Nothing here raises on bad content or I/O trouble: problems come back as
:class:`HeaderError` with a plain-English reason.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
import struct
from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any, Final

# --- The loader's rules: safetensors/src/tensor.rs ---------------------------------------------

LOADER_MAX_HEADER_LENGTH: Final = 100_000_000
"""``MAX_HEADER_SIZE``: ``SafeTensors::read_metadata`` refuses a header length above it.

hfcache applies this limit, not huggingface_hub's ``SAFETENSORS_MAX_HEADER_LENGTH`` (25 MB, in
:mod:`hfcache._hf`), because it judges local files as ``safe_open`` loads them; the hub's limit
bounds only ``get_safetensors_metadata``, which reads a remote file's header over HTTP."""

DTYPE_BITS: Final[Mapping[str, int]] = {
    "BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8,
    "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32,
    "C64": 64, "F64": 64, "I64": 64, "U64": 64,
}  # fmt: skip
"""Bits per element of every dtype the loader knows (``enum Dtype`` and ``Dtype::bitsize``);
a header naming any other dtype (``XYZ``, ``float32``, ``f32``) is refused, as serde refuses an
unknown enum variant."""

_DTYPES: Final = tuple(DTYPE_BITS)
_DTYPE_CODE: Final = {name: code for code, name in enumerate(_DTYPES)}
_BITS: Final = tuple(DTYPE_BITS.values())

_USIZE_MAX: Final = 2**64 - 1
"""Shapes and offsets are ``usize`` (64-bit platforms); products are ``checked_mul`` in it."""

_MAX_DEPTH: Final = 127
"""serde_json's recursion limit (128) as it shows: the loader parses a header nested 127 levels
deep (the top object counts as one; unknown fields of a tensor entry are parsed too, and count)
and refuses one nested 128 levels deep."""

# Why a file is refused: the loader's SafeTensorError variants (tensor.rs), plus UNREADABLE for
# what is not the loader's to judge (no regular file, an I/O error).
TOO_SMALL: Final = "header-too-small"  # HeaderTooSmall: fewer than the 8 length bytes
TOO_LARGE: Final = "header-too-large"  # HeaderTooLarge: length above LOADER_MAX_HEADER_LENGTH
BAD_LENGTH: Final = "header-length"  # InvalidHeaderLength: the header runs past the end of the file
NOT_UTF8: Final = "header-not-utf8"  # InvalidHeader: the header is not UTF-8
BAD_JSON: Final = "header-json"  # InvalidHeaderDeserialization: JSON syntax, types, dtypes, duplicates
BAD_OFFSETS: Final = "offsets"  # InvalidOffset: offsets not contiguous from 0, or end before begin
OVERFLOW: Final = "overflow"  # ValidationOverflow: shape product or its bits overflow usize
MISALIGNED: Final = "misaligned"  # MisalignedSlice: a sub-byte dtype's bits do not fill whole bytes
SIZE_MISMATCH: Final = "size-mismatch"  # TensorInvalidInfo: offsets span other than shape x dtype
NOT_COVERED: Final = "not-covered"  # MetadataIncompleteBuffer: data is not exactly the rest of the file
UNREADABLE: Final = "unreadable"
LOADER_KINDS: Final = (
    TOO_SMALL, TOO_LARGE, BAD_LENGTH, NOT_UTF8, BAD_JSON, BAD_OFFSETS, OVERFLOW, MISALIGNED,
    SIZE_MISMATCH, NOT_COVERED,
)  # fmt: skip

INDEX_MAX_BYTES = 64 * 1024 * 1024
"""Largest ``*.index.json`` :func:`read_index` will read (real ones are well under 10 MiB)."""


@dataclass(frozen=True)
class TensorInfo:
    """One tensor's entry: ``begin``/``end`` are byte offsets relative to the data start."""

    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


class TensorTable(Mapping[str, TensorInfo]):
    """Tensor name -> :class:`TensorInfo`, stored flat: a dict of names to rows, and per row a
    dtype code, a shape (each distinct shape stored once) and the two offsets in arrays."""

    __slots__ = ("_begin", "_dtype", "_end", "_rows", "_shape", "_shapes", "data_len")

    def __init__(self) -> None:
        self._rows: dict[str, int] = {}
        self._dtype = bytearray()
        self._shape = array("I")
        self._shapes: list[tuple[int, ...]] = []
        self._begin = array("Q")
        self._end = array("Q")
        self.data_len = 0
        """Bytes of tensor data (the last tensor's end), once validated."""

    def _put(self, name: str, dtype: int, shape: int, begin: int, end: int) -> None:
        row = self._rows.get(name)
        if row is None:  # a name given twice keeps its first place and its last entry, as the
            self._rows[name] = len(self._dtype)  # loader's HashMap does (the last one wins)
            self._dtype.append(dtype)
            self._shape.append(shape)
            self._begin.append(begin)
            self._end.append(end)
        else:
            self._dtype[row], self._shape[row], self._begin[row], self._end[row] = dtype, shape, begin, end

    def __getitem__(self, name: str) -> TensorInfo:
        row = self._rows[name]
        shape = self._shapes[self._shape[row]]
        return TensorInfo(_DTYPES[self._dtype[row]], shape, self._begin[row], self._end[row])

    def __contains__(self, name: object) -> bool:
        return name in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return f"TensorTable({dict(self)!r})" if len(self) <= 8 else f"<TensorTable of {len(self)} tensors>"


@dataclass(frozen=True)
class Header:
    """A validated safetensors header."""

    tensors: Mapping[str, TensorInfo]
    metadata: dict[str, str]
    data_start: int  # 8 + header length

    @property
    def data_bytes(self) -> int:
        """Bytes of tensor data the header describes (validated: the tensors cover them exactly)."""
        if isinstance(self.tensors, TensorTable):
            return self.tensors.data_len
        return max((t.end for t in self.tensors.values()), default=0)

    @property
    def expected_size(self) -> int:
        """Bytes the file must have: the data start plus the last tensor's end."""
        return self.data_start + self.data_bytes

    def coverage_error(self, file_size: int) -> HeaderError | None:
        """The loader's last rule (``read_metadata``: ``buffer_end + N_LEN + n != buffer_len``):
        the tensor data must be exactly the rest of the file, not shorter, not longer."""
        expected = self.expected_size
        if file_size < expected:
            return HeaderError(f"truncated: {file_size} bytes, but the header needs {expected}", NOT_COVERED)
        if file_size > expected:
            extra = file_size - expected
            return HeaderError(
                f"{extra} bytes after the tensor data (the header covers {expected})", NOT_COVERED
            )
        return None


@dataclass(frozen=True)
class HeaderError:
    """Why a header or index could not be used; ``kind`` is the loader's reason (``LOADER_KINDS``)
    or :data:`UNREADABLE`."""

    reason: str
    kind: str = UNREADABLE


@dataclass(frozen=True)
class CheckpointIndex:
    """A sharded checkpoint index: tensor name -> shard file name, and the declared total."""

    weight_map: dict[str, str]
    total_size: int | None


class _Invalid(Exception):
    """Internal: carries a reason and its kind up to the public function that returns HeaderError."""

    def __init__(self, reason: str, kind: str = UNREADABLE) -> None:
        super().__init__(reason)
        self.kind = kind


def _json_error(reason: str) -> _Invalid:
    return _Invalid(reason, BAD_JSON)


# --- Parsing the JSON as serde_json and serde's derive read it ----------------------------------


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its (key, value) pairs in order, duplicates kept: serde sees them all."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # serde_json: "number out of range"; Python would give inf
        raise ValueError(f"number out of range: {text[:20]}")
    return value


def _int(text: str) -> int:
    """serde_json reads an integer beyond 64 bits as a float (refused where out of range), and
    ``-0`` as the float ``-0.0``: neither is ever a usize, nor is any negative number."""
    if len(text) > 20:
        _float(text)
    return -1 if text.startswith("-") else int(text)


_PLAIN = json.JSONDecoder(object_pairs_hook=_Pairs, parse_constant=_reject_constant)
_STRICT = json.JSONDecoder(
    object_pairs_hook=_Pairs, parse_constant=_reject_constant, parse_int=_int, parse_float=_float
)
_UNUSUAL_NUMBER = re.compile(r"-0(?![0-9.eE])|[0-9]{20}|[eE][+-]?[0-9]{3}")
"""Numbers whose reading differs between Python and serde_json: ``-0``, integers past 64 bits,
exponents that may overflow. A header with none (almost every one) is read by the plain decoder."""
_WS = re.compile(r"[ \t\n\r]*")  # JSON's whitespace, what serde_json skips, before and after too
_SURROGATE = re.compile("[\ud800-\udfff]")
"""An unpaired ``\\uD800``..``\\uDFFF`` escape: Python keeps it in the string, serde_json refuses
the header (Rust strings hold no surrogates). UTF-8 input cannot carry one otherwise."""
_FAST_ENTRY = re.compile(
    r'"([^"\\\x00-\x1f]*)":\{"dtype":"([A-Z0-9_]{1,16})","shape":\[((?:0|[1-9][0-9]{0,19})(?:,(?:0|[1-9][0-9]{0,19}))*)?\],'
    r'"data_offsets":\[(0|[1-9][0-9]{0,19}),(0|[1-9][0-9]{0,19})\]\}([,}])'
)
"""A name without escapes and its tensor entry exactly as the safetensors writer prints them,
then ``,`` or ``}``: read without building a dict (anything else takes the general path)."""


def _check_strings_and_depth(value: Any, depth: int, surrogates: bool) -> None:
    """An unknown field's value: serde parses it all the same (depth limit, string escapes)."""
    stack = [(value, depth)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, list):
            if level > _MAX_DEPTH:
                raise _json_error(f"nested more than {_MAX_DEPTH} levels deep (serde_json's recursion limit)")
            if type(item) is _Pairs:
                for key, inner in item:
                    _check_string(key, surrogates)
                    stack.append((inner, level + 1))
            else:
                stack.extend((inner, level + 1) for inner in item)
        elif isinstance(item, str):
            _check_string(item, surrogates)


def _check_string(text: str, surrogates: bool) -> None:
    if surrogates and _SURROGATE.search(text):
        raise _json_error(f"string {text!r} holds an unpaired surrogate escape")


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_usize(value: object) -> bool:
    return type(value) is int and 0 <= value <= _USIZE_MAX


def _dtype_code(name: str, dtype: object) -> int:
    if type(dtype) is _Pairs:  # serde reads an enum from a one-key map too: {"F32": null}
        if len(dtype) != 1 or dtype[0][1] is not None:
            raise _json_error(f"tensor {name!r}: dtype as a map must be one dtype name mapped to null")
        dtype = dtype[0][0]
    if not isinstance(dtype, str):
        raise _json_error(f"tensor {name!r}: dtype is not a string")
    code = _DTYPE_CODE.get(dtype)
    if code is None:
        raise _json_error(
            f"tensor {name!r}: unknown dtype {dtype[:40]!r} (the safetensors loader refuses it)"
        )
    return code


def _fields(name: str, entry: object, surrogates: bool) -> tuple[object, object, object]:
    """``TensorInfo``'s derived Deserialize: a map with the three fields (others ignored, each
    once), or a sequence of exactly three."""
    if type(entry) is _Pairs:
        found: dict[str, object] = {}
        for key, value in entry:
            if key in ("dtype", "shape", "data_offsets"):
                if key in found:
                    raise _json_error(f"tensor {name!r}: duplicate field {key!r}")
                found[key] = value
            else:
                _check_string(key, surrogates)
                _check_strings_and_depth(value, 3, surrogates)
        for key in ("dtype", "shape", "data_offsets"):
            if key not in found:
                raise _json_error(f"tensor {name!r}: missing field {key!r}")
        return found["dtype"], found["shape"], found["data_offsets"]
    if type(entry) is list:
        if len(entry) != 3:
            raise _json_error(f"tensor {name!r}: a list entry must be [dtype, shape, data_offsets]")
        return entry[0], entry[1], entry[2]
    raise _json_error(f"tensor {name!r}: entry is not a JSON object")


def _skip(text: str, i: int) -> int:
    match = _WS.match(text, i)
    return i if match is None else match.end()


class _Reader:
    """The header text, read one top-level entry at a time into a :class:`TensorTable`."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.decoder: json.JSONDecoder | None = None  # chosen when an entry first needs one
        self.surrogates = "\\u" in text
        self.table = TensorTable()
        self.metadata: dict[str, str] | None = None
        self.shape_ids: dict[tuple[int, ...], int] = {}
        self.shape_texts: dict[str, int] = {}  # the fast path's shapes, by their text

    def _shape_id(self, shape: tuple[int, ...]) -> int:
        found = self.shape_ids.get(shape)
        if found is None:
            found = self.shape_ids[shape] = len(self.table._shapes)
            self.table._shapes.append(shape)
        return found

    def _expect(self, i: int, what: str) -> None:
        got = self.text[i : i + 1]
        if got != what:
            found = repr(got) if got else "the end"
            raise _json_error(f"header is not valid JSON: expected {what!r} at character {i}, found {found}")

    def read(self) -> None:
        """``serde_json::from_str::<HashMetadata>``: whitespace is skipped before and after."""
        text, ws = self.text, _skip
        i = ws(text, 0)
        self._expect(i, "{")
        i = ws(text, i + 1)
        if text.startswith("}", i):
            i += 1
        else:
            fast, codes, put, shape_texts = _FAST_ENTRY.match, _DTYPE_CODE, self.table._put, self.shape_texts
            while True:
                m = fast(text, i)
                if m is not None and m[2] in codes and m[1] != "__metadata__":
                    name, dtype, dims, first, last, after = m.groups()
                    shape = shape_texts.get(dims or "")
                    if shape is None:
                        shape = shape_texts[dims or ""] = self._fast_shape(name, dims or "")
                    end = int(last)
                    if end > _USIZE_MAX:
                        raise _json_error(f"tensor {name!r}: data_offsets past the usize range")
                    put(name, codes[dtype], shape, int(first), end)
                    i = m.end()
                    if after == "}":
                        break
                    if not text.startswith('"', i):
                        i = ws(text, i)
                    continue
                self._expect(i, '"')
                name, i = scanstring(text, i + 1, True)
                i = ws(text, i)
                self._expect(i, ":")
                i = self._value(name, ws(text, i + 1))
                i = ws(text, i)
                if text.startswith(",", i):
                    i = ws(text, i + 1)
                    continue
                self._expect(i, "}")
                i += 1
                break
        i = ws(text, i)
        if i != len(text):
            raise _json_error(f"header is not valid JSON: trailing characters at character {i}")

    def _fast_shape(self, name: str, dims: str) -> int:
        shape = tuple(int(d) for d in dims.split(",")) if dims else ()
        if max(shape, default=0) > _USIZE_MAX:
            raise _json_error(f"tensor {name!r}: shape past the usize range")
        return self._shape_id(shape)

    def _value(self, name: str, i: int) -> int:
        _check_string(name, self.surrogates)
        if self.decoder is None:
            self.decoder = _STRICT if _UNUSUAL_NUMBER.search(self.text) else _PLAIN
        try:
            value, i = self.decoder.raw_decode(self.text, i)
        except RecursionError:
            raise _json_error(f"nested more than {_MAX_DEPTH} levels deep") from None
        if name == "__metadata__":
            self._metadata(value)
            return int(i)
        dtype, shape, offsets = _fields(name, value, self.surrogates)
        code = _dtype_code(name, dtype)
        if type(shape) is not list or not all(_is_usize(d) for d in shape):
            raise _json_error(f"tensor {name!r}: shape must be a list of non-negative integers")
        if type(offsets) is not list or len(offsets) != 2 or not all(_is_usize(o) for o in offsets):
            raise _json_error(f"tensor {name!r}: data_offsets must be two non-negative integers")
        self.table._put(name, code, self._shape_id(tuple(shape)), offsets[0], offsets[1])
        return int(i)

    def _metadata(self, value: object) -> None:
        """``__metadata__``: ``Option<HashMap<String, String>>``, given at most once; null is None."""
        if self.metadata is not None:
            raise _json_error("duplicate field '__metadata__'")
        if value is None:
            self.metadata = {}
            return
        if type(value) is not _Pairs or not all(isinstance(v, str) for _, v in value):
            raise _json_error("__metadata__ must map strings to strings (or be null)")
        for key, text in value:
            _check_string(key, self.surrogates)
            _check_string(text, self.surrogates)
        self.metadata = dict(value)


def _validate(table: TensorTable) -> int:
    """``Metadata::validate``: tensors sorted by ``data_offsets``, each must begin where the last
    ended (the first at 0) and span exactly ``shape`` x ``dtype`` bits, with ``checked_mul``."""
    begin, end, dtypes, shape_of, shapes = table._begin, table._end, table._dtype, table._shape, table._shapes
    rows: range | list[int] = range(len(begin))
    if any(begin[r] > begin[r + 1] or (begin[r] == begin[r + 1] and end[r] > end[r + 1]) for r in rows[:-1]):
        rows = sorted(rows, key=lambda r: (begin[r], end[r]))
    elements: dict[int, int | None] = {}
    start = 0
    for row in rows:
        b, e = begin[row], end[row]
        if b != start or e < b:
            raise _Invalid(
                f"tensor {_name(table, row)!r}: data_offsets [{b}, {e}] do not begin at {start}", BAD_OFFSETS
            )
        start = e
        shape_id = shape_of[row]
        if shape_id not in elements:
            elements[shape_id] = _elements(shapes[shape_id])
        count = elements[shape_id]
        bits = None if count is None else count * _BITS[dtypes[row]]
        if bits is None or bits > _USIZE_MAX:
            raise _Invalid(
                f"tensor {_name(table, row)!r}: shape {list(shapes[shape_id])} overflows", OVERFLOW
            )
        if bits % 8:
            raise _Invalid(
                f"tensor {_name(table, row)!r}: {_DTYPES[dtypes[row]]} {list(shapes[shape_id])} does not "
                "fill a whole number of bytes",
                MISALIGNED,
            )
        if e - b != bits // 8:
            raise _Invalid(
                f"tensor {_name(table, row)!r}: data_offsets span {e - b} bytes but "
                f"{_DTYPES[dtypes[row]]} with shape {list(shapes[shape_id])} needs {bits // 8}",
                SIZE_MISMATCH,
            )
    return start


def _elements(shape: tuple[int, ...]) -> int | None:
    """``shape.iter().try_fold(1, usize::checked_mul)``: None once a partial product overflows,
    even if a later dimension is 0."""
    count = 1
    for dim in shape:
        count *= dim
        if count > _USIZE_MAX:
            return None
    return count


def _name(table: TensorTable, row: int) -> str:
    return next(name for name, r in table._rows.items() if r == row)


def _decode(raw: bytes | bytearray | memoryview) -> str:
    """``core::str::from_utf8``: strict UTF-8 (no surrogates, no overlong forms), BOM kept."""
    try:
        return str(raw, "utf-8")
    except UnicodeDecodeError as exc:
        raise _Invalid(f"header is not valid UTF-8 (byte {exc.start})", NOT_UTF8) from None


def _parse_json(text: str, data_start: int) -> Header:
    reader = _Reader(text)
    try:
        reader.read()
    except ValueError as exc:  # json.JSONDecodeError from scanstring/raw_decode, or a hook's
        raise _json_error(f"header is not valid JSON: {exc}") from None
    del reader.text, reader.shape_ids, reader.shape_texts
    reader.table.data_len = _validate(reader.table)
    return Header(reader.table, reader.metadata or {}, data_start)


def _header_length(head: bytes) -> int:
    """``read_metadata``'s first checks: 8 length bytes, and the length within the limit."""
    if len(head) < 8:
        raise _Invalid(f"only {len(head)} bytes: too short for a safetensors header", TOO_SMALL)
    length: int = struct.unpack_from("<Q", head)[0]
    if length > LOADER_MAX_HEADER_LENGTH:
        raise _Invalid(
            f"header length {length} exceeds the loader's {LOADER_MAX_HEADER_LENGTH} byte limit", TOO_LARGE
        )
    return length


def parse_header(head: bytes) -> Header | HeaderError:
    """Validate the header found at the start of ``head`` (the file's first bytes).

    ``head`` must hold at least the 8 length bytes and the whole JSON header; anything
    after is ignored (:func:`read_metadata` judges a whole file as the loader does).
    """
    try:
        length = _header_length(head)
        if len(head) < 8 + length:
            raise _Invalid(
                f"header is truncated: needs {length} bytes, only {len(head) - 8} present", BAD_LENGTH
            )
        return _parse_json(_decode(memoryview(head)[8 : 8 + length]), 8 + length)
    except _Invalid as exc:
        return HeaderError(str(exc), exc.kind)


def read_metadata(buffer: bytes) -> Header | HeaderError:
    """A whole file's bytes judged exactly as ``SafeTensors::read_metadata`` judges them."""
    header = parse_header(buffer)
    if isinstance(header, HeaderError):
        return header
    return header.coverage_error(len(buffer)) or header


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


def _read_into(fd: int, count: int) -> bytearray:
    """``count`` bytes (fewer at the end of the file) in one buffer, without a second copy."""
    buf = bytearray(count)
    view, got = memoryview(buf), 0
    while got < count:
        n = os.readv(fd, [view[got : got + (1 << 24)]])
        if n == 0:
            break
        got += n
    view.release()
    del buf[got:]
    return buf


def read_header(path: str | os.PathLike[str], *, follow_symlinks: bool = False) -> Header | HeaderError:
    """Read and validate the header of the safetensors file at ``path``.

    Reads 8 bytes plus the header, nothing more.  A header longer than the file is
    reported as such; whether the tensor data is exactly the rest of the file is
    :meth:`Header.coverage_error` (:func:`read_checked` applies it).
    """
    try:
        fd = _open(path, follow_symlinks)
        try:
            size = os.fstat(fd).st_size
            head = _read_exact(fd, 8)
            length = _header_length(head)
            if 8 + length > size:
                raise _Invalid(
                    f"header length {length} points past the end of the {size} byte file", BAD_LENGTH
                )
            raw = _read_into(fd, length)
            if len(raw) < length:
                raise _Invalid(
                    f"header is truncated: needs {length} bytes, only {len(raw)} present", BAD_LENGTH
                )
            text = _decode(raw)
            del raw  # the header's bytes go before its tensors are read
            return _parse_json(text, 8 + length)
        finally:
            os.close(fd)
    except _Invalid as exc:
        return HeaderError(str(exc), exc.kind)
    except OSError as exc:
        return HeaderError(_describe(exc, follow_symlinks))


def read_checked(path: str | os.PathLike[str], *, follow_symlinks: bool = False) -> Header | HeaderError:
    """:func:`read_header` and the loader's last rule: the verdict ``safe_open(path)`` reaches."""
    header = read_header(path, follow_symlinks=follow_symlinks)
    if isinstance(header, HeaderError):
        return header
    try:
        size = os.stat(path, follow_symlinks=follow_symlinks).st_size
    except OSError as exc:
        return HeaderError(_describe(exc, follow_symlinks))
    return header.coverage_error(size) or header


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
