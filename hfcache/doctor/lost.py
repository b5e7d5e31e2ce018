"""Repo folders that lost their ``snapshots/`` folder, and which of their revisions can be rebuilt.

huggingface_hub's cache scan calls such a repo corrupted, and no revision of it loads offline.
Yet where a ref names a commit whose tree listing (``trees/<commit>.json``) the client would
trust, and every file it lists has its blob here at the listed size (named by the LFS sha256,
or the git blob sha1 for other files), that snapshot is known exactly: each file is a relative
link ``../../blobs/<blob id>``, one ``../`` more per sub-folder, as the client writes it. Such a
revision is modelled with an empty snapshot, so each listed file becomes a missing entry whose
link ``--fix`` creates with the step that relinks any entry (``repo-no-snapshots`` says so, and
the entries fold into it). A revision with even one blob missing is not rebuilt: a partial
snapshot would pass for a partial download. Its blobs are kept, never called orphans.

The same holds for one commit folder gone from a ``snapshots/`` that is still there (a ref
names it, ``ref-dangling``): where its listing and every blob are here, it is rebuilt alike.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from hfcache import layout
from hfcache.doctor.content import content_node
from hfcache.model import Cache, Repo, Revision, TreeEntry
from hfcache.scan.entries import EntryDiag, diagnose_revision


@dataclass(frozen=True)
class LostSnapshots:
    """A repo folder without ``snapshots/``: the revisions its refs name, rebuildable or not.

    ``rebuilt``: modelled revisions (empty snapshots with their listing) ``--fix`` rebuilds;
    ``lacking``: ref'd commit → the listed files whose blob is not here whole; ``unlisted``: ref'd
    commits with no listing the client would use.
    """

    repo: Repo
    rebuilt: tuple[Revision, ...] = ()
    lacking: dict[str, tuple[str, ...]] = field(default_factory=dict)
    unlisted: tuple[str, ...] = ()
    whole: bool = True
    """The ``snapshots/`` folder itself is gone; else only the folders of some ref'd commits."""

    def rebuilds(self, commit: str) -> Revision | None:
        """The modelled revision of ``commit`` that ``--fix`` rebuilds, if it is one."""
        return next((r for r in self.rebuilt if r.commit == commit), None)


def _whole(cache: Cache, repo: Repo, entry: TreeEntry) -> bool:
    node = content_node(cache, repo, entry.etag)
    return node is not None and node.size == entry.content_size


def lost_snapshots(cache: Cache, repo: Repo) -> LostSnapshots | None:
    """What can be rebuilt of ``repo``, if it lost its ``snapshots/`` folder or the folder of a
    commit a ref names (else ``None``)."""
    if cache.local_dir or repo.plain:
        return None
    named = set(repo.ref_commits.values())
    whole = repo.snapshots_lost
    if not whole:
        named = {c for c in named if c not in repo.revisions and layout.COMMIT_RE.fullmatch(c)}
        if not named:
            return None
    rebuilt: list[Revision] = []
    lacking: dict[str, tuple[str, ...]] = {}
    unlisted: list[str] = []
    for commit in sorted(named):
        listing = repo.listings.get(commit)
        if listing is None or listing.tree is None:
            unlisted.append(commit)
            continue
        short = tuple(sorted(n for n, e in listing.tree.items() if not _whole(cache, repo, e)))
        if short or not listing.tree:
            lacking[commit] = short
            continue
        path = os.path.join(repo.path, layout.SNAPSHOTS, commit)
        rebuilt.append(Revision(commit, path, {}, listing.tree, listing.path))
    return LostSnapshots(repo, tuple(rebuilt), lacking, tuple(unlisted), whole)


def with_lost(cache: Cache, diags: list[EntryDiag]) -> tuple[list[EntryDiag], list[LostSnapshots]]:
    """Every repo that lost its snapshots, and ``diags`` with a missing entry per file of each
    revision that can be rebuilt (what ``--fix`` links)."""
    found = [lost for repo in cache.repos if (lost := lost_snapshots(cache, repo)) is not None]
    rebuilt = [d for lost in found for rev in lost.rebuilt for d in diagnose_revision(cache, lost.repo, rev)]
    return diags + rebuilt, found
