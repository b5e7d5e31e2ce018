"""The root of a hub cache: its shared store, lock files and repo folders, without the repos.

A large cache is judged a few repos at a time (:mod:`hfcache.doctor.stream`): the root is read
once, and each repo folder it names is scanned on its own by :func:`hfcache.scan.cache.scan_folder`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from hfcache import layout
from hfcache.actions import Action, Step
from hfcache.findings import Finding, finding
from hfcache.layout import Location
from hfcache.model import Kind, Node, RepoFolder, Store
from hfcache.scan.walk import Entry, Walk

_PREFIX_RE = re.compile(r"[0-9a-f]{2}")
_SOFT_LOCK_SUFFIX = ".lock.soft"


@dataclass(frozen=True)
class CacheTop:
    """What a cache's root holds: everything but the repos, and the repo folders to scan."""

    root: str
    folders: tuple[RepoFolder, ...]
    store: Store | None = None
    locks: tuple[Node, ...] = ()
    findings: tuple[Finding, ...] = ()
    """What the root scan met (outside every repo folder)."""
    partial: bool = False
    """Only one repo folder is in scope (see :attr:`Cache.partial`)."""


def scan_top(loc: Location) -> CacheTop:
    """The root of a hub cache (or of one repo folder of it) found by :func:`~hfcache.layout.locate`:
    the shared store, the lock files and the repo folders, each repo left for :func:`scan_folder`,
    so that a caller can judge a large cache a few repos at a time. Never raises on bad content."""
    w = Walk()
    root = loc.cache_root
    folders: list[RepoFolder] = []
    locks: list[Node] = []
    store: Store | None = None
    partial = loc.only_repo is not None
    if not os.path.lexists(root):
        return CacheTop(root, (), partial=partial)  # a machine that has downloaded nothing yet
    if loc.only_repo is None:
        entries: list[Entry] = list(w.scandir(root))
    else:  # that folder and the shared store, which is cache-wide (the repo's blobs may live there)
        entries = w.named(root, (loc.only_repo, layout.SHARED_STORE_DIR))
    for entry in entries:
        name = entry.name
        if name in layout.FILES_TO_IGNORE or name == layout.CACHEDIR_TAG:
            continue
        if name == layout.LOCKS_DIR:
            locks = [n for _, n in w.walk_files(entry.path) if n.kind is Kind.FILE]
            continue
        if name == layout.SHARED_STORE_DIR and entry.is_dir(follow_symlinks=False):
            store = _scan_store(w, entry.path)
            if not store.marked:
                w.findings.append(
                    finding(
                        "store-unmarked",
                        entry.path,
                        f"{entry.path} has no {layout.SHARED_STORE_MARKER} marker, so huggingface_hub "
                        "treats it as a broken repo folder",
                        advice="If it came from another cache, copy the marker file too.",
                    )
                )
            continue
        parsed = layout.parse_repo_folder(name)
        node = w.node(entry)
        if node is None:
            continue
        if node.kind is Kind.LINK:
            w.dir_is_link(node)
            continue
        if parsed is not None and node.kind is Kind.FILE:
            w.findings.append(
                finding(
                    "repo-not-folder",
                    entry.path,
                    f"{name} is a file where huggingface_hub keeps a repo folder; its cache scan reports "
                    "it as corrupted (\"Repo path is not a directory\") and no download can use the name",
                    advice="Download the repo again after --fix has moved the file aside.",
                    fix=Action(Step.PARK, None, entry.path),
                )
            )
            continue
        if parsed is None or node.kind is not Kind.DIR:
            w.findings.append(
                finding(
                    "repo-bad-name",
                    entry.path,
                    f"{name} is not a repo folder (models--*, datasets--*, spaces--*); huggingface_hub's "
                    "cache scan warns about it",
                    advice="Move it out of the cache.",
                )
            )
            continue
        folders.append(RepoFolder(entry.path, name, parsed[0], parsed[1]))
    return CacheTop(root, tuple(folders), store, tuple(locks), tuple(w.findings), partial)


def _scan_store(w: Walk, store_dir: str) -> Store:
    marked = layout.SHARED_STORE_MARKER in os.listdir(store_dir) if os.access(store_dir, os.R_OK) else False
    entries: dict[str, Node] = {}
    soft_locks: list[Node] = []
    for prefix in w.scandir(store_dir):
        if prefix.is_symlink() and _PREFIX_RE.fullmatch(prefix.name):
            w.dir_is_link(Node(prefix.path, Kind.LINK, target=os.readlink(prefix.path)))
            continue  # huggingface_hub refuses a linked prefix too; its entries are never read
        if not prefix.is_dir(follow_symlinks=False):
            continue
        for entry in w.scandir(prefix.path):
            if layout.XET_RE.fullmatch(entry.name) and entry.name.startswith(prefix.name):
                node = w.node(entry)
                if node is not None:
                    entries[entry.name] = node
            elif entry.name.endswith(_SOFT_LOCK_SUFFIX) and entry.name.startswith(prefix.name):
                node = w.node(entry)
                if node is not None and node.kind is Kind.FILE:
                    soft_locks.append(node)
    return Store(store_dir, marked, entries, tuple(soft_locks))
