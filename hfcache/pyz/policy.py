"""Which compiled code goes into hfcache.pyz, decided per library, with the reason.

A zipapp runs on machines nobody built it on, so every library with a C (or Rust) extension is
named here, in one of three tables; a build that meets a compiled library named in none of them
stops and names it, rather than ship a pyz that fails on the server.

* :data:`PURE_FALLBACK`: the library ships its pure-Python implementation beside the extension
  and uses it when the extension cannot be imported. The pyz carries no extension of these, on
  every platform, so hfcache behaves the same everywhere (a little slower at parsing HTTP).
* :data:`CARRIED`: no pure-Python implementation exists. The pyz carries a build for each
  platform it supports (manylinux x86_64 and aarch64, CPython 3.10 to 3.14 for a release) and
  its bootstrap unpacks the one for the running interpreter.
* :data:`LEFT_OUT`: optional for hfcache; the pyz works without it and says what that costs.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from hfcache.errors import HfcacheError

EXTENSION_SUFFIXES = (".so", ".pyd", ".dylib")

PURE_FALLBACK: dict[str, str] = {
    "aiohttp": "pure-Python HTTP parser and writer (serve)",
    "yarl": "pure-Python URL quoting",
    "multidict": "pure-Python multidict",
    "frozenlist": "pure-Python FrozenList",
    "propcache": "pure-Python cached properties",
    "pyyaml": "pure-Python YAML (no libyaml)",
    "charset-normalizer": "its .py modules, not their mypyc builds (requests; huggingface_hub < 1.0)",
}
CARRIED: dict[str, str] = {
    "pydantic-core": "typer 0.29 and later checks option values with pydantic, whose core is compiled only",
}
LEFT_OUT: dict[str, str] = {
    "hf-xet": "Xet hashes are not checked (doctor --verify says so); sha256 and git hashes are",
}


class BuildError(HfcacheError):
    """The pyz cannot be built as asked (a library missing, a compiled one no table names, pip failed)."""


@dataclass(frozen=True)
class SiteDist:
    """One library installed in the staging folder: its name, version and files (relative paths)."""

    name: str
    version: str
    files: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"

    def extensions(self) -> list[str]:
        return [f for f in self.files if f.endswith(EXTENSION_SUFFIXES)]


@dataclass(frozen=True)
class Decision:
    """What the policy did to a staged folder."""

    carried: tuple[SiteDist, ...]
    """Compiled libraries moved out of ``site/``, to be carried per platform."""
    pure_fallbacks: tuple[SiteDist, ...]
    left_out: tuple[SiteDist, ...]


def apply(site: Path, dists: list[SiteDist], carried_to: Path | None) -> Decision:
    """Strip the extensions of :data:`PURE_FALLBACK` libraries, delete :data:`LEFT_OUT` ones and
    move :data:`CARRIED` ones into ``carried_to`` (the first platform's ``native/<key>``).

    Raises :class:`BuildError` naming any other library with compiled code."""
    unknown = [d.label for d in dists if d.extensions() and d.name not in PURE_FALLBACK | CARRIED | LEFT_OUT]
    if unknown:
        raise BuildError(
            f"compiled code in {', '.join(unknown)}: name it in hfcache/pyz/policy.py "
            "(PURE_FALLBACK, CARRIED or LEFT_OUT) after checking how it runs without it"
        )
    carried, fallbacks, left = [], [], []
    for d in dists:
        if d.name in LEFT_OUT:
            _remove(site, d.files)
            left.append(d)
        elif d.name in CARRIED:
            if carried_to is None:
                raise BuildError(f"{d.label} is compiled only and this build carries no compiled code")
            _move(site, d.files, carried_to)
            carried.append(d)
        elif d.name in PURE_FALLBACK and d.extensions():
            _remove(site, d.extensions())
            fallbacks.append(d)
    return Decision(tuple(carried), tuple(fallbacks), tuple(left))


def _remove(site: Path, files: tuple[str, ...] | list[str]) -> None:
    for rel in files:
        (site / rel).unlink(missing_ok=True)
    _prune_empty(site)


def _move(site: Path, files: tuple[str, ...], dest: Path) -> None:
    for rel in files:
        src = site / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(src), dest / rel)
    _prune_empty(site)


def _prune_empty(root: Path) -> None:
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(folder.iterdir()):
            folder.rmdir()
