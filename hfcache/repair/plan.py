"""Turn a doctor report into a repair :class:`Plan`: a list of actions, computed before anything is written.

The plan is what ``doctor`` shows without ``--fix`` and what :func:`hfcache.repair.apply.apply`
executes with it. Actions come in a crash-safe order: content first (copies adopted as blobs),
then links to it, then refs.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from enum import Enum
from typing import Any

from hfcache import layout
from hfcache.doctor import Report
from hfcache.doctor.checks.blobs import usable_blobs
from hfcache.doctor.checks.refs import clean_ref
from hfcache.doctor.checks.snapshots import FORM_CODES, copy_sources
from hfcache.scan.entries import PLACEHOLDER_FORMS, EntryDiag, Form

# Files the Hub stores with LFS by default (its default .gitattributes), used only when a
# revision has neither a tree listing nor a .gitattributes of its own.
_LFS_MIN_SIZE = 10 * 1024 * 1024


class Step(str, Enum):
    """What one action does."""

    ADOPT = "adopt-copy"  # verify a full copy, make it blobs/<etag>, link the entry to it
    LINK = "link"  # make the entry a relative link to an existing blob
    QUARANTINE_BLOB = "quarantine-blob"  # park a blob that failed verification
    REF = "rewrite-ref"  # write a ref as exactly 40 hex characters


@dataclass(frozen=True)
class Action:
    """One repair step on one path. ``etag`` is ``None`` for a copy whose blob id the content decides."""

    step: Step
    repo: str
    path: str
    code: str
    etag: str | None = None
    leftover: str | None = None
    commit: str | None = None
    lfs: bool = False

    def describe(self) -> str:
        if self.step is Step.ADOPT:
            blob = f"blobs/{self.etag}" if self.etag else "blobs/<its hash>"
            return f"check the copy's hash, keep its bytes as {blob}, link to it"
        if self.step is Step.LINK:
            return f"link to blobs/{self.etag}" + (
                f", park {os.path.basename(self.leftover)}" if self.leftover else ""
            )
        if self.step is Step.QUARANTINE_BLOB:
            return "park the corrupt blob in quarantine so it is never read as good"
        return f"write {self.commit}"

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step.value,
            "repo": self.repo,
            "path": self.path,
            "code": self.code,
            "etag": self.etag,
            "commit": self.commit,
            "leftover": self.leftover,
            "description": self.describe(),
        }


@dataclass(frozen=True)
class Plan:
    """The ordered repair actions for a report."""

    cache_root: str
    actions: tuple[Action, ...]

    def to_json(self) -> list[dict[str, Any]]:
        return [a.to_json() for a in self.actions]


def lfs_attributes(diags: list[EntryDiag]) -> list[str]:
    """``filter=lfs`` patterns of a revision's .gitattributes, if it has a readable one."""
    for d in diags:
        if d.name == ".gitattributes" and d.form is Form.COPY and d.node is not None:
            path = d.node.path
        elif d.name == ".gitattributes" and d.linked_blob is not None:
            path = os.path.join(d.repo.path, layout.BLOBS, d.linked_blob)
        else:
            continue
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read(256 * 1024)
        except OSError:
            return []
        return [line.split()[0] for line in text.splitlines() if "filter=lfs" in line and line.split()]
    return []


def is_lfs(name: str, size: int, patterns: list[str]) -> bool:
    """Would the Hub store this file with LFS (so its blob is named by sha256)?"""
    base = name.rsplit("/", 1)[-1]
    if patterns:
        return any(fnmatch.fnmatch(base, p) or fnmatch.fnmatch(name, p) for p in patterns)
    return name.endswith(layout.WEIGHT_SUFFIXES) or size >= _LFS_MIN_SIZE


def make_plan(report: Report) -> Plan:
    """Every action ``--fix`` would take for ``report``."""
    cache = report.cache
    if cache.local_dir:
        return Plan(cache.root, ())
    corrupt = report.verification.corrupt if report.verification else set()
    blobs = usable_blobs(cache, corrupt)
    copies = copy_sources(list(report.diags), corrupt)
    adopts: list[Action] = []
    links: list[Action] = []
    by_rev: dict[tuple[str, str], list[EntryDiag]] = {}
    for d in report.diags:
        by_rev.setdefault((d.repo.folder, d.revision.commit), []).append(d)
    for diags in by_rev.values():
        patterns: list[str] | None = None
        for d in diags:
            key = (d.repo.folder, d.etag or "")
            here = key in blobs or key in copies
            if d.form is Form.COPY and d.node is not None:
                if d.expected_size is not None and d.node.size != d.expected_size:
                    if key in blobs:
                        links.append(Action(Step.LINK, d.repo.folder, d.path, "entry-size-mismatch", d.etag))
                    continue
                if d.node.path in corrupt:
                    continue
                if patterns is None:
                    patterns = lfs_attributes(diags)
                lfs = is_lfs(d.name, d.node.size, patterns)
                adopts.append(Action(Step.ADOPT, d.repo.folder, d.path, "entry-full-copy", d.etag, lfs=lfs))
            elif d.wrong_blob is not None and here:
                links.append(Action(Step.LINK, d.repo.folder, d.path, "entry-wrong-blob", d.etag))
            elif d.form is Form.LINK_ABSOLUTE:
                links.append(Action(Step.LINK, d.repo.folder, d.path, "link-absolute", d.linked_blob))
            elif here and (d.form in PLACEHOLDER_FORMS or d.form in _BROKEN_LINKS or d.form is Form.MISSING):
                code = FORM_CODES[d.form]
                links.append(Action(Step.LINK, d.repo.folder, d.path, code, d.etag, leftover=d.leftover))
    quarantines = [
        Action(Step.QUARANTINE_BLOB, repo.folder, node.path, "blob-hash-mismatch", etag)
        for repo in cache.repos
        for etag, node in repo.blobs.items()
        if node.path in corrupt and (repo.folder, etag) not in copies
    ]
    refs = [
        Action(
            Step.REF,
            repo.folder,
            os.path.join(repo.path, layout.REFS, *name.split("/")),
            "ref-malformed",
            commit=commit,
        )
        for repo in cache.repos
        for name, raw in sorted(repo.refs.items())
        if (commit := clean_ref(raw)) is not None and raw != commit.encode()
    ]
    return Plan(cache.root, tuple(quarantines + adopts + links + refs))


_BROKEN_LINKS = frozenset(
    {Form.LINK_BACKSLASH, Form.LINK_FOREIGN, Form.LINK_MISSING, Form.LINK_OUTSIDE, Form.LINK_BAD}
)
