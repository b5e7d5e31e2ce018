"""Sizes for people and from people: ``1.5 GB`` out, ``4G`` in."""

from __future__ import annotations

import re

_UNITS = ("B", "KB", "MB", "GB", "TB", "PB")
_PARSE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b?)\s*", re.IGNORECASE)


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
    """``4G`` / ``4GiB`` / ``500M`` / ``1.5GB`` / ``4096`` → bytes (binary multiples, as ``split`` does).

    Raises ``ValueError`` with a readable message for anything else.
    """
    m = _PARSE_RE.fullmatch(text)
    if m is None:
        raise ValueError(f"not a size: {text!r} (try 4G, 500M, 1.5GiB)")
    number, prefix = float(m.group(1)), m.group(2).lower()
    value = int(number * 1024 ** ("_kmgtp".index(prefix) if prefix else 0))
    if value <= 0:
        raise ValueError(f"size must be positive: {text!r}")
    return value
