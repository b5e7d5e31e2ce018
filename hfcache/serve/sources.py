"""What the mirror serves: caches and bundle files, as one hub, kept up to date while it runs.

A cache source is scanned at start (no hashing) and re-scanned when the folders that change
when a model is unpacked, downloaded or repaired into it (the cache root, each repo's
``refs/``, ``snapshots/`` and ``blobs/`` and every snapshot folder) change their modification
time: a cheap ``stat`` sweep, at most every :data:`RESCAN_INTERVAL` seconds. A bundle is read
once. Sources are never written to.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, replace

from hfcache import layout
from hfcache.bundle.view import BundleView
from hfcache.errors import BadInputError
from hfcache.fs import fsops
from hfcache.fs.digests import DigestStore
from hfcache.fs.locks import is_held
from hfcache.layout import Location, PathKind
from hfcache.repoid import RepoName
from hfcache.sources import CacheView
from hfcache.view import Extent, RevisionView, Trust, ViewFile

RESCAN_INTERVAL = 2.0


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


class CacheSource:
    """One hub cache (or one repo folder of it), re-scanned when it changes."""

    def __init__(self, loc: Location, digests: DigestStore | None = None) -> None:
        self.loc = loc
        self.label = loc.path
        self._digests = digests
        self._lock = threading.Lock()
        self._checked = 0.0
        self._signature: tuple[int, ...] = ()
        self._views: dict[tuple[RepoName, str], RevisionView] = {}
        self.view = self._scan()

    def _watched(self) -> list[str]:
        root = self.loc.cache_root
        names = [self.loc.only_repo] if self.loc.only_repo else sorted(os.listdir(root))
        paths = [root]
        for name in names:
            if layout.parse_repo_folder(name) is None:
                continue
            repo = os.path.join(root, name)
            paths += [os.path.join(repo, d) for d in (layout.REFS, layout.SNAPSHOTS, layout.BLOBS)]
            snapshots = os.path.join(repo, layout.SNAPSHOTS)
            if os.path.isdir(snapshots):
                paths += [os.path.join(snapshots, c) for c in os.listdir(snapshots)]
        return paths

    def _sign(self) -> tuple[int, ...]:
        try:
            return tuple(_mtime(p) for p in self._watched())
        except OSError:
            return ()

    def _scan(self) -> CacheView:
        self._signature = self._sign()
        self._views = {}
        return CacheView.open(self.loc, digests=self._digests)

    def refresh(self) -> bool:
        """Re-scan if anything changed since the last scan; at most once per interval. True if it did."""
        now = time.monotonic()
        with self._lock:
            if now - self._checked < RESCAN_INTERVAL:
                return False
            self._checked = now
            if self._sign() == self._signature:
                return False
            self.view = self._scan()
            return True

    def repos(self) -> list[RepoName]:
        return self.view.repos()

    def refs(self, name: RepoName) -> dict[str, str]:
        return self.view.refs(name)

    def resolve(self, name: RepoName, revision: str) -> str:
        return self.view.resolve(name, revision)

    def commits(self, name: RepoName) -> list[str]:
        """Every commit of the repo held (a snapshot folder each), sorted."""
        return self.view.commits(name)

    def revision(self, name: RepoName, revision: str) -> RevisionView:
        """The judged revision, kept until the next re-scan (safe to call from worker threads)."""
        view = self.view
        key = (name, view.resolve(name, revision))
        with self._lock:
            found = self._views.get(key)
        if found is None:
            found = view.revision(name, key[1])
            with self._lock:
                if self.view is view:
                    self._views[key] = found
        return found

    def _paths(self, view: RevisionView, f: ViewFile) -> tuple[str, str, str]:
        root = self.loc.cache_root
        folder = layout.repo_folder(view.repo_id, view.repo_type)
        entry = os.path.join(root, folder, layout.SNAPSHOTS, view.commit, *f.name.split("/"))
        return folder, entry, os.path.join(root, folder, layout.BLOBS, f.blob_id or "")

    def explain(self, view: RevisionView, f: ViewFile) -> str:
        """Why a listed file is not served: the codes of the doctor's findings about it."""
        return ", ".join(f.problems) or "its bytes are not in the cache"

    def writing(self, view: RevisionView, f: ViewFile) -> bool:
        """Is a download or an unpack holding huggingface_hub's lock for this blob right now?"""
        folder, _, _ = self._paths(view, f)
        return f.blob_id is not None and is_held(layout.lock_path(self.loc.cache_root, folder, f.blob_id))


