"""What one doctor run learnt: its findings, the counts it covered, and the plan they make."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hfcache.actions import Plan
from hfcache.doctor.verify import Verification
from hfcache.findings import Finding, Severity
from hfcache.layout import Location
from hfcache.model import Cache, Kind
from hfcache.quarantine import Quarantine
from hfcache.results import EXIT_OK, EXIT_PROBLEMS
from hfcache.scan.entries import EntryDiag, Form


@dataclass(frozen=True)
class Tally:
    """What a run covered: the repos, revisions and snapshot entries judged, the content bytes."""

    repos: int = 0
    revisions: int = 0
    files: int = 0
    bytes: int = 0

    @classmethod
    def of(cls, cache: Cache, diags: list[EntryDiag], *, store: bool = True) -> Tally:
        """The counts of one judged part (its shared store's entries too, with ``store``)."""
        content = sum(n.size for r in cache.repos for n in r.blobs.values() if n.kind is Kind.FILE)
        if store and cache.store is not None:
            content += sum(n.size for n in cache.store.entries.values())
        content += sum(d.node.size for d in diags if d.form is Form.COPY and d.node is not None)
        revisions = sum(len(r.revisions) for r in cache.repos)
        return cls(len(cache.repos), revisions, len(diags), content)

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.repos + other.repos,
            self.revisions + other.revisions,
            self.files + other.files,
            self.bytes + other.bytes,
        )


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
    """Everything one doctor run learnt. ``findings`` are sorted by repo, severity and path.

    A report keeps the findings and the counts, not the scan: a cache of thousands of repos is
    judged a few repos at a time, and what each part held is let go once it is judged.
    """

    location: Location
    root: str
    """The cache (or model folder) judged."""
    tally: Tally
    findings: tuple[Finding, ...]
    verification: Verification | None
    quarantine: Quarantine | None = None
    revision: dict[str, Any] | None = None
    """With a snapshot folder (or a file in one) given: the repo revision judged."""

    @property
    def problems(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is not Severity.INFO)

    @property
    def summary(self) -> Summary:
        count = {s: sum(1 for f in self.findings if f.severity is s) for s in Severity}
        fixable = [f for f in self.findings if f.fixable]
        t = self.tally
        return Summary(
            repos=t.repos,
            revisions=1 if self.location.commit else t.revisions,
            files=t.files,
            bytes=t.bytes,
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
        return Plan.of(self.root, ((f.code, f.path, f.fix) for f in self.findings if f.fix is not None))

    @property
    def exit_code(self) -> int:
        return EXIT_PROBLEMS if self.problems else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.location.path,
            "kind": self.location.kind.value,
            "cache_dir": self.root,
            "revision": self.revision,
            "verified": self.verification is not None,
            "summary": self.summary.to_json(),
            "findings": [f.to_json() for f in self.findings],
            "plan": self.plan.to_json(),
        }
