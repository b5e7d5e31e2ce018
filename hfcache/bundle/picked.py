"""One file a pack picked: what the bundle needs of it, compact enough to hold thousands of repos.

A :class:`~hfcache.view.ViewFile` of a cache carries its snapshot entry and its bytes' place as
full paths; pack holds every picked file from the moment it is chosen until the bundle is written.
A :class:`PickedFile` keeps the names it needs (interned: ``config.json`` is one string for every
repo) and derives the blob's path from its repo folder, keeping a path only when the bytes are
elsewhere (a copy in the snapshot, as a cache without symlinks holds them).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hfcache import layout
from hfcache.model import RepoFolder
from hfcache.view import Extent, ViewFile


class PickedFile:
    """A picked file whose bytes are here, in one file: name, blob id, size, and where they are.

    ``sha256`` and ``git_sha1``: the digests of a small file's bytes (the manifest lists them before
    any blob is written), filled in by :func:`hfcache.bundle.packhash.prehash`; ``None`` until
    then, and when its bytes could not be read. An LFS file's sha256 is its name, checked as it
    is written.
    """

    __slots__ = ("_root", "_source", "blob_id", "git_sha1", "lfs", "name", "sha256", "size", "trust")

    def __init__(self, vf: ViewFile, root: str) -> None:
        """``vf``: an available file of a cache's revision; ``root``: its repo folder's path."""
        source = vf.path
        if source is None:
            raise ValueError(f"{vf.name}: its bytes are not in one file")
        self.name = sys.intern(vf.name)
        self.blob_id = sys.intern(vf.blob_id) if vf.blob_id is not None else None
        self.size = vf.size if vf.size is not None else sum(e.length for e in vf.extents)
        self.lfs = vf.lfs
        self.trust = vf.trust
        self._root = root
        canonical = self.blob_id is not None and source == os.path.join(root, layout.BLOBS, self.blob_id)
        self._source = None if canonical else source
        self.sha256: str | None = None
        self.git_sha1: str | None = None

    @property
    def in_blob(self) -> bool:
        """Are its bytes its blob in its repo folder (not a copy elsewhere)?"""
        return self._source is None

    @property
    def path(self) -> str:
        """The one regular file holding exactly these bytes: its blob, or a copy."""
        if self._source is not None:
            return self._source
        assert self.blob_id is not None  # a blob path is kept only for a file without its blob id
        return os.path.join(self._root, layout.BLOBS, self.blob_id)

    def view(self) -> ViewFile:
        """The file as the view's record (for code that reads any revision's files)."""
        extent = Extent(self.path, 0, self.size)
        return ViewFile(self.name, self.blob_id, self.size, self.lfs, (extent,), self.trust)

    def __repr__(self) -> str:
        return f"PickedFile({self.name!r}, {self.blob_id!r}, {self.size})"



@dataclass(frozen=True, slots=True)
class Section:
    """What writing one revision's part of the bundle needs once its manifest entry is made:
    where each file's bytes are. The picked files are let go then (the entry lists them), so
    that pack holds one entry per file, not an entry and a picked file."""

    repo: RepoFolder
    commit: str
    tree_path: str | None
    copies: Mapping[str, str]
    """File name → the file holding its bytes, for each file whose bytes are not its blob."""

    @classmethod
    def of(cls, repo: RepoFolder, commit: str, tree_path: str | None, files: Iterable[PickedFile]) -> Section:
        copies = {f.name: f.path for f in files if not f.in_blob}
        return cls(repo, commit, tree_path, copies)

    def source(self, name: str, etag: str) -> str:
        """The one file holding the bytes of the file ``name``, whose blob id is ``etag``."""
        return self.copies.get(name) or os.path.join(self.repo.path, layout.BLOBS, etag)
