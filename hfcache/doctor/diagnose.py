"""``doctor``: scan a cache, run every check, optionally hash, and return a :class:`Report`.

This is the library entry point the CLI calls; it prints nothing and raises only
:class:`hfcache.errors.BadInputError` for a path it cannot work on.
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from hfcache.actions import Plan
from hfcache.doctor.blind import blinded
from hfcache.doctor.checks import CHECKS
from hfcache.doctor.context import Context
from hfcache.doctor.fold import fold
from hfcache.doctor.lost import LostSnapshots, with_lost
from hfcache.doctor.stranded import Strand, with_strands
from hfcache.doctor.verify import Verification, verify
from hfcache.findings import Finding, Severity
from hfcache.fs.digests import DigestStore
from hfcache.layout import Location, locate
from hfcache.model import Cache, Kind
from hfcache.progress import NO_PROGRESS, Progress
from hfcache.quarantine import Quarantine, list_quarantine
from hfcache.results import EXIT_OK, EXIT_PROBLEMS
from hfcache.scan import scan_location
from hfcache.scan.entries import EntryDiag, Form, diagnose_cache


@dataclass(frozen=True)
class Summary:
    """Counts for the report's last lines and the JSON ``summary`` object."""

    repos: int
    revisions: int
    files: int
    bytes: int
    bytes_hashed: int
    bytes_reused: int
    errors: int
    warnings: int
    infos: int
    fixable: int
    reclaimable: int
    prunable: int = 0
    """Bytes that findings without a fix say ``hf cache prune`` would reclaim (orphans)."""
    quarantine_items: int = 0
    quarantine_bytes: int = 0

    def to_json(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Report:
    """Everything one doctor run learnt. ``findings`` are sorted by repo, severity and path."""

    location: Location
    cache: Cache
    diags: tuple[EntryDiag, ...]
    findings: tuple[Finding, ...]
    verification: Verification | None
    quarantine: Quarantine | None = None

    @property
    def problems(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is not Severity.INFO)

    @property
    def summary(self) -> Summary:
        cache = self.cache
        content = sum(n.size for r in cache.repos for n in r.blobs.values() if n.kind is Kind.FILE)
        content += sum(n.size for n in (cache.store.entries.values() if cache.store else ()))
        content += sum(d.node.size for d in self.diags if d.form is Form.COPY and d.node is not None)
        count = {s: sum(1 for f in self.findings if f.severity is s) for s in Severity}
        fixable = [f for f in self.findings if f.fixable]
        return Summary(
            repos=len(cache.repos),
            revisions=1 if self.location.commit else sum(len(r.revisions) for r in cache.repos),
            files=len(self.diags),
            bytes=content,
            bytes_hashed=self.verification.bytes_hashed if self.verification else 0,
            bytes_reused=self.verification.bytes_reused if self.verification else 0,
            errors=count[Severity.ERROR],
            warnings=count[Severity.WARNING],
            infos=count[Severity.INFO],
            fixable=len(fixable),
            reclaimable=sum(f.reclaimable for f in fixable),
            prunable=sum(f.reclaimable for f in self.findings if not f.fixable),
            quarantine_items=len(self.quarantine.items) if self.quarantine else 0,
            quarantine_bytes=self.quarantine.bytes if self.quarantine else 0,
        )

    @property
    def plan(self) -> Plan:
        """What ``--fix`` would do: the actions of the findings, de-duplicated, in a crash-safe order."""
        return Plan.of(self.cache.root, ((f.code, f.path, f.fix) for f in self.findings if f.fix is not None))

    @property
    def exit_code(self) -> int:
        return EXIT_PROBLEMS if self.problems else EXIT_OK

    @property
    def revision(self) -> dict[str, Any] | None:
        """With a snapshot folder (or a file in one) given: the repo revision judged."""
        commit = self.location.commit
        if commit is None or not self.cache.repos:
            return None
        repo = self.cache.repos[0]
        refs = repo.refs_to(commit)
        return {
            "repo_id": repo.repo_id,
            "repo_type": repo.repo_type,
            "commit": commit,
            "refs": refs,
            "file": self.location.file,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.location.path,
            "kind": self.location.kind.value,
            "cache_dir": self.cache.root,
            "revision": self.revision,
            "verified": self.verification is not None,
            "summary": self.summary.to_json(),
            "findings": [f.to_json() for f in self.findings],
            "plan": self.plan.to_json(),
        }


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


def run_checks(
    cache: Cache,
    diags: list[EntryDiag],
    verification: Verification | None,
    strands: Sequence[Strand] = (),
    lost: Sequence[LostSnapshots] = (),
) -> list[Finding]:
    """Every check of the registry over an already scanned cache, in a stable order."""
    ctx = Context(cache, diags, verification, tuple(strands), tuple(lost))
    found: Iterator[Finding] = (f for check in CHECKS for f in check(ctx))
    if cache.local_dir:
        found = _without_fixes(found)
    return fold(blinded(sorted(found, key=_sort_key), cache.root), diags)


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


def diagnose(
    target: str | os.PathLike[str] | Location | None = None,
    *,
    verify_hashes: bool = False,
    progress: Progress = NO_PROGRESS,
    store: DigestStore | None = None,
    known: Verification | None = None,
) -> Report:
    """Diagnose a cache, repo folder or model folder (``None``: the cache huggingface_hub uses).

    With ``verify_hashes`` every blob, store entry and full copy is hashed and compared with
    its name or tree listing; ``progress`` then hears about the bytes hashed. With a ``store``,
    files unchanged since an earlier run keep their recorded digests instead of being hashed.
    ``known`` digests (what a repair hashed) are judged as well, also without ``verify_hashes``.
    """
    location = target if isinstance(target, Location) else locate(target)
    hashing = verify_hashes or known is not None
    with collector_paused():  # not while hashing, which may take hours and makes few objects
        cache = scan_location(location)
        diags, lost = with_lost(cache, diagnose_cache(cache))
        diags, strands = with_strands(cache, diags)
        findings = [] if hashing else run_checks(cache, diags, None, strands, lost)
    verification = None
    if hashing:
        # ``known`` digests (a repair's) are judged too; without verify_hashes nothing new is hashed.
        verification = verify(
            cache, diags, progress=progress, known=known, only_known=not verify_hashes, store=store
        )
        with collector_paused():
            findings = run_checks(cache, diags, verification, strands, lost)
    if location.commit is not None:  # a snapshot folder, or a file in one: judge that revision
        diags = [d for d in diags if d.revision.commit == location.commit]
        entries = {d.path for d in diags}
        findings = [f for f in findings if concerns(f, location.commit, entries)]
    shown = verification if verify_hashes else None
    return Report(location, cache, tuple(diags), tuple(findings), shown, list_quarantine(location))
