"""Scans: what is on disk, as plain data (:mod:`hfcache.model`), with no judgement attached."""

from __future__ import annotations

from hfcache.layout import Location, PathKind
from hfcache.model import Cache
from hfcache.scan.cache import ScanProgress, scan_cache
from hfcache.scan.localdir import scan_local_dir


def scan_location(loc: Location, progress: ScanProgress | None = None) -> Cache:
    """Scan what :func:`hfcache.layout.locate` found: a hub cache, one repo folder or a model folder."""
    if loc.kind is PathKind.LOCAL_DIR:
        return scan_local_dir(loc.path)
    return scan_cache(loc, progress)


__all__ = ["ScanProgress", "scan_cache", "scan_local_dir", "scan_location"]
