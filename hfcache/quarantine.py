"""The quarantine: what ``--fix`` moved out of the way instead of deleting, listed and emptied.

``--fix`` never deletes bytes it has not verified as duplicates; it moves them to
``<repo folder>/.hfcache/quarantine/<time>/`` (cache-wide leftovers to
``<cache>/.locks/.hfcache/quarantine/<time>/``), where huggingface_hub never looks. Each
``<time>`` folder is one *item*. Emptying is the user's decision: :func:`empty_quarantine`
is a dry run unless told otherwise, and removes only folders inside those two places.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from dataclasses import dataclass
from typing import Any

from hfcache import layout
from hfcache.layout import Location, PathKind, locate


@dataclass(frozen=True)
class QuarantineItem:
    """One ``<time>`` folder of a quarantine: what one ``--fix`` run parked there."""

    repo: str | None
    stamp: str
    path: str
    files: int
    bytes: int
    mtime: float

    def to_json(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "stamp": self.stamp,
            "path": self.path,
            "files": self.files,
            "bytes": self.bytes,
        }


@dataclass(frozen=True)
class Quarantine:
    """Every quarantine item of a cache."""

    cache_root: str
    items: tuple[QuarantineItem, ...]

    @property
    def bytes(self) -> int:
        return sum(i.bytes for i in self.items)

    @property
    def files(self) -> int:
        return sum(i.files for i in self.items)

    def to_json(self) -> dict[str, Any]:
        return {
            "cache_dir": self.cache_root,
            "items": [i.to_json() for i in self.items],
            "files": self.files,
            "bytes": self.bytes,
        }


@dataclass(frozen=True)
class EmptyResult:
    """What :func:`empty_quarantine` removed, or would remove (``dry_run``)."""

    quarantine: Quarantine
    removed: tuple[QuarantineItem, ...]
    dry_run: bool

    @property
    def bytes(self) -> int:
        return sum(i.bytes for i in self.removed)

    @property
    def emptied(self) -> bool:
        """Were the items really deleted (``--empty --yes``)?"""
        return not self.dry_run

    @property
    def exit_code(self) -> int:
        return 0

    def to_json(self) -> dict[str, Any]:
        return {
            **self.quarantine.to_json(),
            "dry_run": self.dry_run,
            "emptied": self.emptied,
            "removed": [i.to_json() for i in self.removed],
            "removed_bytes": self.bytes,
        }


def _roots(loc: Location) -> list[tuple[str | None, str]]:
    """(repo folder or None, quarantine root) for every repo folder of the location."""
    if loc.kind is PathKind.LOCAL_DIR:
        return []
    roots: list[tuple[str | None, str]] = []
    if loc.only_repo is None:
        roots.append((None, layout.cache_quarantine_root(loc.cache_root)))
    try:  # one repo folder: no listing of a cache root that may hold thousands
        names = [loc.only_repo] if loc.only_repo is not None else sorted(os.listdir(loc.cache_root))
    except OSError:
        return roots
    for name in names:
        if (loc.only_repo is None or name == loc.only_repo) and layout.parse_repo_folder(name) is not None:
            roots.append((name, layout.quarantine_root(os.path.join(loc.cache_root, name))))
    return roots


def _is_real_dir(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _real_dirs_down_to(top: str, path: str) -> bool:
    """Is every folder from ``top`` down to ``path`` a real folder, no link among them?

    A link planted anywhere on the way could otherwise lead a listing, or worse a removal,
    out of the cache.
    """
    rel = os.path.relpath(path, top)
    if rel.startswith(os.pardir):
        return False
    current = top
    for part in rel.split(os.sep):
        current = os.path.join(current, part)
        if not _is_real_dir(current):
            return False
    return True


def _measure(path: str) -> tuple[int, int]:
    files = size = 0
    for dirpath, _, names in os.walk(path):  # os.walk does not follow links into folders
        for name in names:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            files += 1
            size += st.st_size if stat.S_ISREG(st.st_mode) else 0
    return files, size


def list_quarantine(loc: Location) -> Quarantine:
    """Every item in the quarantines of the cache (or repo folder) ``loc`` names. Reads, never writes."""
    items: list[QuarantineItem] = []
    for repo, root in _roots(loc):
        if not _real_dirs_down_to(loc.cache_root, root):
            continue
        for stamp in sorted(os.listdir(root)):
            path = os.path.join(root, stamp)
            if _is_real_dir(path):
                files, size = _measure(path)
                items.append(QuarantineItem(repo, stamp, path, files, size, os.lstat(path).st_mtime))
    return Quarantine(loc.cache_root, tuple(items))


def empty_quarantine(
    target: str | os.PathLike[str] | Location | None,
    *,
    dry_run: bool = True,
    older_than_days: float | None = None,
) -> EmptyResult:
    """Remove quarantine items of a cache or repo folder (only those older than
    ``older_than_days``, if given); ``None``: the cache huggingface_hub uses.

    With ``dry_run`` (the default) nothing is removed: the result says what would be.
    """
    loc = target if isinstance(target, Location) else locate(target)
    quarantine = list_quarantine(loc)
    cutoff = time.time() - older_than_days * 86400 if older_than_days is not None else None
    chosen = tuple(i for i in quarantine.items if cutoff is None or i.mtime < cutoff)
    if not dry_run:
        for item in chosen:
            if _real_dirs_down_to(loc.cache_root, item.path):  # checked again, just before
                shutil.rmtree(item.path)
    return EmptyResult(quarantine, chosen, dry_run)
