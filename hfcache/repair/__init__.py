"""Repair: a report's actions (its plan) → crash-safe application → a second check."""

from __future__ import annotations

from hfcache.actions import Action, Plan, Step
from hfcache.repair.apply import apply
from hfcache.repair.fix import FixResult, fix
from hfcache.repair.steps import Outcome

__all__ = ["Action", "FixResult", "Outcome", "Plan", "Step", "apply", "fix"]
