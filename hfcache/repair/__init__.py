"""Repair: findings → a plan of actions → crash-safe application → a second check."""

from __future__ import annotations

from hfcache.repair.apply import Outcome, apply
from hfcache.repair.fix import FixResult, fix
from hfcache.repair.plan import Action, Plan, Step, make_plan

__all__ = ["Action", "FixResult", "Outcome", "Plan", "Step", "apply", "fix", "make_plan"]
