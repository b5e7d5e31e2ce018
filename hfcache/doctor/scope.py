"""The doctor's judgement of less than a whole cache: one repo, one revision.

Every command that reads a revision (``pack``, ``inspect``, ``fit``, ``serve``, and ``doctor``
given a snapshot folder) gets the same findings the doctor makes about the whole cache, cut to
what concerns that repo or revision: one judgement, however the revision was reached.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hfcache.doctor.judge import concerns, run_checks
from hfcache.doctor.lost import with_lost
from hfcache.doctor.stranded import with_strands
from hfcache.doctor.verify import Verification
from hfcache.findings import Finding
from hfcache.model import Cache, Repo
from hfcache.scan.entries import EntryDiag, diagnose_revision

__all__ = ["Judgement", "concerns", "judge_repo"]


@dataclass(frozen=True)
class Judgement:
    """The doctor's verdict on one repo: its entries (those a strand identified included) and
    every finding about it."""

    diags: tuple[EntryDiag, ...]
    findings: tuple[Finding, ...]


def judge_repo(cache: Cache, repo: Repo, verification: Verification | None = None) -> Judgement:
    """The doctor's findings about one repo of an already scanned cache (cache-wide judgements
    such as orphan store entries and stale lock folders are left to a run over the whole cache)."""
    scope = replace(
        cache,
        repos=(repo,),
        locks=(),
        findings=tuple(f for f in cache.findings if _blinds(f, repo)),
        partial=True,
    )
    diags = [d for rev in repo.revisions.values() for d in diagnose_revision(scope, repo, rev)]
    diags, lost = with_lost(scope, diags)
    diags, strands = with_strands(scope, diags)
    return Judgement(tuple(diags), tuple(run_checks(scope, diags, verification, strands, lost)))


def _blinds(f: Finding, repo: Repo) -> bool:
    """Is a scan finding about this repo: in its folder, or an unreadable folder above it?"""
    return f.repo == repo.folder or (f.repo is None and f.info.blinds)
