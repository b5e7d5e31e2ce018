"""Sizes for people: ``1.5 GB`` out (decimal, as the Hub shows them), ``4G`` or ``fat32`` in."""

from __future__ import annotations

import re
from fractions import Fraction

_UNITS = ("B", "KB", "MB", "GB", "TB", "PB")
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(?:([kmgtpe])(i?b)?|b)?\s*", re.IGNORECASE)
FAT32_MAX_FILE = (4 << 30) - 1
"""The largest file FAT32 can hold: 4 GiB - 1 byte."""


def human_size(n: int | None) -> str:
    """Decimal units, as the Hub and huggingface_hub show sizes (``1.2 GB``)."""
    if n is None:
        return "?"
    size = float(n)
    for unit in _UNITS:
        if abs(size) < 1000 or unit == _UNITS[-1]:
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def parse_size(text: str) -> int:
    """Bytes in a size such as ``4G``, ``4GiB``, ``500M``, ``1.5G``, ``64k``, ``4096`` or ``fat32``.

    Units follow GNU ``split``: ``K M G T P E`` and ``KiB``... are powers of 1024, ``KB``... of
    1000; a bare number (or ``B``) is bytes; ``fat32`` is the largest file FAT32 holds (4 GiB - 1).
    Fractions round down to whole bytes. Raises
    ValueError with a readable message for anything else or for a size below one byte.
    """
    if text.strip().lower() == "fat32":
        return FAT32_MAX_FILE
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ValueError(f"invalid size {text!r}: expected a number and optional unit, e.g. 4G, 500M, 4096")
    number, prefix, suffix = match.groups()
    value = Fraction(number)
    if prefix:
        base = 1000 if suffix and suffix.lower() == "b" else 1024
        value *= base ** ("kmgtpe".index(prefix.lower()) + 1)
    if int(value) <= 0:
        raise ValueError(f"invalid size {text!r}: must be at least 1 byte")
    return int(value)
