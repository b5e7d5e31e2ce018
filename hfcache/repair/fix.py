"""``doctor --fix``: diagnose, run the report's plan, then check again and say what remains."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from hfcache.actions import Plan
from hfcache.doctor import Report, diagnose
from hfcache.doctor.verify import Verification
from hfcache.fs.digests import DigestStore
from hfcache.layout import Location, locate
from hfcache.progress import NO_PROGRESS, Progress
from hfcache.repair.apply import apply, reclaimed
from hfcache.repair.steps import Outcome


@dataclass(frozen=True)
class FixResult:
    """The report before, its plan, what each action did, and the report after."""

    before: Report
    plan: Plan
    outcomes: tuple[Outcome, ...]
    after: Report

    @property
    def fixed(self) -> set[tuple[str, str]]:
        """(code, path) of every finding before the repair that is gone after it."""
        left = {(f.code, f.path) for f in self.after.findings}
        return {(f.code, f.path) for f in self.before.findings} - left

    @property
    def exit_code(self) -> int:
        """Clean only when nothing is left after the repair."""
        return self.after.exit_code

    def to_json(self) -> dict[str, Any]:
        fixed = self.fixed
        findings = [{**f.to_json(), "fixed": (f.code, f.path) in fixed} for f in self.before.findings]
        return {
            **self.after.to_json(),
            "findings_before": findings,
            "summary_before": self.before.summary.to_json(),
            "actions": [o.to_json() for o in self.outcomes],
            "reclaimed_bytes": reclaimed(self.outcomes),
        }


def _recheck(before: Report, learned: Verification) -> Report:
    """Scan again and judge with every digest known (``--verify``'s and the repair's own).

    With ``--verify`` everything not already hashed is hashed; without it, only what the repair
    hashed is judged, so a copy that failed its hash during the repair is reported as such.
    """
    return diagnose(before.location, verify_hashes=before.verification is not None, known=learned)


def fix(
    target: str | os.PathLike[str] | Location | None = None,
    *,
    verify_hashes: bool = False,
    progress: Progress = NO_PROGRESS,
    lock_timeout: float = 10.0,
    store: DigestStore | None = None,
) -> FixResult:
    """Repair what can be repaired without losing data, then re-check.

    With ``verify_hashes`` everything is hashed first (so corrupt blobs are parked and never
    linked to); without it, only the content a repair moves or deduplicates is hashed.
    """
    location = target if isinstance(target, Location) else locate(target)
    before = diagnose(location, verify_hashes=verify_hashes, progress=progress, store=store)
    plan = before.plan
    outcomes, learned = apply(plan, known=before.verification, progress=progress, lock_timeout=lock_timeout)
    return FixResult(before, plan, tuple(outcomes), _recheck(before, learned))
