"""Revisions whose snapshot lost its links while their blobs stayed: never orphans to delete.

``rsync -r`` without ``-l`` (and other copy tools that skip links) copies every blob and no
snapshot link: the snapshot of the revision a ref names is left empty, or missing files, and
every blob looks unused. Those blobs are the only copy of the model. Where no tree listing says
which file each blob is, the loaders' own files still say it by their content
(:mod:`hfcache.formats.identify`), and a checkpoint index names its shards, whose headers list
their tensors. Each file so identified becomes a missing entry that ``--fix`` relinks; the rest
is counted, kept, and the revision is reported as stranded with the download that restores it.

Only revisions without a tree listing are considered (a listing names every file already), and
a blob is assigned to a revision only when exactly one revision lacks the file it is.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass

from hfcache import layout
from hfcache.doctor.content import content_node, source_path, usable_blobs, used_blobs
from hfcache.formats.identify import DIFFUSERS, MAX_JSON, index_name, name_of, parse_index_blob
from hfcache.formats.safetensors import CheckpointIndex, Header, read_header, read_index
from hfcache.model import Cache, Kind, Repo, Revision
from hfcache.scan.entries import EntryDiag, Form, read_small

_SAFETENSORS_MAGIC_MAX = 100 * 1024 * 1024


@dataclass(frozen=True)
class Strand:
    """A revision of a repo that lost entries: the files identified among the unused blobs
    (name → blob id), and the unused blobs of the repo nothing could name."""

    repo: Repo
    revision: Revision
    identified: dict[str, str]
    unknown: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.revision.entries

    @property
    def certain(self) -> bool:
        """Files are known to be lost (an empty snapshot, or files identified); else the unnamed
        blobs only may be its files."""
        return self.empty or bool(self.identified)


@dataclass(frozen=True)
class _Blob:
    etag: str
    path: str
    size: int
    name: str | None = None
    index: CheckpointIndex | None = None
    tensors: frozenset[str] | None = None


def _read(repo: Repo, cache: Cache, etag: str) -> _Blob | None:
    """What an unused blob's content says it is."""
    node = content_node(cache, repo, etag)
    if node is None or node.kind is not Kind.FILE:
        return None
    head = read_small(node.path, 8)
    if head is None:
        return None
    if len(head) == 8 and int.from_bytes(head, "little") < _SAFETENSORS_MAGIC_MAX:
        header = read_header(node.path)
        if isinstance(header, Header):
            return _Blob(etag, node.path, node.size, tensors=frozenset(header.tensors))
    if node.size > MAX_JSON:
        return _Blob(etag, node.path, node.size)
    data = read_small(node.path, MAX_JSON) or b""
    index = parse_index_blob(data)
    if index is not None:
        return _Blob(etag, node.path, node.size, name=index_name(index), index=index)
    return _Blob(etag, node.path, node.size, name=name_of(data))


def _indexes(
    cache: Cache, present: dict[str, EntryDiag], usable: set[tuple[str, str]]
) -> dict[str, CheckpointIndex]:
    """The checkpoint indexes a revision still holds, read through the intact blob an entry
    should lead to (as the shard check reads them), so a broken link over it changes nothing."""
    found = {}
    for name, d in present.items():
        if name.endswith((".safetensors.index.json", ".bin.index.json")):
            path = source_path(cache, d, usable)
            index = read_index(path) if path is not None else None
            if isinstance(index, CheckpointIndex):
                found[name] = index
    return found


