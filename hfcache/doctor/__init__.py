"""The doctor: every check over a scanned cache, and ``--verify``'s hashing."""

from __future__ import annotations

from hfcache.doctor.diagnose import Report, Summary, diagnose, run_checks

__all__ = ["Report", "Summary", "diagnose", "run_checks"]
