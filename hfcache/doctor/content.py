"""Where a cached file's bytes really are: the doctor's content rules, read by the cache view.

Bytes are only ever found through links the scan saw and resolved by their text, never by
following a link on disk: a hostile link cannot lead a reader out of the cache. A file's bytes
are in a blob (or the shared Xet store entry its blob links to) or in a full copy standing in
the snapshot; a blob is usable when it is present, inside the cache, of the size the tree
listing gives and not known to be corrupt.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Mapping

from hfcache import layout
from hfcache.model import Cache, Kind, Node, Repo
from hfcache.scan.entries import EntryDiag, Form
from hfcache.view import Extent, Trust, ViewFile

# Enum members looked up once (a class attribute lookup each time otherwise): these loops run per file.
_FILE = Kind.FILE
_COPY, _LINK = Form.COPY, Form.LINK

# Files the Hub stores with LFS by default (its default .gitattributes), used only when a
# revision has neither a tree listing nor a .gitattributes of its own.
_LFS_MIN_SIZE = 10 * 1024 * 1024


def store_target(cache: Cache, node: Node) -> str | None:
    """The shared-store path a repo blob link leads to, if it leads into the store at all."""
    if node.kind is not Kind.LINK or node.target is None or "\\" in node.target:
        return None
    resolved = layout.resolve_lexically(node.path, node.target)
    name = os.path.basename(resolved)
    if layout.XET_RE.fullmatch(name) and resolved == layout.store_entry_path(cache.root, name):
        return resolved
    return None


def content_node(cache: Cache, repo: Repo, etag: str) -> Node | None:
    """The regular file holding blob ``etag`` of ``repo``, through the shared store if need be."""
    node = repo.blobs.get(etag)
    if node is None or node.kind is Kind.FILE:
        return node
    target = store_target(cache, node)
    if target is None or cache.store is None:
        return None
    entry = cache.store.entries.get(os.path.basename(target))
    return entry if entry is not None and entry.kind is Kind.FILE else None


def blob_content_path(cache: Cache, repo: Repo, etag: str) -> str | None:
    """Path of the regular file holding blob ``etag`` (see :func:`content_node`)."""
    node = content_node(cache, repo, etag)
    return node.path if node is not None else None


def expected_sizes(repo: Repo) -> dict[str, int]:
    """etag → content size, from every tree listing of the repo."""
    return dict(repo.listed_sizes)


def usable_blobs(
    cache: Cache, corrupt: set[str], repos: Iterable[Repo] | None = None
) -> set[tuple[str, str]]:
    """(repo folder, etag) pairs whose content can serve as a link target or be read as the file.

    Present, reachable inside the cache, of the size the tree listing gives, and not among the
    ``corrupt`` content paths that failed verification. ``repos``: only theirs (default: every
    repo of the cache).
    """
    usable: set[tuple[str, str]] = set()
    for repo in cache.repos if repos is None else repos:
        sizes = repo.listed_sizes
        folder = repo.folder
        for etag, blob in repo.blobs.items():
            node = blob if blob.kind is _FILE else content_node(cache, repo, etag)
            if node is None or (corrupt and node.path in corrupt):
                continue
            expected = sizes.get(etag)
            if expected is not None and node.size != expected:
                continue
            usable.add((folder, etag))
    return usable


def store_supplied(cache: Cache, corrupt: set[str]) -> dict[tuple[str, str], str]:
    """(repo folder, etag) → the Xet hash of the shared-store entry that can become that repo's
    missing ``blobs/<etag>`` again: a copy that skips links (``rsync -r``) loses the repo blob
    links into the store, but the tree listing still names each file's Xet hash.

    Only entries huggingface_hub itself would link to (a marked store, a regular file of the
    listed size, the check ``try_link_from_shared_store`` makes) and none that failed verification.
    """
    store = cache.store
    found: dict[tuple[str, str], str] = {}
    if store is None or not store.marked:
        return found
    for repo in cache.repos:
        for revision in repo.revisions.values():
            for te in (revision.tree or {}).values():
                entry = store.entries.get(te.xet_hash or "")
                if te.etag in repo.blobs or entry is None or entry.kind is not Kind.FILE:
                    continue
                if entry.size == te.content_size and entry.path not in corrupt:
                    found[(repo.folder, te.etag)] = entry.path
    return found


def used_blobs(cache: Cache, repo: Repo, diags: Iterable[EntryDiag]) -> set[str]:
    """Blobs of ``repo`` some snapshot entry uses: the one it names or links to; a full copy's
    own when it is a hard link of it (``rsync -H``, ``cp -l``); and, for a full copy whose blob
    id nothing records (no tree listing), a blob of the same size: presumed to hold the same
    bytes until ``--fix`` hashes both, and never an orphan meanwhile."""
    used: set[str] = set()
    inodes: set[int] = set()
    unnamed: set[int] = set()
    for d in diags:
        if d.etag:
            used.add(d.etag)
        if d.form is _LINK and d.etag and (d.link_target or "").endswith(d.etag):
            continue  # the common case: a healthy link to the very blob it should lead to
        linked = d.linked_blob
        if linked:
            used.add(linked)
        node = d.node
        if node is not None and node.kind is _FILE:
            inodes.add(node.inode)
            if d.form is _COPY and d.etag is None:
                unnamed.add(node.size)
    if inodes or unnamed:
        for etag in repo.blobs:
            n = content_node(cache, repo, etag)  # a blob linking into the shared store: its entry
            if n is not None and (n.inode in inodes or n.size in unnamed):
                used.add(etag)
    return used


def same_size_blob(cache: Cache, repo: Repo, d: EntryDiag) -> str | None:
    """For a full copy of unknown blob id: a blob of the same size (its content, through the
    shared store if it links there), which it presumably is."""
    if d.form is not Form.COPY or d.etag is not None or d.node is None:
        return None
    size = d.node.size
    same = (e for e in repo.blobs if (n := content_node(cache, repo, e)) is not None and n.size == size)
    return next(same, None)


def copy_sources(diags: Iterable[EntryDiag], corrupt: set[str]) -> dict[tuple[str, str], EntryDiag]:
    """(repo folder, etag) → a full copy that can supply that blob: its size fits and no hash check failed."""
    found: dict[tuple[str, str], EntryDiag] = {}
    for d in diags:
        if (
            d.form is _COPY
            and d.etag is not None
            and d.node is not None
            and d.node.path not in corrupt
            and d.expected_size in (None, d.node.size)
        ):
            found.setdefault((d.repo.folder, d.etag), d)
    return found


def source_path(cache: Cache, d: EntryDiag, usable: set[tuple[str, str]]) -> str | None:
    """The regular file holding an entry's real bytes, if they are here and usable.

    A full copy of the right size; else the blob a working link leads to (when it is the right
    blob); else the usable blob the tree listing names. In a plain model folder (never in a
    cache) a link that leads somewhere is read through, as ``from_pretrained`` reads it.
    """
    if d.form is Form.COPY and d.node is not None and d.expected_size in (None, d.node.size):
        return d.node.path
    if d.form is Form.LOCAL_LINK:
        return d.path
    if d.wrong_blob is None and d.linked_blob is not None:
        return blob_content_path(cache, d.repo, d.linked_blob)
    if d.etag is not None and (d.repo.folder, d.etag) in usable:
        return blob_content_path(cache, d.repo, d.etag)
    return None


def lfs_attributes(cache: Cache, diags: list[EntryDiag]) -> list[str]:
    """``filter=lfs`` patterns of a revision's .gitattributes, if it has a readable one."""
    d = next((d for d in diags if d.name == ".gitattributes"), None)
    path = source_path(cache, d, set()) if d is not None else None
    if path is None:
        return []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read(256 * 1024)
    except OSError:
        return []
    return [line.split()[0] for line in text.splitlines() if "filter=lfs" in line and line.split()]


