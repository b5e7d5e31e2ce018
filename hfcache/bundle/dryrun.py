"""What an install of a verified bundle would do to a target, without doing it (``unpack --check``).

Each blob or file is judged the way the install will judge it: already there with the verified
bytes (skipped), absent (written), or there with other bytes (replaced, the old bytes kept in
quarantine). Refs that would move and the space needed are reported beside.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hfcache import layout
from hfcache.bundle.install import local_root
from hfcache.bundle.manifest import Manifest
from hfcache.bundle.receive import existing_ok
from hfcache.fs import fsops

SPACE_MARGIN = 64 * 1000 * 1000
"""Free space unpack keeps beyond what it writes (it refuses to fill a disk to the last byte):
64 MB, decimal like every size hfcache prints, so the output says "64.0 MB" as the docs do."""


@dataclass(frozen=True)
class InstallPlan:
    """Paths an install would write, skip (identical) and replace (into quarantine); refs it moves."""

    target: str
    write: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)
    replace: list[str] = field(default_factory=list)
    refs: list[tuple[str, str, str | None, str]] = field(default_factory=list)
    bytes_needed: int = 0
    bytes_free: int = 0

    @property
    def fits(self) -> bool:
        return self.bytes_needed + SPACE_MARGIN <= self.bytes_free

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "write": self.write,
            "skip": self.skip,
            "replace": self.replace,
            "refs": [{"repo": r, "ref": n, "from": old, "to": new} for r, n, old, new in self.refs],
            "bytes_needed": self.bytes_needed,
            "bytes_margin": SPACE_MARGIN,
            "bytes_free": self.bytes_free,
            "fits": self.fits,
        }


def _free(target: str) -> int:
    path = target
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return shutil.disk_usage(path).free


def plan_cache(
    manifest: Manifest, cache_root: str, existing: Callable[[str, str], str | None]
) -> InstallPlan:
    """What installing ``manifest`` into the hub cache ``cache_root`` would change."""
    plan = InstallPlan(cache_root, bytes_free=_free(cache_root))
    needed = 0
    for (folder, etag), f in sorted(manifest.blobs().items()):
        path = os.path.join(cache_root, folder, layout.BLOBS, etag)
        if existing_ok(existing(folder, etag), etag, f.sha256, f.size):
            plan.skip.append(path)
            continue
        (plan.replace if os.path.lexists(path) else plan.write).append(path)
        needed += f.size
    for repo in manifest.repos:
        repo_path = os.path.join(cache_root, repo.folder)
        for f in repo.files:
            entry = os.path.join(repo_path, layout.SNAPSHOTS, repo.commit, *f.path.split("/"))
            st = fsops.lstat_or_none(entry)
            if st is not None and not stat.S_ISLNK(st.st_mode):
                plan.replace.append(entry)
        for name, commit in sorted(repo.refs.items()):
            try:
                with open(os.path.join(repo_path, layout.REFS, *name.split("/")), encoding="ascii") as ref:
                    old: str | None = ref.read().strip()
            except (OSError, UnicodeDecodeError):
                old = None
            if old != commit:
                plan.refs.append((repo.repo_id, name, old, commit))
    return _with_needed(plan, needed)


def plan_local_dir(manifest: Manifest, target: str) -> InstallPlan:
    """What installing ``manifest`` as plain files under ``target`` would change."""
    plan = InstallPlan(target, bytes_free=_free(target))
    needed = 0
    for repo in manifest.repos:
        root = local_root(target, repo, manifest)
        for f in repo.files:
            dest = os.path.join(root, *f.path.split("/"))
            if existing_ok(dest, f.etag, f.sha256, f.size):
                plan.skip.append(dest)
                continue
            (plan.replace if os.path.lexists(dest) else plan.write).append(dest)
            needed += f.size
    return _with_needed(plan, needed)


def _with_needed(plan: InstallPlan, needed: int) -> InstallPlan:
    return InstallPlan(plan.target, plan.write, plan.skip, plan.replace, plan.refs, needed, plan.bytes_free)
