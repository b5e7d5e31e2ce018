"""What a scan that could not read everything must not conclude.

When a folder of a repo cannot be read (another user's cache, ``chmod 700``), the files in it are
not *missing*, they are *unseen*: a link into an unreadable ``blobs/`` is not a "missing blob"
to download again, and a blob whose snapshot could not be listed is not an "orphan" to delete.
Such findings keep their code (and ``--json`` lists them) but lose their advice and their fix:
each points at the ``unreadable`` finding that explains it, which says what to do instead. Which
codes say "not there" is each code's ``absence`` in :data:`hfcache.findings.CODES`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import replace

from hfcache.doctor.hints import needs_fetch
from hfcache.findings import Finding


def _scope(f: Finding, root: str) -> str:
    """The folder an unreadable finding blinds: its repo folder, or the whole cache."""
    return os.path.join(root, f.repo) if f.repo else root


def blinded(findings: Iterable[Finding], root: str) -> list[Finding]:
    """``findings`` with conclusions drawn from unread folders folded into their ``unreadable``."""
    found = list(findings)
    spots = [f for f in found if f.info.blinds]
    if not spots:
        return found
    scopes = [(_scope(f, root), f) for f in spots]
    also: dict[int, list[str]] = {}
    result = []
    for f in found:
        derived = f.info.absence or needs_fetch(f)  # "gone" or "download it": maybe only unseen
        inside = [u for scope, u in scopes if (f.path + os.sep).startswith(scope + os.sep)]
        if not derived or not inside or f.info.blinds:
            result.append(f)
            continue
        cause = inside[0]
        message = (
            f"{f.message}: not judged, {cause.path} could not be read (permissions), so this may only be "
            "unseen"
        )
        folded = cause.code if f.info.absence else None  # a backslash link stays a finding of its own
        result.append(replace(f, message=message, advice="", fix=None, folded_into=folded, reclaimable=0))
        if folded and f.code not in also.setdefault(id(cause), []):
            also[id(cause)].append(f.code)
    return [replace(f, also=tuple(also[id(f)])) if id(f) in also else f for f in result]
