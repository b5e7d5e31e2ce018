"""hfcache: diagnose, repair and carry Hugging Face caches to offline machines.

The package is a library first: every module returns data and takes progress callbacks;
only :mod:`hfcache.cli` prints, prompts or exits. The names below are the public API; they
are imported on first use, so ``import hfcache`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    "locate": "hfcache.layout",
    "cache_target": "hfcache.layout",
    "Location": "hfcache.layout",
    "scan_location": "hfcache.scan",
    "CacheView": "hfcache.sources",
    "BundleView": "hfcache.bundle.view",
    "RevisionSource": "hfcache.view",
    "RevisionView": "hfcache.view",
    "RepoName": "hfcache.repoid",
    "ViewFile": "hfcache.view",
    "Trust": "hfcache.view",
    "Finding": "hfcache.findings",
    "Severity": "hfcache.findings",
    "CODES": "hfcache.findings",
    "Action": "hfcache.actions",
    "Plan": "hfcache.actions",
    "Step": "hfcache.actions",
    "diagnose": "hfcache.doctor",
    "Report": "hfcache.doctor",
    "fix": "hfcache.repair",
    "apply": "hfcache.repair",
    "FixResult": "hfcache.repair",
    "list_quarantine": "hfcache.quarantine",
    "empty_quarantine": "hfcache.quarantine",
    "pack": "hfcache.bundle.pack",
    "unpack": "hfcache.bundle.unpack",
    "inspect_target": "hfcache.inspect",
    "Inspection": "hfcache.inspect",
    "fit_target": "hfcache.fit",
    "FitResult": "hfcache.fit",
    "estimate": "hfcache.fit",
    "detect_hardware": "hfcache.fit",
    "FitPlan": "hfcache.fit",
    "Hardware": "hfcache.fit",
    "Gpu": "hfcache.fit",
    "HfcacheError": "hfcache.errors",
    "BadInputError": "hfcache.errors",
    "BundleError": "hfcache.errors",
    "PackRefusedError": "hfcache.errors",
}

__all__ = ["__version__", *sorted(_API)]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'hfcache' has no attribute {name!r}")
