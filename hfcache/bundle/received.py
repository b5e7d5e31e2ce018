"""What a verified bundle leaves for the installer, and which snapshot links have arrived.

Per blob only its key is kept (and its staged file where that is not the usual place), and the
links are the manifest's files: unpacking thousands of repos holds little more than the manifest.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import cast

from hfcache import layout
from hfcache.bundle.manifest import FileEntry, Manifest, RepoEntry

BlobKey = tuple[str, str]  # (repo folder, etag)


@dataclass
class Received:
    """A fully verified bundle: what is staged where, and what the target already holds.

    Kept per blob is its key and, only where it is not the usual place, its staged file; the
    snapshot links are the manifest's files (every one arrived as listed), not kept per member:
    unpacking thousands of repos holds little more than the manifest."""

    manifest: Manifest
    staging: str | None = None
    staged: dict[BlobKey, str] = field(default_factory=dict)
    """Each blob written for the install → its staged file; ``""``: ``staging/<folder>/<etag>``."""
    present: dict[BlobKey, str] = field(default_factory=dict)
    trees: dict[tuple[str, str], bytes | None] = field(default_factory=dict)
    """Each tree listing (folder, commit) → its bytes; ``None``: staged at :meth:`tree_file` (not
    kept at all when only checking): a bundle of thousands of repos holds none of them."""
    refs: dict[tuple[str, str], str] = field(default_factory=dict)
    bytes_read: int = 0

    def staged_file(self, key: BlobKey) -> str:
        """Where the staged blob ``key`` is."""
        path = self.staged[key]
        if path:
            return path
        if self.staging is None:
            raise ValueError(f"blob {key[1]} of {key[0]} was not staged")
        return os.path.join(self.staging, *key)

    def tree_file(self, key: tuple[str, str]) -> str:
        """Where the staged tree listing of revision ``key`` (folder, commit) is (beside the
        folder's staged blobs, named as no blob is)."""
        if self.staging is None:
            raise ValueError(f"the tree listing of {key[0]} at {key[1]} was not staged")
        return os.path.join(self.staging, key[0], layout.TREES, f"{key[1]}.json")

    def tree_bytes(self, key: tuple[str, str]) -> bytes:
        """The tree listing of revision ``key``, held or read back from where it was staged."""
        data = self.trees[key]
        if data is not None:
            return data
        with open(self.tree_file(key), "rb") as f:
            return f.read()

    def links(self) -> Iterator[tuple[str, str, str, str]]:
        """(folder, commit, path, etag) of each snapshot link: a revision at a time, by path."""
        for repo in self.manifest.repos:
            for f in sorted(repo.files, key=_path_of):
                yield repo.folder, repo.commit, f.path, f.etag


def _path_of(f: FileEntry) -> str:
    return f.path


class LinksRead:
    """Which snapshot links have arrived, told by those still due: a revision's links are listed
    when its first one arrives and let go once all have (a bundle holds a repo's links together),
    so that thousands of repos cost a set of revisions, not an entry per file.

    As a container, it holds the (folder, commit, path) of each link read."""

    def __init__(self) -> None:
        self.due: dict[tuple[str, str], dict[str, str]] = {}
        self.done: set[tuple[str, str]] = set()

    def read(self, revision: tuple[str, str], path: str, etag: str, entry: RepoEntry | None) -> bool:
        """The link ``path`` → ``etag`` of ``revision`` (``entry`` in the manifest) arrived:
        False unless the manifest lists it and it had not arrived before."""
        due = self.due.get(revision)
        if due is None:
            if entry is None or revision in self.done:
                return False
            due = self.due[revision] = {f.path: f.etag for f in entry.files}
        if due.pop(path, None) != etag:
            return False
        if not due:
            del self.due[revision]
            self.done.add(revision)
        return True

    def __contains__(self, link: object) -> bool:
        folder, commit, path = cast(tuple[str, str, str], link)
        if (folder, commit) in self.done:
            return True
        due = self.due.get((folder, commit))
        return due is not None and path not in due
