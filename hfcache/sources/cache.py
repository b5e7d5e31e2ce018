"""A cache as a source of revisions, every revision judged by the doctor.

:class:`CacheView` answers the :class:`~hfcache.view.RevisionSource` questions over one scan: a
hub cache, one repo folder of it, or a plain model folder (``hf download --local-dir``), which
is one repo with one revision. A revision's files come with where their bytes are (the doctor's
content rules, :mod:`hfcache.doctor.content`), the findings the doctor's checks make about
that revision, and a trust that says what vouches for the bytes: the doctor's findings, what
this run hashed, and the digest record that ``doctor --verify`` and ``serve`` share.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import replace

from hfcache.doctor import Judgement, concerns, judge_repo
from hfcache.doctor.content import view_files
from hfcache.doctor.verify import Verification
from hfcache.findings import Finding, Severity
from hfcache.fs.digests import DigestStore, identity_of, matches
from hfcache.layout import Location, PathKind, locate
from hfcache.model import Cache, Repo
from hfcache.repoid import RepoName
from hfcache.scan import scan_location
from hfcache.scan.entries import EntryDiag
from hfcache.scan.top import scan_top
from hfcache.view import RevisionView, Trust, ViewFile, find_repo, resolve_revision


class CacheView:
    """:class:`~hfcache.view.RevisionSource` over one scanned cache, judged by the doctor.

    ``verification`` is what a ``--verify`` in this process hashed; ``digests`` the persistent
    record of earlier hashes (unchanged files keep their verdict).
    """

    def __init__(
        self,
        cache: Cache,
        *,
        verification: Verification | None = None,
        digests: DigestStore | None = None,
        label: str | None = None,
    ) -> None:
        self.cache = cache
        self.label = label or cache.root
        self._verification = verification
        self._digests = digests
        self._repos = {RepoName(r.repo_type, r.repo_id): r for r in cache.repos}
        self._judged: dict[str, Judgement] = {}

    @classmethod
    def open(
        cls,
        target: str | os.PathLike[str] | Location | None = None,
        *,
        digests: DigestStore | None = None,
        label: str | None = None,
    ) -> CacheView:
        """Locate and scan ``target`` (anything ``doctor`` accepts; ``None``: huggingface_hub's cache).
        ``label``: how messages name the source (default: the path given)."""
        loc = target if isinstance(target, Location) else locate(target)
        return cls(scan_location(loc), digests=digests, label=label or loc.path)

    @property
    def where(self) -> str:
        """The source as messages name it."""
        return "this folder" if self.cache.local_dir else f"the cache {self.label}"

    # --- the RevisionSource questions -----------------------------------------------------------

    def repos(self) -> list[RepoName]:
        return sorted(self._repos)

    def repo(self, name: RepoName) -> Repo:
        """The scanned repo; :class:`~hfcache.view.RepoNotFoundError` with a "did you mean" if absent."""
        return self._repos[find_repo(name, self._repos, self.where)]

    def commits(self, name: RepoName) -> list[str]:
        """Every commit held (the snapshot folders), sorted."""
        return sorted(self.repo(name).revisions)

    def refs(self, name: RepoName) -> dict[str, str]:
        repo = self.repo(name)
        return {ref: c for ref, c in sorted(repo.ref_commits.items()) if c in repo.revisions}

    def resolve(self, name: RepoName, revision: str) -> str:
        repo = self.repo(name)
        return resolve_revision(name, self.refs(name), repo.revisions.keys(), revision, self.where)

    def revision(self, name: RepoName, revision: str) -> RevisionView:
        repo = self.repo(name)
        commit = self.resolve(name, revision)
        judged = self.judgement(name)
        diags = [d for d in judged.diags if d.revision.commit == commit]
        entries = {d.path for d in diags}
        found = tuple(f for f in judged.findings if concerns(f, commit, entries))
        files = self._files(diags, found)
        refs = tuple(repo.refs_to(commit))
        return RevisionView(repo.repo_id, repo.repo_type, commit, refs, files, found, self.label)

    # --- judgement ------------------------------------------------------------------------------

    def judgement(self, name: RepoName) -> Judgement:
        """The doctor's verdict on one repo: its entries and findings (judged once per view)."""
        repo = self.repo(name)
        if repo.folder not in self._judged:
            self._judged[repo.folder] = judge_repo(self.cache, repo, self._verification)
        return self._judged[repo.folder]

    def _files(self, diags: list[EntryDiag], found: tuple[Finding, ...]) -> dict[str, ViewFile]:
        by_name = {d.name: d for d in diags}
        by_path = {d.path: d for d in diags}
        problems: dict[str, list[str]] = {}
        damaged: set[str] = set()
        for f in found:
            if f.severity is Severity.INFO:
                continue
            for d in _entries_of(f, by_name, by_path):
                problems.setdefault(d.path, []).append(f.code)
                if _says_damaged(f):
                    damaged.add(d.path)
        v = self._verification
        files = view_files(
            self.cache,
            diags,
            hashed=frozenset(v.digests) - v.corrupt if v is not None else frozenset(),
            corrupt=frozenset(v.corrupt) if v is not None else frozenset(),
            problems={p: tuple(dict.fromkeys(codes)) for p, codes in problems.items()},
            damaged=frozenset(damaged),
        )
        return self._recorded(files) if self._digests is not None else files

    def _recorded(self, files: dict[str, ViewFile]) -> dict[str, ViewFile]:
        """Files whose bytes the digest record says hashed to their blob id, unchanged since."""
        assert self._digests is not None
        out = dict(files)
        for name, f in files.items():
            path = f.path
            if path is None or f.blob_id is None or f.trust in (Trust.HASHED, Trust.DAMAGED):
                continue
            try:
                ident = identity_of(os.lstat(path))
            except OSError:
                continue
            verdict = matches(self._digests, path, ident, f.blob_id)
            if verdict is not None:
                out[name] = replace(f, trust=Trust.HASHED if verdict else Trust.DAMAGED)
        return out


def _says_damaged(f: Finding) -> bool:
    """Does a finding say its file's bytes are wrong or absent (not merely linked badly, or
    inconsistent with an index)? Its code names a cause or an absence, or it is an error that
    only a new download repairs."""
    info = f.info
    unrepairable = info.refetch and f.fix is None and f.severity is Severity.ERROR
    return info.cause is not None or info.absence or unrepairable


def _entries_of(
    f: Finding, by_name: dict[str, EntryDiag], by_path: dict[str, EntryDiag]
) -> Iterable[EntryDiag]:
    """The revision's entries a finding is about: the file it names, or the files its blob holds."""
    named = by_name.get(f.place.path_in_repo or "") if f.place.path_in_repo else None
    if named is not None and f.place.commit == named.revision.commit:
        yield named
    for path in f.about:
        d = by_path.get(path)
        if d is not None and d is not named:
            yield d


class RepoViews:
    """A hub cache whose repos are opened one view each, on demand: its root is listed once, and
    a repo is scanned and judged only when asked for, then let go with its view. For work over
    many repos of a cache (``pack``), where one view of the whole cache would hold every scan."""

    def __init__(self, root: str, *, digests: DigestStore | None = None) -> None:
        self.root = root
        self._digests = digests
        top = scan_top(Location(PathKind.HUB_CACHE, root, root))
        self._folders = {RepoName(f.repo_type, f.repo_id): f for f in top.folders}

    def repos(self) -> list[RepoName]:
        return sorted(self._folders)

    def view(self, name: RepoName) -> CacheView:
        """A view of the one repo ``name``; :class:`~hfcache.view.RepoNotFoundError` (with a "did
        you mean") if the cache does not hold it. The view names the cache as the whole view would."""
        folder = self._folders[find_repo(name, self._folders, f"the cache {self.root}")]
        where = Location(PathKind.REPO, folder.path, self.root, folder.folder)
        return CacheView.open(where, digests=self._digests, label=self.root)
