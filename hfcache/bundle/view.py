"""A bundle file read in place: the :class:`~hfcache.view.RevisionSource` interface over a tar.

The manifest (the bundle's first member) and every member's offset are read once, without
unpacking; each file's bytes are then an :class:`~hfcache.view.Extent` (or two, when a member
spans split volumes) inside the bundle's own files. Every member is checked by the same rules
``unpack`` applies (:func:`hfcache.bundle.members.classify`). Nothing here vouches for the
bytes: they are size-checked against the manifest, and whoever reads them hashes them.
"""

from __future__ import annotations

import contextlib
import os
import tarfile
from itertools import accumulate

from hfcache import layout
from hfcache.bundle import manifestread
from hfcache.bundle.manifest import Manifest, RepoEntry
from hfcache.bundle.members import Kind, classify
from hfcache.bundle.volread import first_volume, open_volumes, volume_paths
from hfcache.errors import BadInputError, BundleError
from hfcache.repoid import RepoName
from hfcache.view import Extent, RevisionView, Trust, ViewFile, find_repo, resolve_revision


class BundleView:
    """:class:`~hfcache.view.RevisionSource` over a bundle file or its split volumes."""

    def __init__(self, first: str) -> None:
        first = first_volume(first)
        try:
            self.paths = volume_paths(first)
            sizes = [os.stat(p).st_size for p in self.paths]
        except OSError as e:
            raise BadInputError(f"cannot read {first}: {e.strerror or e}") from None
        if not self.paths:
            raise BadInputError("a bundle read in place must be a file, not stdin")
        self.label = first
        self._starts = [0, *accumulate(sizes)]
        self._blobs: dict[tuple[str, str], tuple[int, int]] = {}
        self.manifest = self._read(first)

    def _read(self, first: str) -> Manifest:
        found: Manifest | None = None
        with contextlib.closing(open_volumes(first)) as stream:
            try:
                with tarfile.open(fileobj=stream, mode="r:") as tar:
                    for ti in tar:
                        member = classify(ti)
                        if found is None:
                            if member.kind is not Kind.MANIFEST:
                                raise BundleError(f"{first}: the first member is not a manifest")
                            data = tar.extractfile(ti)
                            found = manifestread.parse(data.read() if data is not None else b"")
                        elif member.kind is Kind.BLOB:
                            self._blobs[(member.folder, member.key)] = (ti.offset_data, ti.size)
            except tarfile.TarError as e:
                raise BundleError(f"{first} is not a readable tar bundle: {e}") from None
        if found is None:
            raise BundleError(f"{first} holds no manifest")
        return found

    def extents(self, offset: int, length: int) -> tuple[Extent, ...]:
        """Where ``length`` bytes at ``offset`` of the whole bundle lie, volume by volume."""
        out: list[Extent] = []
        for path, start, end in zip(self.paths, self._starts[:-1], self._starts[1:], strict=True):
            lo, hi = max(offset, start), min(offset + length, end)
            if lo < hi:
                out.append(Extent(path, lo - start, hi - lo))
        return tuple(out)

    @property
    def where(self) -> str:
        return f"the bundle {self.label}"

    def repos(self) -> list[RepoName]:
        return sorted({RepoName(r.repo_type, r.repo_id) for r in self.manifest.repos})

    def _entries(self, name: RepoName) -> list[RepoEntry]:
        find_repo(name, self.repos(), self.where)
        return [r for r in self.manifest.repos if (r.repo_type, r.repo_id) == (name.repo_type, name.repo_id)]

    def refs(self, name: RepoName) -> dict[str, str]:
        """Every ref of every revision of the repo the bundle holds, each to its own commit."""
        return {
            ref: e.commit
            for e in self._entries(name)
            for ref, commit in sorted(e.refs.items())
            if commit == e.commit
        }

    def resolve(self, name: RepoName, revision: str) -> str:
        commits = [e.commit for e in self._entries(name)]
        return resolve_revision(name, self.refs(name), commits, revision, self.where)

    def revision(self, name: RepoName, revision: str) -> RevisionView:
        commit = self.resolve(name, revision)
        entry = next(e for e in self._entries(name) if e.commit == commit)
        files: dict[str, ViewFile] = {}
        for f in entry.files:
            where = self._blobs.get((entry.folder, f.etag))
            extents = self.extents(*where) if where is not None and where[1] == f.size else ()
            trust = Trust.SIZE_CHECKED if extents else Trust.UNKNOWN
            lfs = layout.SHA256_RE.fullmatch(f.etag) is not None
            files[f.path] = ViewFile(f.path, f.etag, f.size, lfs, extents, trust, f.path)
        refs = tuple(ref for ref, c in self.refs(name).items() if c == commit)
        return RevisionView(entry.repo_id, entry.repo_type, entry.commit, refs, files, (), self.label)
