"""``hfcache pack --with-hfcache``: put ``hfcache.pyz`` beside the bundle, for a server with only Python.

Where the pyz comes from: a prebuilt one, never one built at pack time. A pyz built from the
laptop's own environment would carry the laptop's compiled libraries (macOS, or another
Python version) and fail only on the server, the one place where nothing can be fixed. So pack
copies, in this order:

1. the file ``$HFCACHE_PYZ`` names (the release artifact, or ``tools/build_pyz.py``'s output);
2. the pyz this hfcache runs from (``python3 hfcache.pyz pack … --with-hfcache`` carries itself).

Otherwise it refuses before packing anything, saying how to get one. Either way the file is
checked to be an hfcache.pyz (its ``_hfcache_pyz.json``) and copied under a temporary name,
renamed into place when complete.
"""

from __future__ import annotations

import filecmp
import os
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hfcache.errors import BadInputError
from hfcache.pyz.info import PyzInfo, read_pyz, running_pyz
from hfcache.results import Result

PYZ_NAME = "hfcache.pyz"
ENV_VAR = "HFCACHE_PYZ"
NO_PYZ = (
    f"--with-hfcache needs an {PYZ_NAME} to carry: set {ENV_VAR}=/path/to/{PYZ_NAME} (the release "
    f"download, or build one: python tools/build_pyz.py --release), or run pack from {PYZ_NAME} itself"
)


def find_pyz() -> tuple[Path, PyzInfo]:
    """The pyz to carry and its description; :class:`BadInputError` when there is none."""
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise BadInputError(f"{ENV_VAR} names {explicit}, which is not a file")
        return path, read_pyz(path)
    running = running_pyz()
    if running is not None:
        return running, read_pyz(running)
    raise BadInputError(NO_PYZ)


def destination(beside: str | None) -> Path:
    """Where the pyz goes: the folder of the bundle (``None``: the current folder)."""
    return Path(beside or ".").absolute().parent / PYZ_NAME


def check_destination(source: Path, dest: Path, overwrite: bool) -> None:
    """Refuse, before any packing, to replace a different hfcache.pyz without ``--force``."""
    if dest.exists() and not overwrite and not _same(source, dest):
        raise BadInputError(f"{dest} exists and is another file: --force replaces it")


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or filecmp.cmp(a, b, shallow=False)
    except OSError:
        return False


@dataclass(frozen=True)
class CarriedPyz:
    """The hfcache.pyz written beside a bundle, and what to type on the server."""

    path: str
    source: str
    size: int
    info: PyzInfo
    unpack_target: str
    """What ``unpack`` is given on the server: the bundle's file name, beside the pyz."""

    @property
    def commands(self) -> list[str]:
        """The three commands an admin types on the server, in the folder holding both files."""
        run = f"python3 {PYZ_NAME}"
        return [f"{run} unpack {shlex.quote(self.unpack_target)}", f"{run} doctor", f"{run} serve"]

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "source": self.source,
            "size": self.size,
            "build_id": self.info.build_id,
            "hfcache_version": self.info.hfcache_version,
            "python_min": list(self.info.python_min),
            "platforms": list(self.info.natives) or ["any"],
            "server_commands": self.commands,
        }


def carry_pyz(source: Path, info: PyzInfo, dest: Path, unpack_target: str) -> CarriedPyz:
    """Copy ``source`` to ``dest`` (unless it is already that file), complete or not at all."""
    if not _same(source, dest):
        partial = dest.with_name(f".{dest.name}.partial")
        try:
            shutil.copyfile(source, partial)
            partial.chmod(0o755)  # runs as ./hfcache.pyz too (it starts with #!/usr/bin/env python3)
            os.replace(partial, dest)
        finally:
            partial.unlink(missing_ok=True)
    return CarriedPyz(str(dest), str(source), dest.stat().st_size, info, unpack_target)


@dataclass(frozen=True)
class WithPyz:
    """A pack result and the pyz written beside it: one JSON document, the pack's exit status."""

    result: Result
    pyz: CarriedPyz

    @property
    def exit_code(self) -> int:
        return self.result.exit_code

    def to_json(self) -> dict[str, Any]:
        return {**self.result.to_json(), "hfcache_pyz": self.pyz.to_json()}
