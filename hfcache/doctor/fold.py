"""One damaged file, one primary finding: consequences are folded into their cause.

A truncated shard is seen by three checks: its blob is shorter than the tree listing says
(``blob-size-mismatch``), its safetensors header promises more bytes (``shard-truncated``), and
with ``--verify`` its bytes do not hash to its name (``blob-hash-mismatch``); on a Windows copy
its link is written with backslashes too. People need one line about the file, named by the
file, saying what to do. Every finding is kept (``--json`` and ``--verbose`` list them, and the
plan still carries every fix); the consequences only point at the primary one.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace

from hfcache.doctor.hints import blob_users
from hfcache.findings import Finding
from hfcache.scan.entries import EntryDiag

_NOT_A_CAUSE = 1 << 16


def _rank(f: Finding) -> int:
    """The code's ``cause`` rank (what is wrong with a file's bytes, most telling first); codes
    that are no cause (how an entry is linked) rank after every cause."""
    cause = f.info.cause
    return _NOT_A_CAUSE if cause is None else cause


def fold(findings: Iterable[Finding], diags: Iterable[EntryDiag]) -> list[Finding]:
    """``findings`` with blob findings naming their files and consequences pointing at their cause.

    Order is kept. A finding about a blob gets ``about``: the entries it holds. Findings about the
    same entry are then judged together: the one whose code ranks first in :data:`CAUSES` is
    primary and lists the others in ``also``; each other gets ``folded_into``. A file with no cause
    among its findings (a backslash link and a full copy elsewhere) folds nothing. The order of
    causes is each code's ``cause`` rank in :data:`hfcache.findings.CODES`.
    """
    findings = list(findings)
    blob_paths = {f.path for f in findings if not f.about}
    # Only entries whose blob id is the last part of some finding's path can be named by one:
    # the others are left out before they are grouped (most entries of a large cache).
    names = {os.path.basename(p) for p in blob_paths}
    candidates = (d for d in diags if _blob_name(d) in names) if names else ()
    users = {
        path: sorted(entries, key=lambda d: d.path)
        for (_, etag), entries in blob_users(candidates).items()
        if (path := os.path.join(entries[0].repo.path, "blobs", etag)) in blob_paths
    }
    found = [_about(f, users[f.path]) if f.path in users and not f.about else f for f in findings]
    by_entry: dict[str, list[int]] = defaultdict(list)
    for i, f in enumerate(found):
        if f.folded_into is None:  # already explained (by a folder that could not be read)
            for entry in f.about or (f.path,):
                by_entry[entry].append(i)
    folded: dict[int, int] = {}
    for members in by_entry.values():
        if len(members) < 2:
            continue
        primary = min(members, key=lambda i: (_rank(found[i]), found[i].severity.rank, i))
        first = found[primary]
        if _rank(first) == _NOT_A_CAUSE:
            continue
        for i in members:
            f = found[i]
            if i != primary and i not in folded and f.severity.rank >= first.severity.rank:
                folded[i] = primary
    for i, primary in folded.items():
        while primary in folded:  # a primary for one entry may be a consequence for another
            primary = folded[primary]
        folded[i] = primary
    also: dict[int, list[str]] = defaultdict(list)
    for i, primary in folded.items():
        if found[i].code not in also[primary] and found[i].code != found[primary].code:
            also[primary].append(found[i].code)
    result = []
    for i, f in enumerate(found):
        if i in folded:
            f = replace(f, folded_into=found[folded[i]].code)
        elif also.get(i):
            f = replace(f, also=tuple(also[i]))
        result.append(f)
    return result


def _blob_name(d: EntryDiag) -> str | None:
    """The last part of the path :func:`fold` joins for the blob an entry uses (its id, as a rule)."""
    etag = d.etag or d.linked_blob
    if etag is None or etag.isalnum():  # a blob id: its own last part
        return etag
    return os.path.basename(etag)


def _about(f: Finding, users: list[EntryDiag]) -> Finding:
    """A blob finding, named by the entries it holds; placed at the first of them if unplaced."""
    place = f.place if f.place.commit is not None else users[0].place
    return replace(f, about=tuple(d.path for d in users), place=place)
