"""The manifest a repo folder at a time, for whoever checks a bundle's members as they stream by.

A bundle holds each revision's members together (its blobs, tree listing, refs and links), so
the members of one repo folder are checked against that folder's revisions alone: a table of
its blobs and the files each holds, made when its first member arrives and kept for the next
few folders. A table of every blob of thousands of repos is never made.

A hostile bundle could interleave the members of large folders to have their tables made again
and again; the work of making them is bounded (:data:`WORK_PER_FILE` times the files the
manifest lists), past which the bundle is refused as no pack writes one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from hfcache.bundle.manifest import FileEntry, Manifest, RepoEntry, carried_of, files_named
from hfcache.errors import BundleError

KEPT = 4
"""Folder tables kept: revisions of one repo packed with others between them stay in reach."""
WORK_PER_FILE = 16
"""Files indexed, per file the manifest lists, before interleaved members are refused."""


class FolderTable:
    """One repo folder of a manifest: its revisions, the blobs the bundle carries (each once) and
    the files each blob holds."""

    def __init__(self, manifest: Manifest, folder: str) -> None:
        self.folder = folder
        self.entries: Sequence[RepoEntry] = manifest.entries_of(folder)  # each made once, here
        self.carried: dict[str, FileEntry] = carried_of(self.entries)
        self.repo_id = self.entries[0].repo_id if self.entries else folder
        self._paths: dict[str, list[str]] | None = None

    @property
    def files(self) -> int:
        return sum(len(r.files) for r in self.entries)

    def revision(self, commit: str) -> RepoEntry | None:
        """The revision of this folder at ``commit``, if the bundle holds it."""
        return next((r for r in self.entries if r.commit == commit), None)

    def files_of(self, etag: str) -> str:
        """The files the blob ``etag`` holds, as :meth:`Manifest.files_of` names them."""
        if self._paths is None:  # once per folder: a member at a time, a big repo was quadratic
            self._paths = {}
            for r in self.entries:
                for f in r.files:
                    self._paths.setdefault(f.etag, []).append(f.path)
        return files_named(set(self._paths.get(etag, ())), etag, self.repo_id)


class FolderTables:
    """:class:`FolderTable` of the folders read last, made as their members arrive."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self._kept: OrderedDict[str, FolderTable] = OrderedDict()
        self._budget = WORK_PER_FILE * sum(len(r.files) for r in manifest.repos) + (1 << 16)

    def __getitem__(self, folder: str) -> FolderTable:
        """The table of ``folder`` (empty when the manifest has no such folder)."""
        table = self._kept.get(folder)
        if table is not None:
            self._kept.move_to_end(folder)
            return table
        table = FolderTable(self.manifest, folder)
        self._budget -= table.files
        if self._budget < 0:
            raise BundleError(
                f"the members of {table.repo_id} and other repos are interleaved far more than pack "
                "writes them: refused (checking them would take work without bound)"
            )
        self._kept[folder] = table
        if len(self._kept) > KEPT:
            self._kept.popitem(last=False)
        return table
