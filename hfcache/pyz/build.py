"""Build ``hfcache.pyz``: pip stages the libraries, the policy decides on compiled code, and the
standard library's ``zipapp`` writes the single file.

The zip is deterministic: entries sorted, every timestamp 1980-01-01, fixed permissions, no
build time inside, so two builds of the same sources and library versions are the same bytes
(``zipapp.create_archive`` over a folder sorts only from Python 3.12 and keeps file times, so
the zip is written with ``zipfile`` first and ``zipapp`` only adds the ``#!/usr/bin/env python3``
line and the executable bit). Its layout::

    __main__.py              hfcache/pyz/boot.py: unpack, then run hfcache
    _hfcache_pyz.json        the build's description (hfcache/pyz/info.py)
    site/...                 pure-Python libraries, hfcache among them
    native/<key>/...         compiled libraries for one platform key (cp311-manylinux_x86_64)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import zipapp
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hfcache.progress import NO_PROGRESS, Progress
from hfcache.pyz import boot, policy, stage
from hfcache.pyz.info import PyzInfo
from hfcache.results import EXIT_OK

INTERPRETER = "/usr/bin/env python3"
_EPOCH = (1980, 1, 1, 0, 0, 0)
_DROP_NAMES = {"direct_url.json", "INSTALLER", "REQUESTED"}  # where and how it was installed here


@dataclass(frozen=True)
class BuildResult:
    """The pyz written: where, how big, its sha256 and its description."""

    path: str
    size: int
    sha256: str
    info: PyzInfo
    entries: int

    @property
    def exit_code(self) -> int:
        return EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "entries": self.entries,
            "pyz": self.info.to_json(),
        }


def default_repo() -> Path:
    """The source checkout the running hfcache comes from (the folder holding ``hfcache/``)."""
    return Path(__file__).resolve().parents[2]


def build_pyz(
    output: str | os.PathLike[str],
    *,
    release: bool = False,
    repo: Path | None = None,
    pip_args: Sequence[str] = (),
    progress: Progress = NO_PROGRESS,
) -> BuildResult:
    """Write ``output``, a zipapp of hfcache (from the checkout ``repo``) and its libraries.

    ``release``: resolve the libraries from the package index and carry compiled ones for
    every :data:`stage.RELEASE_PYTHONS` x :data:`stage.RELEASE_MACHINES` (needs the index, or
    ``pip_args`` such as ``--no-index --find-links DIR``). Otherwise take the libraries of the
    running environment, offline, and carry this interpreter's compiled ones only.
    Raises :class:`policy.BuildError` when the libraries cannot be staged.
    """
    repo = repo or default_repo()
    with tempfile.TemporaryDirectory(prefix="hfcache-pyz-") as tmp:
        work = Path(tmp)
        payload = work / "payload"
        site = payload / boot.SITE_DIR
        source = stage.copy_source(repo, work / "src")
        progress.start("staging libraries with pip", None)
        requirements = stage.stage_hfcache(site, source)
        unstaged: list[str] = []
        if release:
            first = (stage.RELEASE_PYTHONS[0], stage.RELEASE_MACHINES[0])
            stage.stage_release(site, requirements, python=first[0], machine=first[1], pip_args=pip_args)
            first_key = stage.release_key(*first)
            python_min = first[0]
        else:
            unstaged = stage.stage_env(site, requirements)
            first_key = boot.platform_key()
            python_min = (sys.version_info[0], sys.version_info[1])
        dists = stage.site_dists(site)
        decision = policy.apply(site, dists, payload / boot.NATIVE_DIR / first_key)
        keys = [first_key] if decision.carried else []
        if decision.carried and release:
            for py in stage.RELEASE_PYTHONS:
                for machine in stage.RELEASE_MACHINES:
                    key = stage.release_key(py, machine)
                    if key != first_key:
                        for dist in decision.carried:
                            stage.fetch_native(dist, py, machine, payload / boot.NATIVE_DIR / key, pip_args)
                        keys.append(key)
        progress.finish()
        _tidy(payload)
        shutil.copyfile(Path(boot.__file__), payload / "__main__.py")
        names = _entries(payload)
        info = PyzInfo(
            build_id=_digest(payload, names),
            hfcache_version=next(d.version for d in dists if d.name == "hfcache"),
            source="release" if release else "env",
            python_min=python_min,
            natives=tuple(sorted(keys)),
            native_dists=tuple(d.label for d in decision.carried),
            pure_fallbacks=tuple(d.label for d in decision.pure_fallbacks),
            left_out=tuple(sorted([*(d.label for d in decision.left_out), *unstaged])),
            distributions={d.name: d.version for d in dists if d not in decision.left_out},
        )
        (payload / boot.INFO_NAME).write_text(json.dumps(info.to_json(), indent=1, sort_keys=True) + "\n")
        names = sorted([*names, boot.INFO_NAME])
        zipped = work / "app.zip"
        _write_zip(payload, names, zipped)
        out = Path(output)
        partial = out.with_name(f".{out.name}.partial")
        zipapp.create_archive(zipped, partial, interpreter=INTERPRETER)
        partial.chmod(0o755)  # ./hfcache.pyz runs it too
        os.replace(partial, out)
    data = out.read_bytes()
    return BuildResult(str(out), len(data), hashlib.sha256(data).hexdigest(), info, len(names))


def _tidy(payload: Path) -> None:
    """Leave out what only made sense where it was installed: bytecode, scripts, install records."""
    for root in [payload / boot.SITE_DIR, *(payload / boot.NATIVE_DIR).glob("*")]:
        shutil.rmtree(root / "bin", ignore_errors=True)  # pip --target's console scripts
        for path in sorted(root.rglob("*"), reverse=True):
            if path.is_dir() and path.name == "__pycache__":
                shutil.rmtree(path)
            elif path.is_file() and (path.suffix == ".pyc" or _install_record(path)):
                path.unlink()
        for record in root.glob("*.dist-info/RECORD"):
            _trim_record(root, record)


def _install_record(path: Path) -> bool:
    return path.name in _DROP_NAMES and path.parent.name.endswith(".dist-info")


def _trim_record(root: Path, record: Path) -> None:
    """Keep only the RECORD rows of files the pyz holds (not the scripts, extensions and install
    records left out; ``direct_url.json`` would name this build's temporary folder)."""
    rows = record.read_text().splitlines(keepends=True)
    kept = [r for r in rows if (name := r.split(",", 1)[0]) and (root / name).is_file()]
    record.write_text("".join(kept))


def _entries(payload: Path) -> list[str]:
    return sorted(p.relative_to(payload).as_posix() for p in payload.rglob("*") if p.is_file())


def _digest(payload: Path, names: list[str]) -> str:
    """sha256 over each file's name and bytes, in order: the build's identity."""
    h = hashlib.sha256()
    for name in names:
        data = (payload / name).read_bytes()
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def _write_zip(payload: Path, names: list[str], target: Path) -> None:
    """Sorted entries, fixed times and modes: the same inputs give the same bytes."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for name in names:
            entry = zipfile.ZipInfo(name, date_time=_EPOCH)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(entry, (payload / name).read_bytes())
