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
from dataclasses import dataclass

from hfcache import layout
from hfcache.bundle.view import BundleView
from hfcache.doctor import diagnose
from hfcache.doctor.checks.blobs import is_held
from hfcache.errors import BadInputError
from hfcache.layout import Location, PathKind
from hfcache.scan import scan_location
from hfcache.view import CacheView, RevisionView, ViewFile, clean_ref

RESCAN_INTERVAL = 2.0


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


class CacheSource:
    """One hub cache (or one repo folder of it), re-scanned when it changes."""

    def __init__(self, loc: Location) -> None:
        self.loc = loc
        self.label = loc.path
        self._lock = threading.Lock()
        self._checked = 0.0
        self._signature: tuple[int, ...] = ()
        self._views: dict[tuple[str, str, str], RevisionView] = {}
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
        return CacheView(scan_location(self.loc))

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

    def repos(self) -> list[tuple[str, str]]:
        return self.view.repos()

    def revision(self, repo_id: str, revision: str, repo_type: str) -> RevisionView:
        key = (repo_type, repo_id, revision)
        found = self._views.get(key)
        if found is None:
            found = self.view.revision(repo_id, revision, repo_type)
            self._views[key] = found
        return found

    def refs(self, repo_id: str, repo_type: str) -> dict[str, str]:
        repo = self.view.repo(repo_id, repo_type)
        return {name: c for name, raw in repo.refs.items() if (c := clean_ref(raw)) and c in repo.revisions}

    def _paths(self, view: RevisionView, f: ViewFile) -> tuple[str, str, str]:
        root = self.loc.cache_root
        folder = layout.repo_folder(view.repo_id, view.repo_type)
        entry = os.path.join(root, folder, layout.SNAPSHOTS, view.commit, *f.name.split("/"))
        return folder, entry, os.path.join(root, folder, layout.BLOBS, f.blob_id or "")

    def explain(self, view: RevisionView, f: ViewFile) -> str:
        """Why a listed file is not served: the codes of the doctor's findings about it."""
        folder, entry, blob = self._paths(view, f)
        root = self.loc.cache_root
        report = diagnose(Location(PathKind.REPO, os.path.join(root, folder), root, folder))
        codes = sorted({x.code for x in report.findings if x.path in (entry, blob)})
        return ", ".join(codes) or "its bytes are not in the cache"

    def writing(self, view: RevisionView, f: ViewFile) -> bool:
        """Is a download or an unpack holding huggingface_hub's lock for this blob right now?"""
        folder, _, _ = self._paths(view, f)
        return f.blob_id is not None and is_held(layout.lock_path(self.loc.cache_root, folder, f.blob_id))


class BundleSource:
    """One bundle file (or set of split volumes), read in place."""

    def __init__(self, path: str) -> None:
        self.label = path
        self.view = BundleView(path)

    def refresh(self) -> bool:
        return False

    def repos(self) -> list[tuple[str, str]]:
        return self.view.repos()

    def revision(self, repo_id: str, revision: str, repo_type: str) -> RevisionView:
        return self.view.revision(repo_id, revision, repo_type)

    def refs(self, repo_id: str, repo_type: str) -> dict[str, str]:
        """Every ref of every revision of the repo the bundle holds, each to its own commit."""
        out: dict[str, str] = {}
        for entry in self.view.manifest.repos:
            if (entry.repo_type, entry.repo_id) == (repo_type, repo_id):
                for name, c in entry.refs.items():
                    if c == entry.commit:
                        out.setdefault(name, c)
        return out

    def explain(self, view: RevisionView, f: ViewFile) -> str:
        entry = next(r for r in self.view.manifest.repos if r.commit == view.commit)
        recorded = [str(p.get("code")) for p in entry.problems if str(p.get("path", "")).endswith(f.name)]
        return ", ".join(recorded) or "the bundle holds no member with its bytes"

    def writing(self, view: RevisionView, f: ViewFile) -> bool:
        return False


Source = CacheSource | BundleSource


def open_source(path: str | None) -> Source:
    """A cache (anything ``doctor`` accepts; ``None``: huggingface_hub's) or a bundle file."""
    if path is not None and os.path.isfile(os.path.expanduser(path)):
        return BundleSource(os.path.expanduser(path))
    loc = layout.locate(path)
    if loc.kind is PathKind.LOCAL_DIR:
        raise BadInputError(f"{loc.path} is a plain model folder; serve a cache or a bundle")
    return CacheSource(loc)


@dataclass(frozen=True)
class Found:
    """A revision and the source that holds it."""

    source: Source
    view: RevisionView


class Mirror:
    """Several sources served as one hub: the first source holding a repo revision answers for it."""

    def __init__(self, sources: list[Source]) -> None:
        self.sources = sources

    def refresh(self) -> None:
        for s in self.sources:
            s.refresh()

    def holders(self, repo_type: str, repo_id: str) -> list[Source]:
        return [s for s in self.sources if (repo_type, repo_id) in s.repos()]

    def find(self, repo_type: str, repo_id: str, revision: str) -> Found | None:
        """The revision, or ``None`` if a source holds the repo but not the revision.

        Raises :class:`KeyError` if no source holds the repo at all.
        """
        holders = self.holders(repo_type, repo_id)
        if not holders:
            raise KeyError(repo_id)
        for s in holders:
            try:
                return Found(s, s.revision(repo_id, revision, repo_type))
            except BadInputError:
                continue
        return None

    def repos(self) -> list[tuple[str, str]]:
        """Every (type, id) some source holds, each once."""
        return sorted({r for s in self.sources for r in s.repos()})

    def refs(self, repo_type: str, repo_id: str) -> dict[str, str]:
        """Each ref of the repo to its commit, from the first source that holds the ref."""
        out: dict[str, str] = {}
        for s in self.holders(repo_type, repo_id):
            for name, commit in s.refs(repo_id, repo_type).items():
                out.setdefault(name, commit)
        return out
