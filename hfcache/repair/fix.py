"""``doctor --fix``: diagnose, plan, apply, then check again and say what remains."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from hfcache.doctor import Report, diagnose, run_checks
from hfcache.layout import Location, locate
from hfcache.progress import NO_PROGRESS, Progress
from hfcache.repair.apply import Outcome, apply, reclaimed
from hfcache.repair.plan import Plan, make_plan


@dataclass(frozen=True)
class FixResult:
    """The report before, the plan, what each action did, and the report after."""

    before: Report
    plan: Plan
    outcomes: tuple[Outcome, ...]
    after: Report

    def to_json(self) -> dict[str, Any]:
        done = {o.action.path for o in self.outcomes if o.status == "done"}
        findings = [{**f.to_json(), "fixed": f.path in done} for f in self.before.findings]
        return {
            **self.after.to_json(),
            "findings_before": findings,
            "summary_before": self.before.summary.to_json(),
            "actions": [o.to_json() for o in self.outcomes],
            "reclaimed_bytes": reclaimed(self.outcomes),
        }


def _recheck(before: Report) -> Report:
    """Scan again; carry over hash findings about files the repair did not move away."""
    after = diagnose(before.location)
    if before.verification is None:
        return after
    kept = [f for f in before.verification.findings if before.verification.unchanged(f.path)]
    findings = run_checks(after.cache, list(after.diags), None) + kept
    return Report(after.location, after.cache, after.diags, tuple(findings), before.verification)


def fix(
    target: str | os.PathLike[str] | Location | None = None,
    *,
    verify_hashes: bool = False,
    progress: Progress = NO_PROGRESS,
    lock_timeout: float = 10.0,
) -> FixResult:
    """Repair what can be repaired without losing data, then re-check.

    With ``verify_hashes`` everything is hashed first (so corrupt blobs are parked and never
    linked to); without it, only the content a repair moves or deduplicates is hashed.
    """
    location = target if isinstance(target, Location) else locate(target)
    before = diagnose(location, verify_hashes=verify_hashes, progress=progress)
    plan = make_plan(before)
    digests = before.verification.digests if before.verification else None
    outcomes = apply(plan, digests=digests, progress=progress, lock_timeout=lock_timeout)
    return FixResult(before, plan, tuple(outcomes), _recheck(before))
