"""One judgement of one scanned part of a cache: its entries classified, hashed if asked, checked.

:func:`hfcache.doctor.diagnose.diagnose` judges a whole cache as one part, or a large one as
several (:mod:`hfcache.doctor.stream`); :func:`hfcache.doctor.scope.judge_repo` judges one repo
for the commands that read a revision. All of them run the same checks through :func:`run_checks`.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

from hfcache.doctor.blind import blinded
from hfcache.doctor.checks import CHECKS
from hfcache.doctor.context import Context, Wide
from hfcache.doctor.fold import fold
from hfcache.doctor.lost import LostSnapshots, with_lost
from hfcache.doctor.stranded import Strand, with_strands
from hfcache.doctor.verify import Verification, verify
from hfcache.findings import Finding
from hfcache.fs.digests import DigestStore
from hfcache.model import Cache
from hfcache.progress import NO_PROGRESS, Progress
from hfcache.scan.entries import EntryDiag, diagnose_cache

_pause_lock = threading.Lock()
_pause_depth = 0
_resume = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Hold off CPython's cyclic garbage collector while the doctor builds its model of a cache.

    A structural run makes a few objects per file (a node per snapshot entry and blob, a tree
    entry, an entry diagnosis), none of them in a reference cycle, and keeps them to the end. The
    collector, started by allocation counts, would walk all of them again and again, the older
    ones through whole-heap passes: a tenth to a fifth of a large run, more in a process that
    holds much else. Reference counting frees everything as before; cycles made meanwhile (by
    this thread or another) wait for the collector, which runs again once the outermost pause
    ends. Nested and concurrent pauses are counted, so the collector is resumed once, and only if
    it was running when the first began.
    """
    global _pause_depth, _resume
    with _pause_lock:
        if _pause_depth == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pause_depth += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pause_depth -= 1
            if _pause_depth == 0 and _resume:
                gc.enable()


def _sort_key(f: Finding) -> tuple[str, int, str, str]:
    return (f.repo or "", f.severity.rank, f.path, f.code)


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """The report's order: by repo (cache-wide findings first), severity, path and code."""
    return sorted(findings, key=_sort_key)


def run_checks(
    cache: Cache,
    diags: list[EntryDiag],
    verification: Verification | None,
    strands: Sequence[Strand] = (),
    lost: Sequence[LostSnapshots] = (),
    wide: Wide | None = None,
) -> list[Finding]:
    """Every check of the registry over an already scanned cache, in a stable order."""
    ctx = Context(cache, diags, verification, tuple(strands), tuple(lost), wide)
    found: Iterator[Finding] = (f for check in CHECKS for f in check(ctx))
    if cache.local_dir:
        found = _without_fixes(found)
    return fold(blinded(sort_findings(list(found)), cache.root), diags)


def concerns(f: Finding, commit: str, entries: Collection[str]) -> bool:
    """Is a finding about the revision ``commit`` whose snapshot entries are ``entries``: its place
    is that commit, its blob holds one of those files, or it concerns every revision of its repo."""
    if f.place.commit is not None:
        return f.place.commit == commit or any(path in entries for path in f.about)
    if f.about:
        return any(path in entries for path in f.about)
    return f.info.whole_repo


def _without_fixes(findings: Iterator[Finding]) -> Iterator[Finding]:
    """A plain model folder is not a cache: nothing there is relinked or adopted as a blob."""
    for f in findings:
        yield replace(f, fix=None) if f.fix is not None else f


@dataclass(frozen=True)
class Hashing:
    """How a judgement hashes: not at all (``None``), or with these digests and records."""

    verify_hashes: bool
    progress: Progress = NO_PROGRESS
    store: DigestStore | None = None
    known: Verification | None = None
    store_entries: bool = True
    """Hash the shared store's entries too (a part judged after the one that hashed them: no)."""
    corrupt: frozenset[str] = frozenset()
    """Content an earlier part found corrupt (store entries), for this part's repair rules."""


@dataclass(frozen=True)
class Judged:
    """A part's entries, findings, and what its hashing found."""

    diags: list[EntryDiag]
    findings: list[Finding]
    verification: Verification | None


def judge_part(cache: Cache, hashing: Hashing | None, wide: Wide | None = None) -> Judged:
    """Classify every entry of ``cache``, hash its content if ``hashing`` says so, run every check."""
    with collector_paused():  # not while hashing, which may take hours and makes few objects
        diags, lost = with_lost(cache, diagnose_cache(cache))
        diags, strands = with_strands(cache, diags)
        if hashing is None:
            return Judged(diags, run_checks(cache, diags, None, strands, lost, wide), None)
    verification = verify(
        cache,
        diags,
        progress=hashing.progress,
        known=hashing.known,
        only_known=not hashing.verify_hashes,
        store=hashing.store,
        store_entries=hashing.store_entries,
    )
    judged = verification
    if hashing.corrupt:
        judged = replace(verification, corrupt=verification.corrupt | hashing.corrupt)
    with collector_paused():
        return Judged(diags, run_checks(cache, diags, judged, strands, lost, wide), verification)
