"""Why pack refuses, each damaged file once, and the way out.

One damaged file is seen by several checks: a truncated shard's blob is shorter than the tree
listing says (``blob-size-mismatch``) and its safetensors header promises more bytes
(``shard-header-unreadable``). A refusal names each file once: findings about a blob are tied to
the files it holds, then folded by file with the doctor's own rule (the cause is primary, the
consequences point at it). Every finding is still carried, for ``--json``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace

from hfcache import layout
from hfcache.bundle.select import RepoPick
from hfcache.doctor.fold import fold
from hfcache.errors import PackRefusedError
from hfcache.findings import Finding, Place


def _files_of(picks: Sequence[RepoPick]) -> dict[str, list[tuple[str, Place]]]:
    """Where a file's bytes are (its blob, or a copy), and each blob path → the snapshot entries
    of the files they are, with their places."""
    users: dict[str, dict[str, Place]] = {}
    for p in picks:
        for f in p.files:
            entry = os.path.join(p.repo.path, layout.SNAPSHOTS, p.commit, *f.name.split("/"))
            place = p.repo.place.at(p.commit, f.name)
            if f.path is not None:
                users.setdefault(f.path, {})[entry] = place
            if f.blob_id is not None:
                users.setdefault(os.path.join(p.repo.path, layout.BLOBS, f.blob_id), {})[entry] = place
    return {path: sorted(entries.items()) for path, entries in users.items()}


def _about(f: Finding, users: dict[str, list[tuple[str, Place]]]) -> Finding:
    """A finding about a blob (or a copy), named by the files it holds, placed at the first."""
    files = users.get(f.path)
    if f.about or not files:
        return f
    place = f.place if f.place.commit is not None else files[0][1]
    return replace(f, about=tuple(entry for entry, _ in files), place=place)


def by_file(problems: Sequence[Finding], picks: Sequence[RepoPick]) -> list[Finding]:
    """``problems`` with those about the same file folded into one primary finding each.

    Order is kept; a consequence gets ``folded_into`` and its primary lists it in ``also``. Where
    no finding about a file is a cause the doctor ranks, the first one is primary.
    """
    if not problems:
        return []  # the table of every file's users is as large as the selection: not built for nothing
    users = _files_of(picks)
    found = fold([_about(f, users) for f in problems], ())
    primary: dict[str, int] = {}  # snapshot entry → index of its primary finding
    later: dict[int, list[int]] = {}
    for i, f in enumerate(found):
        if f.folded_into is not None:
            continue
        entries = f.about or (f.path,)
        first = next((primary[e] for e in entries if e in primary), None)
        if first is None:
            primary.update(dict.fromkeys(entries, i))
        else:
            later.setdefault(first, []).append(i)
    for first, others in later.items():
        also = [*found[first].also, *(found[i].code for i in others)]
        found[first] = replace(
            found[first], also=tuple(dict.fromkeys(c for c in also if c != found[first].code))
        )
        for i in others:
            found[i] = replace(found[i], folded_into=found[first].code)
    return found


def refusal(
    problems: Sequence[Finding],
    picks: Sequence[RepoPick],
    *,
    while_packing: bool = False,
    can_leave_out: bool = True,
) -> PackRefusedError:
    """The error that stops a pack: each damaged file once, and what to do.

    ``while_packing``: corrupt bytes met while streaming, which ``--allow-incomplete`` cannot
    leave out any more (the manifest is written by then). ``can_leave_out``: whether
    ``--allow-incomplete`` exists for this format at all (an OCI artifact is whole, or nothing).
    """
    folded = by_file(problems, picks)
    files = sum(1 for f in folded if f.folded_into is None)
    if not can_leave_out:
        message = (
            f"{files} file(s) cannot be packed as they are; nothing was written. Download or repair them "
            "(`hfcache doctor --verify` lists every corrupt blob), or leave them out with --exclude"
        )
    elif while_packing:
        message = (
            f"{files} corrupt file(s); nothing was written. Download them again (`hfcache doctor --verify` "
            "lists every corrupt blob of the cache); --allow-incomplete does not pack around corrupt "
            "bytes found while packing"
        )
    else:
        message = (
            f"{files} file(s) cannot be packed as they are; nothing was written. Download or repair them, "
            "or pass --allow-incomplete to pack the rest (what is left out is recorded in the manifest)"
        )
    return PackRefusedError(message, folded)
