"""What an ``hfcache.pyz`` says about itself: its build, its libraries, where it runs.

Every pyz holds ``_hfcache_pyz.json`` at its root (written by :mod:`hfcache.pyz.build`, read
by its bootstrap :mod:`hfcache.pyz.boot` before anything else runs). The same file is copied
into the folder the pyz unpacks itself into, which is how a running hfcache knows it came from
a pyz (:func:`running_info`), for ``--version`` and for ``pack --with-hfcache``.
"""

from __future__ import annotations

import json
import os
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hfcache.errors import BadInputError
from hfcache.pyz import boot

FORMAT = 1
"""Version of the ``_hfcache_pyz.json`` document."""


@dataclass(frozen=True)
class PyzInfo:
    """One build of hfcache.pyz, as its ``_hfcache_pyz.json`` describes it."""

    build_id: str
    """sha256 of every file in the zip but this description: equal ids, equal contents."""
    hfcache_version: str
    source: str
    """``release`` (resolved from the package index for every supported platform) or ``env``
    (the libraries of the environment that built it, for its own platform only)."""
    python_min: tuple[int, int]
    natives: tuple[str, ...] = ()
    """Platform keys (:func:`hfcache.pyz.boot.platform_key`) it carries compiled libraries for;
    empty when it needs none (then it runs anywhere Python does)."""
    native_dists: tuple[str, ...] = ()
    """The compiled libraries it carries per platform (``pydantic-core 2.50.5``)."""
    pure_fallbacks: tuple[str, ...] = ()
    """Libraries with optional C speed-ups that run on their pure-Python code here."""
    left_out: tuple[str, ...] = ()
    """Optional libraries it does not carry (``hf-xet``: Xet hashes are not checked)."""
    distributions: dict[str, str] = field(default_factory=dict)
    """Every library it carries, name to version."""

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "build_id": self.build_id,
            "hfcache_version": self.hfcache_version,
            "source": self.source,
            "python_min": list(self.python_min),
            "natives": list(self.natives),
            "native_dists": list(self.native_dists),
            "pure_fallbacks": list(self.pure_fallbacks),
            "left_out": list(self.left_out),
            "distributions": dict(sorted(self.distributions.items())),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> PyzInfo:
        lo, hi = doc.get("python_min", (3, 10))
        return cls(
            build_id=str(doc["build_id"]),
            hfcache_version=str(doc.get("hfcache_version", "?")),
            source=str(doc.get("source", "?")),
            python_min=(int(lo), int(hi)),
            natives=tuple(doc.get("natives", ())),
            native_dists=tuple(doc.get("native_dists", ())),
            pure_fallbacks=tuple(doc.get("pure_fallbacks", ())),
            left_out=tuple(doc.get("left_out", ())),
            distributions=dict(doc.get("distributions", {})),
        )

    def platforms(self) -> str:
        """Where it runs, in words: the interpreters its compiled libraries are for
        (``cp311-manylinux_x86_64, …``), or any Python from its minimum when it carries none."""
        if self.natives:
            return f"only on {', '.join(self.natives)}"
        return f"on Python {self.python_min[0]}.{self.python_min[1]} or later, any platform"

    def describe(self) -> str:
        """One line for ``--version``: which native speed-ups are in use, and what is left out."""
        parts = [f"hfcache.pyz {self.build_id[:12]} ({self.source} build)"]
        if self.natives:
            parts.append(f"compiled {', '.join(self.native_dists)} for {boot.platform_key()}")
        else:
            parts.append("no compiled code")
        if self.pure_fallbacks:
            names = ", ".join(d.split()[0] for d in self.pure_fallbacks)
            parts.append(f"pure-Python (no C speed-ups): {names}")
        if self.left_out:
            parts.append(f"without {', '.join(d.split()[0] for d in self.left_out)}")
        return "; ".join(parts)


def read_pyz(path: str | os.PathLike[str]) -> PyzInfo:
    """The description inside the pyz at ``path``; :class:`BadInputError` if it is not one."""
    try:
        with zipfile.ZipFile(path) as archive:
            return PyzInfo.from_json(boot.read_info(archive))
    except boot.PyzError as e:
        raise BadInputError(str(e)) from None
    except (OSError, zipfile.BadZipFile, KeyError, TypeError, ValueError) as e:
        raise BadInputError(f"{os.fspath(path)} is not an hfcache.pyz ({e})") from None


def unpacked_root() -> Path:
    """The folder hfcache's own package sits in: a pyz's unpacked folder when run from one."""
    return Path(__file__).resolve().parents[2]


def running_info() -> PyzInfo | None:
    """The build of the pyz this process runs from, or None when hfcache is installed normally."""
    marker = unpacked_root() / boot.INFO_NAME
    if not marker.is_file():
        return None
    try:
        return PyzInfo.from_json(json.loads(marker.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def running_pyz() -> Path | None:
    """The pyz file this process was started from (``python3 hfcache.pyz …``), if any.

    ``sys.argv[0]`` names it; it counts only if it holds the very build that is running."""
    me = running_info()
    if me is None or not sys.argv or not sys.argv[0]:
        return None
    candidate = Path(sys.argv[0])
    try:
        if candidate.is_file() and read_pyz(candidate).build_id == me.build_id:
            return candidate.resolve()
    except BadInputError:
        return None
    return None
