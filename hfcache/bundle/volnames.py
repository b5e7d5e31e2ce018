"""The names of a bundle's files: numbered volumes, the checksum file beside them, temporaries.

``pack`` writes ``x.tar`` or ``x.tar.001``, ``.002``... (GNU ``split``'s numbering, so ``cat
x.tar.*`` in name order is the stream), ``x.tar.sha256`` beside split volumes, and each file first
under a hidden temporary name; ``unpack`` finds them by the same names.
"""

from __future__ import annotations

import os
import re

PARTIAL_SUFFIX = ".hfcache-partial"
MAX_VOLUMES = 999  # names stay 3 digits, so that `cat x.tar.*` (name order) is stream order
VOLUME_NAME = re.compile(r"(.+)\.(\d{3})")  # a volume: the bundle name and its number
CHECKSUM_SUFFIX = ".sha256"  # beside split volumes: `sha256sum -c big.tar.sha256` checks them all


def volume_name(target: str, index: int) -> str:
    """The name of volume ``index`` (from 1) of a bundle written to ``target``."""
    return f"{target}.{index:03d}"


def checksum_name(target: str) -> str:
    """The ``sha256sum`` file written beside the volumes of a bundle written to ``target``."""
    return target + CHECKSUM_SUFFIX


def partial_name(final: str) -> str:
    """The hidden temporary sibling a file is written under until committed."""
    head, tail = os.path.split(final)
    return os.path.join(head, f".{tail}{PARTIAL_SUFFIX}")


def numbered_siblings(target: str) -> dict[int, str]:
    """Existing ``target.NNN`` files: volumes of an earlier bundle of the same name."""
    head, tail = os.path.split(target)
    pattern = re.compile(re.escape(tail) + r"\.(\d{3})")
    try:
        names = os.listdir(head or ".")
    except FileNotFoundError:
        return {}
    return {int(m.group(1)): os.path.join(head, n) for n in names if (m := pattern.fullmatch(n))}
