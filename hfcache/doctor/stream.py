"""A cache of many repos judged a few repos at a time, so that memory stays flat however many.

Every check but two reads one repo at a time, so each part (:data:`PART_REPOS` repos) is scanned,
judged and let go, keeping only its findings and counts. The two cache-wide checks, shared-store
entries no repo needs and lock folders of repos no longer there, run last over the root alone,
told by :class:`~hfcache.doctor.context.Wide` what the parts held. Root findings that can blind
a repo's (an unreadable folder above it) are given to every part, and said once. The store's
entries are hashed with the first part, whose verdicts the later parts' repair rules hear.
With ``--verify`` and a progress bar, a first pass over the parts counts the bytes to hash, so
that one bar covers them all (it adds about a quarter to a verify of thousands of tiny repos and
nothing next to hashing real models; it is skipped when no one watches).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace

from hfcache.doctor.checks.blobs import store_users
from hfcache.doctor.context import Wide
from hfcache.doctor.judge import Hashing, collector_paused, judge_part, sort_findings
from hfcache.doctor.report import Tally
from hfcache.doctor.verify import Verification, plan_jobs
from hfcache.findings import Finding
from hfcache.model import Cache, RepoFolder
from hfcache.progress import NO_PROGRESS, Progress
from hfcache.scan.cache import scan_folder
from hfcache.scan.entries import diagnose_cache
from hfcache.scan.top import CacheTop

PART_REPOS = 64
"""Repos judged together: enough to make each part's fixed costs small, few enough to hold."""


def parts_of(top: CacheTop) -> list[tuple[RepoFolder, ...]]:
    """The root's repo folders, in order, :data:`PART_REPOS` at a time."""
    folders = top.folders
    return [folders[i : i + PART_REPOS] for i in range(0, len(folders), PART_REPOS)]


def _scanned(top: CacheTop, part: Sequence[RepoFolder], blinders: tuple[Finding, ...]) -> Cache:
    """One part as a cache of its own: its repos, the shared store, and the root's blinding findings."""
    with collector_paused():
        scanned = [scan_folder(folder) for folder in part]
    findings = blinders + tuple(f for _, found in scanned for f in found)
    repos = tuple(repo for repo, _ in scanned)
    return Cache(top.root, repos, top.store, (), findings, partial=True)


class _OnePhase:
    """The parts' hashing as one progress phase: their own starts and finishes are not passed on,
    and what a part did not hash (digests known already) counts as done when it ends."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self._lock = threading.Lock()
        self._advanced = 0

    def start(self, task: str, total: int | None) -> None:
        pass

    def advance(self, n: int) -> None:
        with self._lock:
            self._advanced += n
        self.progress.advance(n)

    def finish(self) -> None:
        pass

    def part_done(self, total: int) -> None:
        with self._lock:
            rest, self._advanced = total - self._advanced, 0
        if rest > 0:
            self.progress.advance(rest)


def _to_hash(top: CacheTop, parts: list[tuple[RepoFolder, ...]]) -> list[int]:
    """Bytes each part's hashing reads (the first part's include the shared store's entries)."""
    totals = []
    for i, part in enumerate(parts):
        cache = _scanned(top, part, ())
        jobs = plan_jobs(cache, diagnose_cache(cache), store_entries=i == 0)
        totals.append(sum((job.size or 0) * job.passes for job, _ in jobs.values()))
    return totals


def _absorb(total: Verification, part: Verification, digests: bool) -> None:
    total.bytes_hashed += part.bytes_hashed
    total.bytes_reused += part.bytes_reused
    total.corrupt |= part.corrupt
    if digests:
        total.digests.update(part.digests)
        total.identity.update(part.identity)


def judge_in_parts(
    top: CacheTop, hashing: Hashing | None, *, keep_digests: bool = True
) -> tuple[list[Finding], Tally, Verification | None]:
    """Findings, counts and (with ``hashing``) the hashing's totals of a cache judged in parts.

    The verification returned holds every digest with ``keep_digests`` (what ``--fix`` reuses);
    without, only the counts and the corrupt paths, so that memory stays flat.
    """
    parts = parts_of(top)
    blinders = tuple(f for f in top.findings if f.info.blinds)
    echo = {(f.code, f.path) for f in blinders}
    also: dict[tuple[str, str], list[str]] = {}
    findings: list[Finding] = []
    tally = Tally()
    used: set[str] = set()
    total = Verification() if hashing is not None else None
    phase, totals = None, [0] * len(parts)
    if hashing is not None and hashing.verify_hashes and hashing.progress is not NO_PROGRESS:
        totals = _to_hash(top, parts)
        phase = _OnePhase(hashing.progress)
        hashing.progress.start("verify", sum(totals))
    corrupt: frozenset[str] = frozenset()
    try:
        for i, part in enumerate(parts):
            cache = _scanned(top, part, blinders)
            if hashing is not None:
                progress = phase if phase is not None else hashing.progress
                hashing = replace(hashing, store_entries=i == 0, corrupt=corrupt, progress=progress)
            judged = judge_part(cache, hashing)
            for f in judged.findings:
                if f.repo is None and (f.code, f.path) in echo:  # a root finding, said once below
                    also.setdefault((f.code, f.path), []).extend(f.also)
                else:
                    findings.append(f)
            tally += Tally.of(cache, judged.diags, store=False)
            used |= store_users(cache)
            if total is not None and judged.verification is not None:
                if i == 0 and top.store is not None:
                    paths = {n.path for n in top.store.entries.values()}
                    corrupt = frozenset(judged.verification.corrupt & paths)
                _absorb(total, judged.verification, keep_digests)
            if phase is not None:
                phase.part_done(totals[i])
    finally:
        if phase is not None:
            phase.progress.finish()
    root = Cache(top.root, (), top.store, top.locks, top.findings, partial=top.partial)
    wide = Wide(frozenset(f.folder for f in top.folders), frozenset(used))
    judged = judge_part(root, None, wide)
    tally += Tally.of(root, [])
    findings.extend(_with_also(judged.findings, also))
    return sort_findings(findings), tally, total


def _with_also(findings: list[Finding], also: dict[tuple[str, str], list[str]]) -> Iterator[Finding]:
    """The root's findings, each with the codes it explains in every part added to its own."""
    for f in findings:
        more = [c for c in also.get((f.code, f.path), ()) if c not in f.also]
        yield replace(f, also=tuple(dict.fromkeys(f.also + tuple(more)))) if more else f