def strands(
    cache: Cache, repo: Repo, diags: Iterable[EntryDiag], usable: set[tuple[str, str]]
) -> list[Strand]:
    """The revisions of ``repo`` that lost entries whose blobs are still here (see the module).
    ``usable`` are the intact blobs (:func:`hfcache.doctor.content.usable_blobs`)."""
    if cache.local_dir:
        return []  # a plain model folder has no blobs to strand
    # A listed revision names every file itself: each lost one is an entry-missing of its own.
    open_revs = [r for r in repo.revisions.values() if r.tree is None]
    if not open_revs:
        return []  # the common case, decided before any entry is looked at
    diags = list(diags)
    used = used_blobs(cache, repo, diags)
    blobs_here = [e for e, n in repo.blobs.items() if n.kind in (Kind.FILE, Kind.LINK) and layout.is_etag(e)]
    unused = sorted(e for e in blobs_here if e not in used)
    if not unused and all(r.entries for r in open_revs):
        return []
    blobs = [b for e in unused if (b := _read(repo, cache, e)) is not None]
    present = {r.commit: _present(diags, r) for r in open_revs}
    assigned: dict[str, dict[str, str]] = {r.commit: {} for r in open_revs}
    diffusers = any(b.name == DIFFUSERS for b in blobs)
    # A diffusers repo keeps a config.json per component folder: none of its files has a sure name.
    named = [b for b in blobs if b.name not in (None, DIFFUSERS) and not (diffusers and b.index is None)]
    claims: dict[str, list[_Blob]] = {}
    for b in named:
        claims.setdefault(b.name or "", []).append(b)
    for name, holders in claims.items():
        lacking = [r for r in open_revs if name not in present[r.commit]]
        if len(holders) == 1 and len(lacking) == 1:
            assigned[lacking[0].commit][name] = holders[0].etag
    for r in open_revs:
        _assign_shards(cache, blobs, present[r.commit], assigned[r.commit], usable)
    taken = {e for names in assigned.values() for e in names.values()}
    unknown = tuple(e for e in unused if e not in taken)
    # With one revision that no listing proves complete, blobs nothing could name may be its files.
    alone = len(open_revs) == 1 and bool(unknown)
    return [
        Strand(repo, r, dict(sorted(assigned[r.commit].items())), unknown)
        for r in open_revs
        if assigned[r.commit] or not r.entries or alone
    ]


def _assign_shards(
    cache: Cache,
    blobs: list[_Blob],
    present: dict[str, EntryDiag],
    names: dict[str, str],
    usable: set[tuple[str, str]],
) -> None:
    """Shards an index of ``rev`` names and ``rev`` lacks, from the blobs whose headers list
    exactly the tensors the index places in them (one blob per shard, or none)."""
    indexes = _indexes(cache, present, usable)
    for b in blobs:
        if b.index is not None and names.get(b.name or "") == b.etag:
            indexes[b.name or ""] = b.index
    by_tensors: dict[frozenset[str], list[_Blob]] = {}
    for b in blobs:
        if b.tensors is not None:
            by_tensors.setdefault(b.tensors, []).append(b)
    for index_file, index in indexes.items():
        folder = posixpath.dirname(index_file)
        wanted: dict[str, set[str]] = {}
        for tensor, shard in index.weight_map.items():
            wanted.setdefault(posixpath.normpath(posixpath.join(folder, shard)), set()).add(tensor)
        for shard, tensors in wanted.items():
            match = by_tensors.get(frozenset(tensors), [])
            lacking = shard not in present and shard not in names and not shard.startswith("../")
            if lacking and len(match) == 1:
                names[shard] = match[0].etag


def _present(diags: list[EntryDiag], rev: Revision) -> dict[str, EntryDiag]:
    """The entries a revision holds in some form (whatever is not simply missing)."""
    return {d.name: d for d in diags if d.revision is rev and d.form is not Form.MISSING}


def identified_entries(strand: Strand) -> list[EntryDiag]:
    """A missing entry per identified file: what ``--fix`` links to the blob that is that file."""
    repo, rev = strand.repo, strand.revision
    out = []
    for name, etag in strand.identified.items():
        path = os.path.join(rev.path, *name.split("/"))
        out.append(EntryDiag(repo, rev, name, path, None, Form.MISSING, etag, "identified"))
    return out


def with_strands(cache: Cache, diags: list[EntryDiag]) -> tuple[list[EntryDiag], list[Strand]]:
    """Every repo's strands, and ``diags`` with a missing entry for each file they identified."""
    # Only a repo with a revision no tree listing covers can have strands (see :func:`strands`).
    open_repos = [r for r in cache.repos if any(rev.tree is None for rev in r.revisions.values())]
    if cache.local_dir or not open_repos:
        return list(diags), []
    by_repo: dict[str, list[EntryDiag]] = {}
    for d in diags:
        by_repo.setdefault(d.repo.folder, []).append(d)
    usable = usable_blobs(cache, set())
    found = [s for repo in open_repos for s in strands(cache, repo, by_repo.get(repo.folder, []), usable)]
    return diags + [d for s in found for d in identified_entries(s)], found
