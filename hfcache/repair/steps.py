"""The steps repairs are made of, shared by every kind of action: hashing, installing, linking.

Each step re-checks the file system as it is now (never the report's picture of it) and raises
:class:`Skip` when it cannot go on safely.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Any, Literal

from hfcache import layout
from hfcache.actions import Action, Plan
from hfcache.doctor.verify import Verification, file_identity
from hfcache.fs import fsops
from hfcache.fs.hashing import Algo, algo_for, hash_file

Status = Literal["done", "skipped", "failed"]


@dataclass(frozen=True)
class Outcome:
    """What became of one action, and the findings (code, path) it was to resolve."""

    action: Action
    status: Status
    detail: str
    quarantined: tuple[str, ...] = ()
    reclaimed: int = 0
    resolves: tuple[tuple[str, str], ...] = ()
    effect: str = ""
    """Where a step can end two ways, which: an adopted copy ``kept`` as the blob, or
    ``deduplicated`` (replaced by a link to a verified blob holding the same bytes)."""

    def to_json(self) -> dict[str, Any]:
        return {
            **self.action.to_json(),
            "status": self.status,
            "effect": self.effect or None,
            "detail": self.detail,
            "quarantined": list(self.quarantined),
            "reclaimed_bytes": self.reclaimed,
            "resolves": [{"code": c, "path": p} for c, p in self.resolves],
        }


class Skip(Exception):
    """An action that cannot be done safely right now; the reason is the message."""


def repo_path(plan: Plan, action: Action) -> str:
    return os.path.join(plan.cache_root, action.repo or "")


def digest(known: Verification, path: str, algo: Algo) -> str:
    """A digest of the file now at ``path``: one already known for it, or computed now (and recorded)."""
    have = known.known(path, frozenset({algo}))
    if have is not None:
        return have[algo]
    identity = file_identity(path)
    result = hash_file(path, [algo])
    if result.error is not None:
        raise Skip(f"cannot hash {path}: {result.error}")
    known.record(path, dict(result.digests), identity)
    return result.digests[algo]


def install_blob(plan: Plan, a: Action, etag: str, tmp: str, known: Verification) -> tuple[str, ...]:
    """Put the verified bytes staged at ``tmp`` in place as ``blobs/<etag>``.

    A blob already there failed verification (or is a broken link): it is kept in quarantine
    and the verified bytes replace it in one rename, so a reader never finds the name missing.
    """
    root = repo_path(plan, a)
    blob = os.path.join(root, layout.BLOBS, etag)
    identity = file_identity(tmp)
    parked: tuple[str, ...] = ()
    st = fsops.lstat_or_none(blob)
    if st is None:
        fsops.publish(tmp, blob)
    else:
        qroot, rel = layout.quarantine_root(root), os.path.relpath(blob, root)
        parked = (fsops.quarantine(blob, qroot, rel, keep=stat.S_ISREG(st.st_mode)),)
        fsops.replace_file(tmp, blob)
    known.record(blob, {algo_for(etag): etag}, identity)
    return parked


def link_entry(plan: Plan, a: Action, etag: str) -> tuple[str, ...]:
    """Make the entry at ``a.path`` a relative link to ``blobs/<etag>``, keeping an old file in quarantine."""
    root = repo_path(plan, a)
    if a.store is not None and fsops.lstat_or_none(os.path.join(root, layout.BLOBS, etag)) is None:
        _link_blob_to_store(plan, root, etag, a.store)
    if fsops.blob_file(plan.cache_root, root, etag) is None:
        raise Skip(f"blobs/{etag} is not there")
    qroot = layout.quarantine_root(root)
    parked: list[str] = []
    st = fsops.lstat_or_none(a.path)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise Skip("a folder stands where the file belongs")
    if st is not None and not stat.S_ISLNK(st.st_mode):
        parked.append(fsops.quarantine(a.path, qroot, os.path.relpath(a.path, root), keep=True))
    fsops.replace_with_link(a.path, os.path.join(root, layout.BLOBS, etag))
    if a.leftover is not None and fsops.lstat_or_none(a.leftover) is not None:
        parked.append(fsops.quarantine(a.leftover, qroot, os.path.relpath(a.leftover, root)))
    return tuple(parked)


def _link_blob_to_store(plan: Plan, root: str, etag: str, entry: str) -> None:
    """Make ``blobs/<etag>`` a relative link to the shared-store ``entry``, as huggingface_hub links
    a repo blob to the store (an entry inside this cache's store, still a regular file)."""
    name = os.path.basename(entry)
    st = fsops.lstat_or_none(entry)
    if entry != layout.store_entry_path(plan.cache_root, name) or st is None or not stat.S_ISREG(st.st_mode):
        raise Skip(f"the shared store entry {name[:12]}… is gone or no longer a file")
    fsops.replace_with_link(os.path.join(root, layout.BLOBS, etag), entry)