class BundleSource:
    """One bundle file (or set of split volumes), read in place.

    A delta bundle (``pack --exclude-present``) lacks the blobs its target held: they are taken
    from the caches served with it (:meth:`complete_from`), by blob id, and verified like any
    byte the mirror serves."""

    def __init__(self, path: str) -> None:
        self.label = path
        self.view = BundleView(path)
        self._caches: list[str] = []
        self._expected = {(r.folder, e) for r in self.view.manifest.repos for e in r.expected}

    def complete_from(self, cache_roots: list[str]) -> list[str]:
        """Take a delta's expected blobs from these caches; returns the files still lacking."""
        self._caches = cache_roots
        blobs = self.view.manifest.blobs()
        return [
            self.view.manifest.files_of(*key)
            for key in sorted(self._expected)
            if self._find(*key, blobs[key].size) is None
        ]

    def _find(self, folder: str, etag: str, size: int) -> str | None:
        for root in self._caches:
            for name in [folder, *(n for n in _repo_folders(root) if n != folder)]:
                path = fsops.blob_file(root, os.path.join(root, name), etag)
                if path is not None and os.path.getsize(path) == size:
                    return path
        return None

    def refresh(self) -> bool:
        return False

    def repos(self) -> list[RepoName]:
        return self.view.repos()

    def refs(self, name: RepoName) -> dict[str, str]:
        return self.view.refs(name)

    def resolve(self, name: RepoName, revision: str) -> str:
        return self.view.resolve(name, revision)

    def commits(self, name: RepoName) -> list[str]:
        """Every commit of the repo the bundle holds, sorted."""
        held = (name.repo_type, name.repo_id)
        return sorted({r.commit for r in self.view.manifest.repos if (r.repo_type, r.repo_id) == held})

    def revision(self, name: RepoName, revision: str) -> RevisionView:
        rv = self.view.revision(name, revision)
        if not self._expected:
            return rv
        folder = layout.repo_folder(rv.repo_id, rv.repo_type)
        files = dict(rv.files)
        for path, f in rv.files.items():
            if not f.available and f.blob_id is not None and (folder, f.blob_id) in self._expected:
                found = self._find(folder, f.blob_id, f.size or 0)
                if found is not None:
                    files[path] = replace(
                        f, extents=(Extent(found, 0, f.size or 0),), trust=Trust.SIZE_CHECKED
                    )
        return replace(rv, files=files)

    def explain(self, view: RevisionView, f: ViewFile) -> str:
        """Why a listed file has no bytes here: the problems recorded when it was packed."""
        entry = next(r for r in self.view.manifest.repos if r.commit == view.commit)
        recorded = [str(p.get("code")) for p in entry.problems if p.get("path_in_repo") == f.name]
        if f.blob_id in entry.expected:
            return "a delta bundle: its base, which holds these bytes, is not served with it"
        return ", ".join(recorded) or "the bundle holds no member with its bytes"

    def writing(self, view: RevisionView, f: ViewFile) -> bool:
        return False


Source = CacheSource | BundleSource


def _incomplete_delta(s: BundleSource, lacking: list[str]) -> BadInputError:
    more = f" and {len(lacking) - 1} more" if len(lacking) > 1 else ""
    return BadInputError(
        f"{s.label} is a delta bundle, and the caches served with it lack {lacking[0]}{more}: serve it "
        f"together with the cache it was packed against ({s.view.manifest.against})"
    )


def _repo_folders(root: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(root) if layout.parse_repo_folder(n) is not None)
    except OSError:
        return []


def open_source(path: str | None, digests: DigestStore | None = None) -> Source:
    """A cache (anything ``doctor`` accepts; ``None``: huggingface_hub's) or a bundle file.

    A cache's revisions say which files the ``digests`` record (the verifier's) vouches for."""
    if path is not None and os.path.isfile(os.path.expanduser(path)):
        return BundleSource(os.path.expanduser(path))
    loc = layout.locate(path)
    if loc.kind is PathKind.LOCAL_DIR:
        raise BadInputError(f"{loc.path} is a plain model folder; serve a cache or a bundle")
    return CacheSource(loc, digests)


@dataclass(frozen=True)
class Found:
    """A revision and the source that holds it."""

    source: Source
    view: RevisionView


class Mirror:
    """Several sources served as one hub: the first source holding a repo revision answers for it.

    A delta bundle is served only over the caches that complete it: :class:`BadInputError`
    otherwise, naming the files none of them holds."""

    def __init__(self, sources: list[Source]) -> None:
        self.sources = sources
        caches = [s.loc.cache_root for s in sources if isinstance(s, CacheSource)]
        for s in sources:
            if isinstance(s, BundleSource) and s.view.manifest.is_delta:
                lacking = s.complete_from(caches)
                if lacking:
                    raise _incomplete_delta(s, lacking)

    def refresh(self) -> None:
        for s in self.sources:
            s.refresh()

    def holders(self, name: RepoName) -> list[Source]:
        return [s for s in self.sources if name in s.repos()]

    def find(self, name: RepoName, revision: str) -> Found | None:
        """The revision from the first source that holds it, or ``None`` if none does.

        Raises :class:`KeyError` if no source holds the repo at all.
        """
        holders = self.holders(name)
        if not holders:
            raise KeyError(str(name))
        for s in holders:
            try:
                return Found(s, s.revision(name, revision))
            except BadInputError:
                continue
        return None

    def repos(self) -> list[RepoName]:
        """Every repo some source holds, each once."""
        return sorted({r for s in self.sources for r in s.repos()})

    def commits(self, name: RepoName) -> list[str]:
        """Every commit of the repo some source holds, each once, sorted."""
        return sorted({c for s in self.holders(name) for c in s.commits(name)})

    def refs(self, name: RepoName) -> dict[str, str]:
        """Each ref of the repo to its commit, from the first source that holds the ref."""
        out: dict[str, str] = {}
        for s in self.holders(name):
            for ref, commit in s.refs(name).items():
                out.setdefault(ref, commit)
        return out
