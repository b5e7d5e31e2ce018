"""An OCI image layout read in place: the :class:`~hfcache.view.RevisionSource` interface over
the ModelPack artifacts hfcache made (``pack --format oci``, or copied by skopeo since).

Each manifest the index lists is read with the unpacker's own checks
(:func:`hfcache.oci.read.read_manifest`); its Hub identity comes from hfcache's annotations, so
an artifact without them (another tool's) is not listed here: ``unpack --repo-id`` takes those.
A file's bytes are its raw layer's blob file, size-checked against the descriptor; nothing here
vouches for them, whoever reads them hashes them (as for a bundle read in place).
"""

from __future__ import annotations

import os

from hfcache.errors import ArtifactError
from hfcache.oci import mediatypes as mt
from hfcache.oci.read import ModelArtifact, read_manifest
from hfcache.oci.source import LayoutSource
from hfcache.repoid import RepoName
from hfcache.view import Extent, RevisionView, Trust, ViewFile, find_repo, resolve_revision


class LayoutView:
    """:class:`~hfcache.view.RevisionSource` over an OCI image layout folder."""

    def __init__(self, path: str) -> None:
        self._source = LayoutSource(path)
        self.label = self._source.path
        self._held: dict[RepoName, dict[str, ModelArtifact]] = {}
        for named in self._source.manifests():
            art = read_manifest(named.data, named.where)
            if art.repo is not None and art.commit is not None:
                self._held.setdefault(art.repo, {}).setdefault(art.commit, art)
        if not self._held:
            raise ArtifactError(
                f"{path}: the layout holds no artifact that hfcache packed (none names a Hub repo)"
            )

    @property
    def where(self) -> str:
        return f"the OCI layout {self.label}"

    def repos(self) -> list[RepoName]:
        return sorted(self._held)

    def refs(self, name: RepoName) -> dict[str, str]:
        held = self._held[find_repo(name, self._held, self.where)]
        return {ref: commit for commit, art in sorted(held.items()) for ref in art.refs}

    def resolve(self, name: RepoName, revision: str) -> str:
        held = self._held[find_repo(name, self._held, self.where)]
        return resolve_revision(name, self.refs(name), held.keys(), revision, self.where)

    def revision(self, name: RepoName, revision: str) -> RevisionView:
        commit = self.resolve(name, revision)
        art = self._held[find_repo(name, self._held, self.where)][commit]
        files: dict[str, ViewFile] = {}
        for layer in art.layers:
            if layer.packing is not mt.Packing.RAW or layer.path is None:
                continue  # hfcache writes raw layers only; an artifact it made holds no other
            path = self._source.local_path(layer.digest)
            try:
                here = os.stat(path).st_size == layer.size
            except OSError:
                here = False
            extents = (Extent(path, 0, layer.size),) if here else ()
            lfs = bool(layer.lfs)
            files[layer.path] = ViewFile(
                layer.path,
                layer.etag,
                layer.size,
                lfs,
                extents,
                Trust.SIZE_CHECKED if here else Trust.UNKNOWN,
                path,
            )
        refs = tuple(sorted(r for r, c in self.refs(name).items() if c == commit))
        return RevisionView(name.repo_id, name.repo_type, commit, refs, files, (), self.label)