def is_lfs(name: str, size: int, patterns: list[str]) -> bool:
    """Would the Hub store this file with LFS (so its blob is named by sha256)?"""
    base = name.rsplit("/", 1)[-1]
    if patterns:
        return any(fnmatch.fnmatch(base, p) or fnmatch.fnmatch(name, p) for p in patterns)
    return name.endswith(layout.WEIGHT_SUFFIXES) or size >= _LFS_MIN_SIZE


def view_files(
    cache: Cache,
    diags: list[EntryDiag],
    *,
    hashed: frozenset[str] = frozenset(),
    corrupt: frozenset[str] = frozenset(),
    problems: Mapping[str, tuple[str, ...]] | None = None,
    damaged: frozenset[str] = frozenset(),
) -> dict[str, ViewFile]:
    """A :class:`ViewFile` per entry of one revision.

    ``hashed`` content paths hashed to their name, ``corrupt`` ones did not. ``problems`` maps an
    entry's path to the codes of the findings about it, and ``damaged`` entries are those whose
    bytes a finding says are wrong or absent (their trust is :attr:`Trust.DAMAGED`).
    """
    # Only the repos of these entries: a view of one revision per repo of a 1,250-repo cache
    # went over every repo's blobs each time (pack of them all: 4.8 of its 5.2 s).
    usable = usable_blobs(cache, set(corrupt), {d.repo.folder: d.repo for d in diags}.values())
    patterns: list[str] | None = None
    files: dict[str, ViewFile] = {}
    for d in diags:
        source = source_path(cache, d, usable)
        if source is not None and source in corrupt:
            source = None
        size = d.expected_size
        extents: tuple[Extent, ...] = ()
        if source is not None:
            try:
                actual = os.lstat(source).st_size
            except OSError:
                actual = None
            if actual is not None:
                extents = (Extent(source, 0, actual),)
                size = actual if size is None else size
        if d.etag is not None:
            lfs = layout.SHA256_RE.fullmatch(d.etag) is not None
        else:
            if patterns is None:
                patterns = lfs_attributes(cache, diags)
            lfs = is_lfs(d.name, size or 0, patterns)
        if d.path in damaged or (d.node is not None and d.node.path in corrupt):
            trust = Trust.DAMAGED
        elif source is not None and source in hashed:
            trust = Trust.HASHED
        elif extents and d.expected_size is not None:
            trust = Trust.SIZE_CHECKED
        else:
            trust = Trust.UNKNOWN
        codes = problems.get(d.path, ()) if problems is not None else ()
        files[d.name] = ViewFile(d.name, d.etag, size, lfs, extents, trust, d.path, codes)
    return files
