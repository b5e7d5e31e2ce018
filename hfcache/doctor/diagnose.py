"""``doctor``: scan a cache, run every check, optionally hash, and return a :class:`Report`.

This is the library entry point the CLI calls; it prints nothing and raises only
:class:`hfcache.errors.BadInputError` for a path it cannot work on.
"""

from __future__ import annotations

import os
from typing import Any

from hfcache.doctor.judge import Hashing, collector_paused, concerns, judge_part
from hfcache.doctor.report import Report, Tally
from hfcache.doctor.stream import judge_in_parts, parts_of
from hfcache.doctor.verify import Verification
from hfcache.fs.digests import DigestStore
from hfcache.layout import Location, PathKind, locate
from hfcache.model import Cache
from hfcache.progress import NO_PROGRESS, Progress
from hfcache.quarantine import list_quarantine
from hfcache.scan.cache import cache_of, scan_folder
from hfcache.scan.localdir import scan_local_dir
from hfcache.scan.top import scan_top


def diagnose(
    target: str | os.PathLike[str] | Location | None = None,
    *,
    verify_hashes: bool = False,
    progress: Progress = NO_PROGRESS,
    store: DigestStore | None = None,
    known: Verification | None = None,
    keep_digests: bool = True,
) -> Report:
    """Diagnose a cache, repo folder or model folder (``None``: the cache huggingface_hub uses).

    With ``verify_hashes`` every blob, store entry and full copy is hashed and compared with
    its name or tree listing; ``progress`` then hears about the bytes hashed. With a ``store``,
    files unchanged since an earlier run keep their recorded digests instead of being hashed.
    ``known`` digests (what a repair hashed) are judged as well, also without ``verify_hashes``.
    A cache of many repos is judged a part at a time (:mod:`hfcache.doctor.stream`); the report's
    verification then keeps every digest only with ``keep_digests`` (what ``--fix`` reuses).
    """
    location = target if isinstance(target, Location) else locate(target)
    hashing = None
    if verify_hashes or known is not None:
        hashing = Hashing(verify_hashes, progress, store, known)
    if location.kind is PathKind.LOCAL_DIR:
        with collector_paused():
            cache = scan_local_dir(location.path)
        return _whole(location, cache, hashing)
    top = scan_top(location)
    if len(parts_of(top)) > 1:
        findings, tally, verification = judge_in_parts(top, hashing, keep_digests=keep_digests)
        shown = verification if verify_hashes else None
        return Report(location, top.root, tally, tuple(findings), shown, list_quarantine(location))
    with collector_paused():
        cache = cache_of(top, (scan_folder(folder) for folder in top.folders))
    return _whole(location, cache, hashing)


def _whole(location: Location, cache: Cache, hashing: Hashing | None) -> Report:
    """A report on a cache (or one repo folder, or a model folder) judged in one part."""
    judged = judge_part(cache, hashing)
    diags, findings = judged.diags, judged.findings
    if location.commit is not None:  # a snapshot folder, or a file in one: judge that revision
        diags = [d for d in diags if d.revision.commit == location.commit]
        entries = {d.path for d in diags}
        findings = [f for f in findings if concerns(f, location.commit, entries)]
    shown = judged.verification if hashing is not None and hashing.verify_hashes else None
    quarantine = list_quarantine(location)
    revision = _revision(location, cache)
    return Report(
        location, cache.root, Tally.of(cache, diags), tuple(findings), shown, quarantine, revision
    )


def _revision(location: Location, cache: Cache) -> dict[str, Any] | None:
    """With a snapshot folder (or a file in one) given: the repo revision judged."""
    commit = location.commit
    if commit is None or not cache.repos:
        return None
    repo = cache.repos[0]
    return {
        "repo_id": repo.repo_id,
        "repo_type": repo.repo_type,
        "commit": commit,
        "refs": repo.refs_to(commit),
        "file": location.file,
    }
