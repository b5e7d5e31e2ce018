"""The bundle manifest: what a bundle holds and the hashes that vouch for it.

Every repo folder in a bundle starts with the same manifest, ``<folder>/.hfcache/manifest.json``
(inside the repo folder, where huggingface_hub's scan never looks). The first one is what
``unpack`` verifies every later member against, so it must be the first member of the tar.
Parsing is strict: a bundle is untrusted input.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Protocol, runtime_checkable

from hfcache import layout

FORMAT = "hfcache-bundle/1"
DELTA_FORMAT = "hfcache-bundle/2"
"""A delta bundle: it leaves out blobs the target holds. A new format, so that an hfcache that
cannot complete one from the target refuses it by name rather than calling it cut short."""
MANIFEST_NAME = f"{layout.HFCACHE_DIR}/manifest.json"
MAX_MANIFEST_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of a packed revision: its Hub path, size, sha256 and the blob (etag) holding it.

    Slotted: a manifest of thousands of repos holds one per file, for as long as pack or unpack runs."""

    path: str
    size: int
    sha256: str
    etag: str


@dataclass(frozen=True, slots=True)
class RepoEntry:
    """One packed repo revision, and how it was chosen (slotted: pack and unpack hold one per revision)."""

    repo_id: str
    repo_type: str
    folder: str
    revision: str
    commit: str
    refs: dict[str, str]
    files: list[FileEntry]
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    allow_incomplete: bool = False
    problems: list[dict[str, Any]] = field(default_factory=list)
    tree: bool = False
    expected: list[str] = field(default_factory=list)
    """Blob ids of this revision the bundle leaves out: the target must hold them (a delta)."""


@runtime_checkable
class FolderIndexed(Protocol):
    """Repo entries that tell each one's folder without making it (:class:`LazyRepos`)."""

    folders: list[str]


