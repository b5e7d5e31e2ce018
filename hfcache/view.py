"""One view of a revision: its commit and, for each file, its blob, size and where its bytes are.

Everything that reads a cached model asks this module, so "where are this file's bytes" has
one answer: the doctor's checks (shards, blobs), ``pack``, and later ``serve`` and ``fit``.
Bytes are only ever found through links the scan saw and resolved by their text, never by
following a link on disk: a hostile link cannot lead a reader out of the cache.

:class:`RevisionSource` is the interface; :class:`CacheView` implements it over a scanned cache.
A bundle file can implement the same interface from its manifest and member offsets
(:class:`Extent` says where bytes lie inside a bigger file).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from hfcache import layout
from hfcache.errors import BadInputError
from hfcache.model import Cache, Kind, Node, Repo
from hfcache.scan.entries import EntryDiag, Form, diagnose_revision

# Files the Hub stores with LFS by default (its default .gitattributes), used only when a
# revision has neither a tree listing nor a .gitattributes of its own.
_LFS_MIN_SIZE = 10 * 1024 * 1024


class Trust(str, Enum):
    """How far a file's bytes are known to be right."""

    HASHED = "hashed"  # hashed to its blob id
    SIZE_CHECKED = "size-checked"  # the size the tree listing gives; content not hashed
    UNKNOWN = "unknown"  # nothing vouches for it beyond its name


@dataclass(frozen=True)
class Extent:
    """``length`` bytes at ``offset`` in the regular file ``path`` (a blob, or a member in a tar)."""

    path: str
    offset: int
    length: int


@dataclass(frozen=True)
class ViewFile:
    """One file of a revision. ``extents`` is empty when its bytes are not here (or not usable)."""

    name: str
    blob_id: str | None
    size: int | None
    lfs: bool
    extents: tuple[Extent, ...]
    trust: Trust

    @property
    def available(self) -> bool:
        return bool(self.extents)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "blob_id": self.blob_id,
            "size": self.size,
            "lfs": self.lfs,
            "available": self.available,
            "trust": self.trust.value,
        }


@dataclass(frozen=True)
class RevisionView:
    """A resolved revision: commit, the refs naming it, and its files by Hub path."""

    repo_id: str
    repo_type: str
    commit: str
    refs: tuple[str, ...]
    files: dict[str, ViewFile] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "repo_type": self.repo_type,
            "commit": self.commit,
            "refs": list(self.refs),
            "files": [f.to_json() for f in self.files.values()],
        }


class RevisionSource(Protocol):
    """Anything that holds repo revisions: a cache, a bundle file."""

    def repos(self) -> list[tuple[str, str]]:
        """(repo_type, repo_id) of every repo held."""
        ...

    def revision(self, repo_id: str, revision: str, repo_type: str = "model") -> RevisionView:
        """Resolve ``revision`` (branch, tag, commit) and describe its files. ``BadInputError`` if unknown."""
        ...


# --- where a blob's bytes are -------------------------------------------------------------------


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
    return {e.etag: e.content_size for rev in repo.revisions.values() for e in (rev.tree or {}).values()}


def usable_blobs(cache: Cache, corrupt: set[str]) -> set[tuple[str, str]]:
    """(repo folder, etag) pairs whose content can serve as a link target or be read as the file.

    Present, reachable inside the cache, of the size the tree listing gives, and not among the
    ``corrupt`` content paths that failed verification.
    """
    usable: set[tuple[str, str]] = set()
    for repo in cache.repos:
        sizes = expected_sizes(repo)
        for etag in repo.blobs:
            node = content_node(cache, repo, etag)
            if node is None or node.path in corrupt:
                continue
            if etag in sizes and node.size != sizes[etag]:
                continue
            usable.add((repo.folder, etag))
    return usable


def copy_sources(diags: Iterable[EntryDiag], corrupt: set[str]) -> dict[tuple[str, str], EntryDiag]:
    """(repo folder, etag) → a full copy that can supply that blob: its size fits and no hash check failed."""
    found: dict[tuple[str, str], EntryDiag] = {}
    for d in diags:
        if (
            d.form is Form.COPY
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
    blob); else the usable blob the tree listing names.
    """
    if d.form is Form.COPY and d.node is not None and d.expected_size in (None, d.node.size):
        return d.node.path
    if d.wrong_blob is None and d.linked_blob is not None:
        return blob_content_path(cache, d.repo, d.linked_blob)
    if d.etag is not None and (d.repo.folder, d.etag) in usable:
        return blob_content_path(cache, d.repo, d.etag)
    return None


# --- revisions ---------------------------------------------------------------------------------


def clean_ref(raw: bytes) -> str | None:
    """The commit a ref file means, if that is certain: 40 hex once whitespace and a BOM are gone."""
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff").strip().lower()
    return text if layout.COMMIT_RE.fullmatch(text) else None


def resolve_commit(repo: Repo, revision: str) -> str:
    """A branch, tag, ``refs/pr/N`` or commit hash (or a unique prefix of 7+) → the cached commit."""
    if revision in repo.refs:
        commit = clean_ref(repo.refs[revision])
        if commit is not None and commit in repo.revisions:
            return commit
    if layout.COMMIT_RE.fullmatch(revision) and revision in repo.revisions:
        return revision
    matches = [c for c in repo.revisions if len(revision) >= 7 and c.startswith(revision.lower())]
    if len(matches) == 1:
        return matches[0]
    known = sorted(repo.refs) or ["(no refs)"]
    raise BadInputError(
        f"revision {revision!r} of {repo.repo_id} is not in the cache (refs: {', '.join(known)}; "
        f"{len(repo.revisions)} snapshot(s))"
    )


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
) -> dict[str, ViewFile]:
    """A :class:`ViewFile` per entry of one revision. ``hashed`` paths verified; ``corrupt`` failed."""
    usable = usable_blobs(cache, set(corrupt))
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
        if source is not None and source in hashed:
            trust = Trust.HASHED
        elif extents and d.expected_size is not None:
            trust = Trust.SIZE_CHECKED
        else:
            trust = Trust.UNKNOWN
        files[d.name] = ViewFile(d.name, d.etag, size, lfs, extents, trust)
    return files


class CacheView:
    """:class:`RevisionSource` over one scanned cache."""

    def __init__(
        self, cache: Cache, *, hashed: frozenset[str] = frozenset(), corrupt: frozenset[str] = frozenset()
    ) -> None:
        self.cache = cache
        self._hashed = hashed
        self._corrupt = corrupt

    def repos(self) -> list[tuple[str, str]]:
        return [(r.repo_type, r.repo_id) for r in self.cache.repos]

    def repo(self, repo_id: str, repo_type: str = "model") -> Repo:
        folder = layout.repo_folder(repo_id, repo_type)
        found = next((r for r in self.cache.repos if r.folder == folder), None)
        if found is None:
            raise BadInputError(f"{repo_type} {repo_id} is not in the cache {self.cache.root} (no {folder}/)")
        return found

    def revision(self, repo_id: str, revision: str, repo_type: str = "model") -> RevisionView:
        repo = self.repo(repo_id, repo_type)
        commit = resolve_commit(repo, revision)
        diags = diagnose_revision(self.cache, repo, repo.revisions[commit])
        refs = tuple(sorted(name for name, raw in repo.refs.items() if clean_ref(raw) == commit))
        files = view_files(self.cache, diags, hashed=self._hashed, corrupt=self._corrupt)
        return RevisionView(repo.repo_id, repo.repo_type, commit, refs, files)
