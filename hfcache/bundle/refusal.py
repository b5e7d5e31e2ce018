"""Why pack refuses, each damaged file once, and the way out.

One damaged file is seen by several checks: a truncated shard's blob is shorter than the tree
listing says (``blob-size-mismatch``) and its safetensors header promises more bytes
(``shard-header-unreadable``). A refusal names each file once: findings about a blob are tied to
the files it holds, then folded by file with the doctor's own rule (the cause is primary, the
consequences point at it). Every finding is still carried, for ``--json``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace

from hfcache import layout
from hfcache.bundle.manifest import RepoEntry
from hfcache.bundle.picked import Section
from hfcache.bundle.select import RepoPick
from hfcache.doctor.fold import fold
from hfcache.errors import PackRefusedError
from hfcache.findings import Finding, Place
from hfcache.model import RepoFolder

FileUse = tuple[RepoFolder, str, str, tuple[str, ...]]
"""One file packed: its repo, commit and name, and the files that may hold its bytes (its copy,
its blob)."""


def picked_uses(picks: Iterable[RepoPick]) -> Iterator[FileUse]:
    """The files of ``picks``, each with where its bytes are and its blob."""
    for p in picks:
        for f in p.files:
            blob = (os.path.join(p.repo.path, layout.BLOBS, f.blob_id),) if f.blob_id is not None else ()
            yield p.repo, p.commit, f.name, (f.path, *blob)


def written_uses(sections: Iterable[Section], entries: Iterable[RepoEntry]) -> Iterator[FileUse]:
    """The files of a bundle being written: each section's entry's files, with where their bytes are."""
    for s, e in zip(sections, entries, strict=True):
        for f in e.files:
            blob = os.path.join(s.repo.path, layout.BLOBS, f.etag)
            yield s.repo, s.commit, f.path, (s.source(f.path, f.etag), blob)


def _files_of(uses: Iterable[FileUse]) -> dict[str, list[tuple[str, Place]]]:
    """Where a file's bytes are (its blob, or a copy), and each blob path → the snapshot entries
    of the files they are, with their places."""
    users: dict[str, dict[str, Place]] = {}
    for repo, commit, name, paths in uses:
        entry = os.path.join(repo.path, layout.SNAPSHOTS, commit, *name.split("/"))
        place = repo.place.at(commit, name)
        for path in paths:
            users.setdefault(path, {})[entry] = place
    return {path: sorted(entries.items()) for path, entries in users.items()}


def _about(f: Finding, users: dict[str, list[tuple[str, Place]]]) -> Finding:
    """A finding about a blob (or a copy), named by the files it holds, placed at the first."""
    files = users.get(f.path)
    if f.about or not files:
        return f
    place = f.place if f.place.commit is not None else files[0][1]
    return replace(f, about=tuple(entry for entry, _ in files), place=place)


def by_file(problems: Sequence[Finding], uses: Iterable[FileUse]) -> list[Finding]:
    """``problems`` with those about the same file folded into one primary finding each.

    Order is kept; a consequence gets ``folded_into`` and its primary lists it in ``also``. Where
    no finding about a file is a cause the doctor ranks, the first one is primary.
    """
    if not problems:
        return []  # the table of every file's users is as large as the selection: not built for nothing
    users = _files_of(uses)
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
    uses: Iterable[FileUse],
    *,
    while_packing: bool = False,
    can_leave_out: bool = True,
) -> PackRefusedError:
    """The error that stops a pack: each damaged file once, and what to do.

    ``while_packing``: corrupt bytes met while streaming, which ``--allow-incomplete`` cannot
    leave out any more (the manifest is written by then). ``can_leave_out``: whether
    ``--allow-incomplete`` exists for this format at all (an OCI artifact is whole, or nothing).
    """
    folded = by_file(problems, uses)
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
