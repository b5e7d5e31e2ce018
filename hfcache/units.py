"""Sizes for people: ``1.5 GB``."""

from __future__ import annotations

_UNITS = ("B", "KB", "MB", "GB", "TB", "PB")


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
