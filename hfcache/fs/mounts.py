"""Which file system a path is on, from ``/proc/self/mounts`` (Linux; ``None`` elsewhere).

``pack`` needs it for one rule: FAT32 (``vfat``/``msdos``) holds no file of 4 GiB or more, so
a bundle or volume that large is refused there before a single byte is written, instead of
failing with ``EFBIG`` hours into the copy.
"""

from __future__ import annotations

import os

from hfcache.units import FAT32_MAX_FILE

__all__ = ["FAT32_MAX_FILE", "filesystem_type", "is_fat"]
FAT_TYPES = frozenset({"vfat", "msdos", "fat"})
_MOUNTS = "/proc/self/mounts"


def _unescape(field: str) -> str:
    """Mount points in the mounts table escape space, tab, newline and backslash as octal."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def filesystem_type(path: str) -> str | None:
    """The type (``ext4``, ``vfat``...) of the mount holding ``path``, or ``None`` when unknown."""
    try:
        with open(_MOUNTS, encoding="utf-8", errors="replace") as f:
            table = f.read().splitlines()
    except OSError:
        return None
    real = os.path.realpath(path)
    best: tuple[int, str] | None = None
    for line in table:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = _unescape(fields[1])
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= best[0]):
            best = (len(point), fields[2])
    return best[1] if best else None


def is_fat(path: str) -> bool:
    """Is ``path`` (a folder, or the folder a new file would go in) on a FAT file system?"""
    return filesystem_type(path) in FAT_TYPES
