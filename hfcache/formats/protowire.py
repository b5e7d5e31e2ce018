"""A bounded reader of the protobuf wire format, over a file, without the protobuf package.

A message is a sequence of fields: a varint key (``field_number << 3 | wire_type``), then a
varint (wire type 0), 8 bytes (1), a varint length and that many bytes (2), or 4 bytes (5).
Groups (3, 4) are long deprecated and refused, as is field number 0. The rules enforced, from
the encoding guide (protobuf.dev/programming-guides/encoding): a varint is at most 10 bytes; a
length-delimited field lies inside its parent message, which lies inside the file. The file is
read through a small window (``os.pread``), so a multi-gigabyte ``raw_data`` field is skipped
by arithmetic, never read; every field walked counts against one budget per file.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from typing import BinaryIO

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
WINDOW = 1 << 16


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message (or exceed a limit of ours)."""


class Source:
    """Random access to a file's bytes through a cached window; ``fields`` counts every field
    walked against ``max_fields``."""

    def __init__(self, f: BinaryIO, size: int, *, max_fields: int) -> None:
        self.fd, self.size = f.fileno(), size
        self.start, self.buf = 0, b""
        self.fields_left = max_fields

    def read(self, pos: int, n: int) -> bytes:
        """``n`` bytes at ``pos`` (``n`` small: a window's worth at most, or a string we keep)."""
        if pos < self.start or pos + n > self.start + len(self.buf):
            self.start = pos
            self.buf = os.pread(self.fd, max(n, WINDOW), pos)
        got = self.buf[pos - self.start : pos - self.start + n]
        if len(got) < n:
            raise WireError("the file ended inside a field")
        return got

    def varint(self, pos: int, end: int) -> tuple[int, int]:
        chunk = self.read(pos, min(10, end - pos)) if pos < end else b""
        value = 0
        for i, byte in enumerate(chunk):
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                return value, pos + i + 1
        raise WireError("a varint runs past its message or is longer than 10 bytes")

    def fields(self, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
        """``(number, wire type, value, position)`` of each field of the message in
        ``[start, end)``: for wire type 2, ``value`` is the length and ``position`` where the
        bytes start; otherwise ``value`` is the number and ``position`` where it ended."""
        if end > self.size:
            raise WireError("a message runs past the end of the file")
        pos = start
        while pos < end:
            self.fields_left -= 1
            if self.fields_left < 0:
                raise WireError("more protobuf fields than hfcache walks in one file")
            key, pos = self.varint(pos, end)
            number, wire = key >> 3, key & 7
            if number == 0:
                raise WireError("field number 0")
            if wire == VARINT:
                value, pos = self.varint(pos, end)
                yield number, wire, value, pos
            elif wire in (FIXED64, FIXED32):
                width = 8 if wire == FIXED64 else 4
                if pos + width > end:
                    raise WireError("a fixed-width field runs past its message")
                (value,) = struct.unpack("<Q" if width == 8 else "<I", self.read(pos, width))
                pos += width
                yield number, wire, value, pos
            elif wire == LENGTH:
                length, pos = self.varint(pos, end)
                if length > end - pos:
                    raise WireError(f"field {number} is {length} bytes, longer than its message")
                yield number, wire, length, pos
                pos += length
            else:
                raise WireError(f"wire type {wire} (field {number}) is not one protobuf 3 writes")

    def packed_varints(self, start: int, end: int, limit: int) -> list[int]:
        """The varints of a packed repeated field, at most ``limit`` of them."""
        out: list[int] = []
        pos = start
        while pos < end:
            if len(out) >= limit:
                raise WireError(f"more than {limit} values in a packed field")
            value, pos = self.varint(pos, end)
            out.append(value)
        return out

    def text(self, pos: int, length: int, keep: int) -> str:
        return self.read(pos, min(length, keep)).decode("utf-8", "replace")


def signed64(value: int) -> int:
    """An int64 written as a varint (two's complement in 64 bits)."""
    return value - (1 << 64) if value >= 1 << 63 else value
