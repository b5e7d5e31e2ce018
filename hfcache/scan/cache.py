"""Walk a hub cache into a :class:`hfcache.model.Cache`, tolerating anything it meets.

Unlike huggingface_hub's ``scan_cache_dir``, which drops a whole repo at its first surprise,
this scan records what it cannot read as a finding and goes on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator

from hfcache import layout
from hfcache.actions import Action, Step
from hfcache.findings import NOWHERE, Finding, Place, finding
from hfcache.layout import Location
from hfcache.model import Cache, Kind, Node, Repo, RepoFolder, Revision, TreeListing
from hfcache.scan.top import CacheTop, scan_top
from hfcache.scan.walk import Walk, read_tree

ScanProgress = Callable[[str], None]
"""Called with each repo folder name as its scan starts."""


_WHAT_THE_CLIENT_DOES = {
    layout.REFS: "huggingface_hub's cache scan rejects the repo (\"Refs directory cannot be a file\") "
    "and cannot resolve a branch or tag name in it; a download by commit hash still loads",
    layout.BLOBS: "no snapshot link can reach its blob, so nothing in the repo loads and huggingface_hub's "
    "cache scan rejects the repo (\"Blob missing\")",
    layout.SNAPSHOTS: "no revision of the repo can be loaded, and huggingface_hub's cache scan rejects the "
    "repo (\"Snapshots dir doesn't exist\")",
    layout.TREES: "huggingface_hub cannot keep the revisions' tree listings there, so offline it cannot tell "
    "a complete snapshot from a partial one, nor can hfcache",
}


def _part_not_folder(node: Node, name: str, folder: str, at: Place) -> Finding:
    return finding(
        "repo-part-not-folder",
        node.path,
        f"{folder}/{name} is a file where huggingface_hub keeps a folder: {_WHAT_THE_CLIENT_DOES[name]}",
        advice="Download the repo again after --fix has moved the file aside, if it does not load.",
        fix=Action(Step.PARK, folder, node.path),
        at=at,
    )


def _scan_refs(w: Walk, refs_dir: str) -> dict[str, bytes]:
    refs: dict[str, bytes] = {}
    for name, node in w.walk_files(refs_dir):
        if os.path.basename(name) in layout.FILES_TO_IGNORE or node.kind is not Kind.FILE:
            continue
        try:
            with open(node.path, "rb") as f:
                refs[name] = f.read(4096)
        except OSError as e:
            w.unreadable(node.path, e)
    return refs


def _scan_revision(w: Walk, listings: dict[str, TreeListing], entry: os.DirEntry[str]) -> Revision | None:
    node = w.node(entry)
    if node is None:
        return None
    if node.kind is Kind.LINK:
        w.dir_is_link(node)
        return None
    if node.kind is not Kind.DIR:
        if entry.name not in layout.FILES_TO_IGNORE:
            w.findings.append(
                finding(
                    "snapshot-stray-file",
                    node.path,
                    f"{node.path} is a file where only commit folders belong; huggingface_hub's cache "
                    "scan rejects the whole repo because of it",
                    advice="Move it out of snapshots/.",
                    at=w.place,
                )
            )
        return None
    entries: dict[str, Node] = {}
    w.collect_files(entry.path, entries)
    listing = listings.get(entry.name)
    if listing is None or listing.tree is None:
        return Revision(entry.name, entry.path, entries)
    return Revision(entry.name, entry.path, entries, listing.tree, listing.path)


def _scan_listings(w: Walk, trees_dir: str) -> dict[str, TreeListing]:
    """Every ``trees/<commit>.json``, judged as the client judges it (see :func:`read_tree`);
    the doctor's tree check reports the ones it ignores, snapshot folder or not."""
    found: dict[str, TreeListing] = {}
    for entry in w.scandir(trees_dir):
        commit, dot, ext = entry.name.rpartition(".")
        if not dot or ext != "json" or entry.name in layout.FILES_TO_IGNORE:
            continue  # the client reads <commit>.json only (a crashed write leaves a *.tmp beside)
        if not entry.is_dir(follow_symlinks=False):  # read_tree opens no link, and says why not
            found[commit] = read_tree(entry.path, commit)
    return found


def scan_repo(w: Walk, repo_path: str, folder: str, repo_type: str, repo_id: str) -> Repo:
    """Scan one repo folder; every problem met becomes a finding in ``w``."""
    w.place = Place(folder, repo_id, repo_type)
    blobs: dict[str, Node] = {}
    incomplete: list[Node] = []
    refs: dict[str, bytes] = {}
    revisions: dict[str, Revision] = {}
    children = {e.name: e for e in w.scandir(repo_path)}
    holds = frozenset(children)
    for name in (layout.BLOBS, layout.REFS, layout.SNAPSHOTS, layout.TREES):
        entry = children.get(name)
        node = w.node(entry) if entry is not None else None
        if node is not None and node.kind is Kind.LINK:
            w.dir_is_link(node)
            children.pop(name)
        elif node is not None and node.kind is not Kind.DIR:
            if node.kind is Kind.FILE:
                w.findings.append(_part_not_folder(node, name, folder, w.place))
            children.pop(name)
    if layout.BLOBS in children:
        for entry in w.scandir(children[layout.BLOBS].path):
            blob = w.node(entry)
            if blob is None:
                continue
            if entry.name.endswith(layout.INCOMPLETE_SUFFIX):
                incomplete.append(blob)
            elif entry.name not in layout.FILES_TO_IGNORE:
                blobs[entry.name] = blob
    if layout.REFS in children:
        refs = _scan_refs(w, children[layout.REFS].path)
    listings: dict[str, TreeListing] = {}
    if layout.TREES in children and children[layout.TREES].is_dir(follow_symlinks=False):
        listings = _scan_listings(w, children[layout.TREES].path)
    if layout.SNAPSHOTS in children:
        for entry in w.scandir(children[layout.SNAPSHOTS].path):
            revision = _scan_revision(w, listings, entry)
            if revision is not None:
                revisions[revision.commit] = revision
    w.place = NOWHERE
    return Repo(
        repo_path,
        folder,
        repo_type,
        repo_id,
        refs,
        revisions,
        blobs,
        tuple(incomplete),
        listings=listings,
        holds=holds,
    )


def scan_folder(folder: RepoFolder) -> tuple[Repo, tuple[Finding, ...]]:
    """One repo folder the root scan found, and what its scan met."""
    w = Walk()
    repo = scan_repo(w, folder.path, folder.folder, folder.repo_type, folder.repo_id)
    return repo, tuple(w.findings)


def cache_of(top: CacheTop, scanned: Iterable[tuple[Repo, tuple[Finding, ...]]]) -> Cache:
    """The :class:`Cache` of a root and some of its repos, scanned (``partial`` if not all of them)."""
    repos: list[Repo] = []
    findings = list(top.findings)
    for repo, found in scanned:
        repos.append(repo)
        findings.extend(found)
    partial = top.partial or len(repos) < len(top.folders)
    return Cache(top.root, tuple(repos), top.store, top.locks, tuple(findings), partial=partial)


def scan_cache(loc: Location, progress: ScanProgress | None = None) -> Cache:
    """Scan a hub cache (or one repo folder of it) found by :func:`~hfcache.layout.locate`.

    Never raises on bad content.
    """
    top = scan_top(loc)

    def each() -> Iterator[tuple[Repo, tuple[Finding, ...]]]:
        for folder in top.folders:
            if progress is not None:
                progress(folder.folder)
            yield scan_folder(folder)

    return cache_of(top, each())