@dataclass(frozen=True)
class Manifest:
    """Everything a bundle holds. ``blobs()`` is derived, never stored twice."""

    hfcache_version: str
    created: str
    repos: Sequence[RepoEntry]
    format: str = FORMAT
    against: str = ""
    """For a delta: what it was packed against (an inventory, a bundle), to name it when the
    target lacks a blob the delta expects."""

    @functools.cached_property
    def is_delta(self) -> bool:
        return any(r.expected for r in self.repos)

    def carried(self) -> Mapping[tuple[str, str], FileEntry]:
        """The blobs the bundle itself holds: every blob less those it expects the target to hold."""
        return self._carried

    def blobs(self) -> Mapping[tuple[str, str], FileEntry]:
        """(repo folder, etag) → a file entry holding that blob (each blob once). As large as the
        manifest: what reads a bundle of thousands of repos asks a folder at a time instead."""
        return self._blobs

    @functools.cached_property
    def _blobs(self) -> dict[tuple[str, str], FileEntry]:
        return {(folder, etag): f for folder in self.folders() for etag, f in self.blobs_in(folder).items()}

    @functools.cached_property
    def _carried(self) -> dict[tuple[str, str], FileEntry]:
        return {(folder, etag): f for folder in self.folders() for etag, f in self.carried_in(folder).items()}

    def folders(self) -> Iterable[str]:
        """Each repo folder of the bundle, once, in the manifest's order."""
        return self._by_folder.keys()

    def entries_of(self, folder: str) -> Sequence[RepoEntry]:
        """The revisions of ``folder`` the bundle holds (none: not a folder of the bundle)."""
        return [self.repos[i] for i in self._by_folder.get(folder, ())]

    def revisions_in(self, folder: str) -> int:
        """How many revisions of ``folder`` the bundle holds (no entry is made to count them)."""
        return len(self._by_folder.get(folder, ()))

    def blobs_in(self, folder: str) -> dict[str, FileEntry]:
        """Etag → a file entry holding that blob, for each blob of ``folder``'s revisions once."""
        return blobs_of(self.entries_of(folder))

    def carried_in(self, folder: str) -> dict[str, FileEntry]:
        """:meth:`blobs_in` less those the bundle expects the target to hold (a delta)."""
        return carried_of(self.entries_of(folder))

    def by_folder(self) -> Iterator[tuple[str, Sequence[RepoEntry]]]:
        """Each repo folder with its revisions, a folder at a time (each entry made once)."""
        for folder in self.folders():
            yield folder, self.entries_of(folder)

    def files_of(self, folder: str, etag: str) -> str:
        """The files a blob holds, as people name them: ``model-00002-of-00003.safetensors of
        org/name``, or ``a.txt (and 2 more) of org/name`` when several share it."""
        entries = self.entries_of(folder)
        paths = {f.path for r in entries for f in r.files if f.etag == etag}
        return files_named(paths, etag, entries[0].repo_id if entries else folder)

    @functools.cached_property
    def _by_folder(self) -> dict[str, list[int]]:
        # Once per manifest: a member is described (and named by its repo id) from its own repo's
        # entries; a search of every repo per member grew as members times repos. Indices, not
        # entries: a manifest read lazily makes them again when asked.
        repos = self.repos
        folders = repos.folders if isinstance(repos, FolderIndexed) else [r.folder for r in repos]
        by: dict[str, list[int]] = {}
        for i, folder in enumerate(folders):
            by.setdefault(folder, []).append(i)
        return by

    def repo_id(self, folder: str) -> str:
        """The repo id of a repo folder of the bundle (the folder's name if the manifest lacks it)."""
        first = self._by_folder.get(folder)
        return self.repos[first[0]].repo_id if first else folder

    @functools.cached_property
    def total_bytes(self) -> int:
        """The bytes of the blobs the bundle holds (a delta's expected ones are not in it)."""
        return sum(f.size for _, entries in self.by_folder() for f in carried_of(entries).values())

    def to_bytes(self) -> bytes:
        """The manifest as JSON: keys sorted, one space of indent per level, UTF-8."""
        return b"".join(self.pieces())

    def pieces(self) -> Iterator[bytes]:
        """:meth:`to_bytes` a repo at a time, with the same bytes as ``json.dumps`` of the whole
        document: with an indent, ``json`` encodes in Python and holds every small piece of the
        document at once (a manifest of 3.7 MB, 2,500 repos, made 25 MB of them), and pack
        writes a manifest of thousands of repos without ever holding it whole."""
        if not self.repos:
            yield _dumps(asdict(self)).encode("utf-8")
            return
        head: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "repos"}
        head["repos"] = _REPOS_MARK
        before, after = _dumps(head).split(_dumps(_REPOS_MARK), 1)
        # A repo is an item of the top level's "repos" list: two levels in; JSON text holds no
        # raw newline, so every line after the first is indented by splitting on them.
        pending = before + "[\n"
        for r in self.repos:
            yield (pending + "  " + _dumps(asdict(r)).replace("\n", "\n  ")).encode("utf-8")
            pending = ",\n"
        yield ("\n ]" + after).encode("utf-8")


_REPOS_MARK = "\x00hfcache-repos\x00"  # no real value holds a NUL


def blobs_of(entries: Iterable[RepoEntry]) -> dict[str, FileEntry]:
    """Etag → a file entry holding that blob, for each blob of ``entries`` (one folder's) once."""
    out: dict[str, FileEntry] = {}
    for repo in entries:
        for f in repo.files:
            out.setdefault(f.etag, f)
    return out


def carried_of(entries: Sequence[RepoEntry]) -> dict[str, FileEntry]:
    """:func:`blobs_of` less those the bundle expects the target to hold (a delta)."""
    blobs = blobs_of(entries)
    for repo in entries:
        for etag in repo.expected:
            blobs.pop(etag, None)
    return blobs


def files_named(paths: Collection[str], etag: str, repo_id: str) -> str:
    """A blob as people name it, by the files of ``repo_id`` it holds (``paths``)."""
    if not paths:
        return f"blob {etag} of {repo_id}"
    more = f" (and {len(paths) - 1} more)" if len(paths) > 1 else ""
    return f"{min(paths)}{more} of {repo_id}"


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=1, ensure_ascii=False, sort_keys=True)
