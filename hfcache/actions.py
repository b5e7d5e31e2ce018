"""Repair actions as values: what ``--fix`` will do about a finding.

A finding's ``fix`` *is* one of these, built by the check that found the problem; the plan is
the ordered set of the findings' actions and nothing else, so what the report promises and
what ``--fix`` does can never drift apart. :mod:`hfcache.repair.apply` executes them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Step(str, Enum):
    """What one action does, in the order a plan runs them (content before links to it)."""

    QUARANTINE_BLOB = "quarantine-blob"  # park a blob that failed verification
    RESTORE = "restore-bytes"  # undo a transfer's rewrite (CRLF...), verify, install as the blob
    ADOPT = "adopt-copy"  # verify a full copy, make it blobs/<etag>, link the entry to it
    LINK = "link"  # make the entry a relative link to an existing (or just adopted) blob
    REF = "rewrite-ref"  # write a ref as exactly 40 hex characters
    QUARANTINE_LEFTOVER = "quarantine-leftover"  # park a stale partial download or lock file
    PARK = "park"  # move a file that stands where a folder belongs (or is never read) into the quarantine
    QUARANTINE_LISTING = "quarantine-listing"  # park a tree listing the client ignores


_ORDER = {step: i for i, step in enumerate(Step)}


@dataclass(frozen=True)
class Action:
    """One repair step on one path.

    ``repo`` is the repo folder name (``models--org--name``), or ``None`` for cache-wide leftovers.
    ``etag`` is the blob the step installs or links to; ``None`` for a copy whose blob id its
    content decides. ``needs_verify``: the problem is only known from hashing, so only
    ``--fix --verify`` finds and repairs it.
    """

    step: Step
    repo: str | None
    path: str
    etag: str | None = None
    leftover: str | None = None
    commit: str | None = None
    lfs: bool = False
    rewrite: str | None = None
    replaces_file: bool = False
    needs_verify: bool = False
    store: str | None = None
    """The shared-store entry to link a missing ``blobs/<etag>`` to first (a ``LINK`` whose blob
    a copy dropped while the store kept its bytes)."""

    @property
    def order(self) -> tuple[int, str]:
        return _ORDER[self.step], self.path

    def describe(self) -> str:
        """What the step does, in plain words (the ``fix`` line of the report)."""
        blob = f"blobs/{self.etag}" if self.etag else "blobs/<its hash>"
        if self.step is Step.ADOPT:
            return f"check the copy's hash, keep its bytes as {blob}, link to it"
        if self.step is Step.LINK:
            kept = " (the old file is kept in quarantine)" if self.replaces_file else ""
            parked = f", park {os.path.basename(self.leftover)} in quarantine" if self.leftover else ""
            entry = os.path.basename(self.store or "")[:12]
            via = f" (itself made a link to the shared store entry {entry}…)" if self.store else ""
            return f"replace with a relative link to {blob}{via}{kept}{parked}"
        if self.step is Step.RESTORE:
            return f"undo the {self.rewrite} rewrite, check the result hashes to its name, keep it as {blob}"
        if self.step is Step.QUARANTINE_BLOB:
            return "park the corrupt blob in quarantine so it is never read as good"
        if self.step in (Step.QUARANTINE_LEFTOVER, Step.PARK):
            return "move it into the quarantine (nothing is deleted)"
        if self.step is Step.QUARANTINE_LISTING:
            return "move it into the quarantine; huggingface_hub writes a new one on its next download"
        return f"rewrite it as {self.commit}"

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step.value,
            "repo": self.repo,
            "path": self.path,
            "etag": self.etag,
            "commit": self.commit,
            "leftover": self.leftover,
            "rewrite": self.rewrite,
            "needs_verify": self.needs_verify,
            "store": self.store,
            "description": self.describe(),
        }


@dataclass(frozen=True)
class Plan:
    """The ordered, de-duplicated actions of a report's findings: exactly what ``--fix`` runs.

    ``resolves`` maps each action to the (code, path) of every finding it repairs.
    """

    cache_root: str
    actions: tuple[Action, ...]
    resolves: dict[Action, tuple[tuple[str, str], ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, cache_root: str, fixes: Iterable[tuple[str, str, Action]]) -> Plan:
        """Build the plan from (finding code, finding path, its action) triples."""
        resolves: dict[Action, list[tuple[str, str]]] = {}
        for code, path, action in fixes:
            resolves.setdefault(action, []).append((code, path))
        ordered = tuple(sorted(resolves, key=lambda a: a.order))
        return cls(cache_root, ordered, {a: tuple(resolves[a]) for a in ordered})

    @property
    def needs_verify(self) -> bool:
        return any(a.needs_verify for a in self.actions)

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {**a.to_json(), "resolves": [{"code": c, "path": p} for c, p in self.resolves.get(a, ())]}
            for a in self.actions
        ]
