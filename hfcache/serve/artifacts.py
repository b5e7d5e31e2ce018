"""Each revision the mirror serves as its ModelPack artifact, and every blob by its digest.

The artifact is :func:`hfcache.oci.revision.artifact_of`'s, so a revision served here and the
same revision packed by ``pack --format oci`` have one manifest digest. A layer's digest is the
sha256 of its file: for an LFS file its blob id (no hashing); for any other file it is hashed
once, from the same bytes ``/resolve/`` sends, in the same pass that checks them against their
git blob id (the :class:`~hfcache.serve.verifier.Verifier`'s verdict, recorded in the same digest
store), and remembered by the file's identity. A revision with a file the mirror cannot vouch
for (no bytes here, bytes that do not hash to their name, being written) is not described at
all: :class:`Unservable`, with the reasons.

Work is bounded: each artifact is built once per file set (concurrent requests share one build),
the last :data:`KEEP` are kept, and a blob is looked up only among the revisions of the repo the
request names.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from hfcache.fs.digests import Identity
from hfcache.oci.artifact import Artifact
from hfcache.oci.revision import artifact_of, file_entries
from hfcache.repoid import RepoName
from hfcache.serve.sources import Found, Mirror
from hfcache.serve.transfer import MISMATCH
from hfcache.serve.verifier import Verifier, read_chunks, read_piece
from hfcache.view import ViewFile

KEEP = 64
"""Artifacts kept built (their manifests are what a registry client asks for again)."""
MAX_REMEMBERED = 200_000
"""sha256 digests of small files remembered in memory (the digest store keeps them too)."""
SHA256 = "sha256"


class Unservable(Exception):
    """A revision or file the mirror will not describe: why, in words."""


@dataclass(frozen=True)
class FileBlob:
    """A blob that is a file of a revision: sent through the verifier, as ``/resolve/`` sends it."""

    found: Found
    file: ViewFile


@dataclass(frozen=True)
class BytesBlob:
    """A blob the mirror generated (a config): its exact bytes."""

    data: bytes


Blob = FileBlob | BytesBlob


def signature(found: Found) -> Hashable:
    """What an artifact depends on: the source, the revision, its refs and where each file's bytes are."""
    v = found.view
    files = tuple((f.name, f.blob_id, f.size, f.lfs, f.extents) for f in sorted(v.files.values(), key=_name))
    return (found.source.label, v.repo_type, v.repo_id, v.commit, v.refs, files)


def _name(f: ViewFile) -> str:
    return f.name


class Artifacts:
    """Artifacts of the revisions of one mirror, and the sha256 of their small files."""

    def __init__(self, mirror: Mirror, verifier: Verifier) -> None:
        self.mirror = mirror
        self.verifier = verifier
        self._lock = threading.Lock()
        self._sha256: dict[tuple[str, Identity], str] = {}
        self._built: OrderedDict[Hashable, Artifact] = OrderedDict()
        self._pending: dict[Hashable, asyncio.Future[Artifact]] = {}

    # --- one file ---------------------------------------------------------------------------------

    def check(self, found: Found, f: ViewFile) -> None:
        """:class:`Unservable` unless ``f`` has bytes here that are not known to be wrong."""
        if f.blob_id is None:
            raise Unservable("the mirror knows no blob id for it")
        if not f.available:
            raise Unservable(found.source.explain(found.view, f))
        if self.verifier.verdict(f) is False:
            raise Unservable(MISMATCH)

    def sha256(self, found: Found, f: ViewFile) -> str:
        """The sha256 of ``f``'s bytes, checked against its blob id on the way (runs on a thread)."""
        self.check(found, f)
        assert f.blob_id is not None
        if f.lfs:
            return f.blob_id
        key = self.verifier.key(f)
        if key is None:
            raise Unservable("its bytes are gone since the cache was scanned")
        with self._lock:
            known = self._sha256.get(key)
        if known is None and self.verifier.verdict(f):
            known = self.verifier.store.get(*key).get(SHA256)
        if known is not None:
            return known
        if found.source.writing(found.view, f):
            raise Unservable("it is being written right now (its lock is held); try again")
        git, whole = self.verifier.hasher(f), hashlib.sha256()
        for offset, n, path, _ in read_chunks(f.extents):
            whole.update(read_piece(path, offset, n, git))
        if not self.verifier.record(f, git.hexdigest(), key):
            raise Unservable(MISMATCH)
        digest = whole.hexdigest()
        self.verifier.store.put(*key, {SHA256: digest})
        with self._lock:
            if len(self._sha256) >= MAX_REMEMBERED:
                self._sha256.clear()
            self._sha256[key] = digest
        return digest

    # --- one revision -----------------------------------------------------------------------------

    def _build(self, found: Found) -> Artifact:
        files = sorted(found.view.files.values(), key=_name)
        sums: dict[str, str] = {}
        problems: list[str] = []
        for f in files:
            try:
                sums[f.name] = self.sha256(found, f)
            except Unservable as e:
                problems.append(f"{f.name} ({e})")
        if problems:
            more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
            raise Unservable("not every file is served: " + "; ".join(problems[:5]) + more)
        if not files:
            raise Unservable("the revision holds no files")
        return artifact_of(found.view, file_entries(files, sums, {}), files)

    def recheck(self, found: Found) -> None:
        """:class:`Unservable` if a file of a built artifact has since been found bad or gone."""
        for f in found.view.files.values():
            self.check(found, f)

    async def artifact(self, found: Found) -> Artifact:
        """The revision's artifact, built once per file set; :class:`Unservable` if it has none."""
        key = signature(found)
        loop = asyncio.get_running_loop()
        with self._lock:
            built = self._built.get(key)
            if built is not None:
                self._built.move_to_end(key)
        if built is not None:
            await loop.run_in_executor(None, self.recheck, found)
            return built
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(loop.run_in_executor(None, self._build, found))
            self._pending[key] = pending
            pending.add_done_callback(lambda _: self._pending.pop(key, None))
        artifact = await asyncio.shield(pending)
        with self._lock:
            self._built[key] = artifact
            while len(self._built) > KEEP:
                self._built.popitem(last=False)
        return artifact

    # --- every revision of a repo -----------------------------------------------------------------

    def revisions(self, repo: RepoName) -> list[Found]:
        """Every revision of ``repo`` the mirror serves, each from the first source holding it."""
        out = []
        for commit in self.mirror.commits(repo):
            try:
                found = self.mirror.find(repo, commit)
            except KeyError:
                return []
            if found is not None:
                out.append(found)
        return out

    async def file_blob(self, repo: RepoName, digest: str) -> FileBlob | None:
        """An LFS file of some revision of ``repo`` whose blob id is ``digest``: no hashing needed."""
        revisions = await asyncio.get_running_loop().run_in_executor(None, self.revisions, repo)
        hexdigest = digest.removeprefix("sha256:")
        for found in revisions:
            for f in found.view.files.values():
                if f.lfs and f.blob_id == hexdigest:
                    return FileBlob(found, f)
        return None

    async def blob(self, repo: RepoName, digest: str) -> Blob | None:
        """The config or a file of some revision's artifact that ``digest`` names (each artifact
        built for it, once); ``None`` if none."""
        revisions = await asyncio.get_running_loop().run_in_executor(None, self.revisions, repo)
        for found in revisions:
            try:
                artifact = await self.artifact(found)
            except Unservable:
                continue
            if artifact.config_digest == digest:
                return BytesBlob(artifact.config)
            for layer in artifact.layers:
                if layer.digest == digest:
                    return FileBlob(found, found.view.files[layer.file.path])
        return None
