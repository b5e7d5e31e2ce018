"""The doctor: every check over a scanned cache, and ``--verify``'s hashing."""

from __future__ import annotations

from hfcache.doctor.diagnose import diagnose
from hfcache.doctor.judge import run_checks
from hfcache.doctor.report import Report, Summary
from hfcache.doctor.scope import Judgement, concerns, judge_repo

__all__ = ["Judgement", "Report", "Summary", "concerns", "diagnose", "judge_repo", "run_checks"]
