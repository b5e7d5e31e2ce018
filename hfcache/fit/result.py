"""What ``fit`` returns: :class:`FitResult`, a plan for a checkpoint on a machine, or why there is none.

A result holds the target as the user gave it, what it resolved to (:class:`Checkpoint`), the
machine (:class:`~hfcache.fit.Hardware`) and either a :class:`~hfcache.fit.FitPlan` or a
:class:`NoPlan`: the reason no plan was made (say, the doctor finds the cached revision broken),
the problems behind it and the command that fixes them. Its JSON document keeps the keys of a
plan's either way, so a script reads ``fits``, ``verdict`` and ``reasons`` the same in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hfcache.fit.hardware import Hardware
from hfcache.fit.plan import FitPlan
from hfcache.results import EXIT_OK, EXIT_PROBLEMS

if TYPE_CHECKING:
    from hfcache.findings import Finding
    from hfcache.inspect.target import Target

NO_PLAN = "no-plan"
"""The verdict of a result without a plan."""

PLAN_KEYS = (
    "model", "auto_class", "fits", "verdict", "reasons", "dtype", "dtype_source", "context", "batch",
    "weights_bytes", "weights", "kv_cache_bytes", "kv_cache", "activations_bytes", "largest_layer_bytes",
    "quantization", "device_map", "max_memory", "offload_folder", "per_device", "unplaced_bytes", "kwargs",
    "call", "vllm", "hardware",
)  # fmt: skip
"""The keys of :meth:`FitPlan.to_json`, in its order: a result without a plan has them too."""


@dataclass(frozen=True)
class Checkpoint:
    """What TARGET resolved to: a cached revision (``repo``), a model folder or one file."""

    kind: str
    path: str
    repo_id: str | None = None
    repo_type: str | None = None
    revision: str | None = None
    commit: str | None = None
    cache_dir: str | None = None

    @classmethod
    def of(cls, target: Target) -> Checkpoint:
        return cls(
            target.kind, target.path, target.repo_id, target.repo_type, target.revision, target.commit,
            target.cache_dir,
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "repo_id": self.repo_id,
            "repo_type": self.repo_type,
            "revision": self.revision,
            "commit": self.commit,
            "cache_dir": self.cache_dir,
        }


@dataclass(frozen=True)
class NoPlan:
    """Why no plan was made: one line, the findings behind it, and the command that fixes them."""

    reason: str
    problems: tuple[Finding, ...] = ()
    command: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "problems": [f.to_json() for f in self.problems],
            "command": self.command,
        }


@dataclass(frozen=True)
class FitResult:
    """``hfcache fit``'s result: exactly one of ``plan`` and ``no_plan`` is set.

    ``hardware`` is ``None`` only when no plan was made before the machine was looked at.
    Exit status: 0 when the plan fits, 1 when it does not or when there is no plan.
    """

    target: str
    checkpoint: Checkpoint
    hardware: Hardware | None
    plan: FitPlan | None
    no_plan: NoPlan | None = None

    def __post_init__(self) -> None:
        if (self.plan is None) == (self.no_plan is None):
            raise ValueError("a FitResult holds either a plan or the reason there is none")

    @property
    def verdict(self) -> str:
        return self.plan.verdict if self.plan is not None else NO_PLAN

    @property
    def fits(self) -> bool:
        return self.plan is not None and self.plan.fits

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.fits else EXIT_PROBLEMS

    @property
    def reasons(self) -> tuple[str, ...]:
        if self.plan is not None:
            return self.plan.reasons
        assert self.no_plan is not None
        fix = (f"fix it first: {self.no_plan.command}",) if self.no_plan.command else ()
        return (self.no_plan.reason, *fix)

    def to_json(self) -> dict[str, Any]:
        head = {"target": self.target, "checkpoint": self.checkpoint.to_json()}
        if self.plan is not None:
            return {**head, **self.plan.to_json(), "no_plan": None}
        assert self.no_plan is not None
        body: dict[str, Any] = dict.fromkeys(PLAN_KEYS)
        body |= {
            "fits": False,
            "verdict": NO_PLAN,
            "reasons": list(self.reasons),
            "hardware": self.hardware.to_json() if self.hardware is not None else None,
        }
        return {**head, **body, "no_plan": self.no_plan.to_json()}
