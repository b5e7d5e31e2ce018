"""A header's bytes judged as ``SafeTensors::read_metadata`` judges them, in the loader's order.

The 8 length bytes and the length limit, strict UTF-8, the JSON (:mod:`.entries`), then
``Metadata::validate``: offsets contiguous from 0, each span exactly shape x dtype, with
``checked_mul``. :func:`read_metadata` adds the last rule, that the data is exactly the rest of
the buffer. Refusals come back as :class:`HeaderError`, never raised.
"""

from __future__ import annotations

import struct

from hfcache.formats.safetensors.dtypes import BITS, DTYPE_NAMES
from hfcache.formats.safetensors.entries import HeaderReader
from hfcache.formats.safetensors.header import Header, TensorTable
from hfcache.formats.safetensors.loader import (
    BAD_LENGTH,
    BAD_OFFSETS,
    LOADER_MAX_HEADER_LENGTH,
    MISALIGNED,
    NOT_UTF8,
    OVERFLOW,
    SIZE_MISMATCH,
    TOO_LARGE,
    TOO_SMALL,
    USIZE_MAX,
    HeaderError,
    Invalid,
    json_error,
)


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
            raise Invalid(
                f"tensor {_name(table, row)!r}: data_offsets [{b}, {e}] do not begin at {start}", BAD_OFFSETS
            )
        start = e
        shape_id = shape_of[row]
        if shape_id not in elements:
            elements[shape_id] = _elements(shapes[shape_id])
        count = elements[shape_id]
        bits = None if count is None else count * BITS[dtypes[row]]
        if bits is None or bits > USIZE_MAX:
            raise Invalid(f"tensor {_name(table, row)!r}: shape {list(shapes[shape_id])} overflows", OVERFLOW)
        if bits % 8:
            raise Invalid(
                f"tensor {_name(table, row)!r}: {DTYPE_NAMES[dtypes[row]]} {list(shapes[shape_id])} does not "
                "fill a whole number of bytes",
                MISALIGNED,
            )
        if e - b != bits // 8:
            raise Invalid(
                f"tensor {_name(table, row)!r}: data_offsets span {e - b} bytes but "
                f"{DTYPE_NAMES[dtypes[row]]} with shape {list(shapes[shape_id])} needs {bits // 8}",
                SIZE_MISMATCH,
            )
    return start


def _elements(shape: tuple[int, ...]) -> int | None:
    """``shape.iter().try_fold(1, usize::checked_mul)``: None once a partial product overflows,
    even if a later dimension is 0."""
    count = 1
    for dim in shape:
        count *= dim
        if count > USIZE_MAX:
            return None
    return count


def _name(table: TensorTable, row: int) -> str:
    return next(name for name, r in table._rows.items() if r == row)


def decode(raw: bytes | bytearray | memoryview) -> str:
    """``core::str::from_utf8``: strict UTF-8 (no surrogates, no overlong forms), BOM kept."""
    try:
        return str(raw, "utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid(f"header is not valid UTF-8 (byte {exc.start})", NOT_UTF8) from None


def parse_json(text: str, data_start: int) -> Header:
    """The header's text read (:class:`HeaderReader`) and validated, or :class:`Invalid`."""
    reader = HeaderReader(text)
    try:
        reader.read()
    except ValueError as exc:  # json.JSONDecodeError from scanstring/raw_decode, or a hook's
        raise json_error(f"header is not valid JSON: {exc}") from None
    del reader.text, reader.shape_ids, reader.shape_texts
    reader.table.data_len = _validate(reader.table)
    return Header(reader.table, reader.metadata or {}, data_start)


def header_length(head: bytes) -> int:
    """``read_metadata``'s first checks: 8 length bytes, and the length within the limit."""
    if len(head) < 8:
        raise Invalid(f"only {len(head)} bytes: too short for a safetensors header", TOO_SMALL)
    length: int = struct.unpack_from("<Q", head)[0]
    if length > LOADER_MAX_HEADER_LENGTH:
        raise Invalid(
            f"header length {length} exceeds the loader's {LOADER_MAX_HEADER_LENGTH} byte limit", TOO_LARGE
        )
    return length


def parse_header(head: bytes) -> Header | HeaderError:
    """Validate the header found at the start of ``head`` (the file's first bytes).

    ``head`` must hold at least the 8 length bytes and the whole JSON header; anything
    after is ignored (:func:`read_metadata` judges a whole file as the loader does).
    """
    try:
        length = header_length(head)
        if len(head) < 8 + length:
            raise Invalid(
                f"header is truncated: needs {length} bytes, only {len(head) - 8} present", BAD_LENGTH
            )
        return parse_json(decode(memoryview(head)[8 : 8 + length]), 8 + length)
    except Invalid as exc:
        return HeaderError(str(exc), exc.kind)


def read_metadata(buffer: bytes) -> Header | HeaderError:
    """A whole file's bytes judged exactly as ``SafeTensors::read_metadata`` judges them."""
    header = parse_header(buffer)
    if isinstance(header, HeaderError):
        return header
    return header.coverage_error(len(buffer)) or header
