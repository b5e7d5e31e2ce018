"""Walk a cache folder into a :class:`hfcache.model.Cache`, tolerating anything it meets.

Unlike huggingface_hub's ``scan_cache_dir``, which drops a whole repo at its first surprise,
this walk records what it cannot read as a finding and goes on. It uses ``os.scandir`` and
``lstat`` only: no link is ever followed, so a hostile link cannot lead the scan outside.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from huggingface_hub._tree_cache import TREE_CACHE_FORMAT_VERSION, TreeCacheEntry

from hfcache import layout
from hfcache.findings import Finding, finding
from hfcache.layout import Location, PathKind
from hfcache.model import Cache, Kind, Node, Repo, Revision, Store

ScanProgress = Callable[[str], None]
"""Called with each repo folder name as its scan starts."""


_EUID = os.geteuid() if hasattr(os, "geteuid") else -1
_GROUPS = frozenset(os.getgroups()) | {os.getegid()} if hasattr(os, "getegid") else frozenset()


def _readable(st: os.stat_result) -> bool:
    """Would opening this file for reading be allowed? Judged from the mode bits already in hand."""
    if _EUID in (0, -1):
        return True
    if st.st_uid == _EUID:
        return bool(st.st_mode & stat.S_IRUSR)
    if st.st_gid in _GROUPS:
        return bool(st.st_mode & stat.S_IRGRP)
    return bool(st.st_mode & stat.S_IROTH)


@dataclass
class _Walk:
    """Mutable state of one scan: the findings met so far."""

    findings: list[Finding] = field(default_factory=list)
    repo: str | None = None

    def unreadable(self, path: str, err: OSError) -> None:
        reason = err.strerror or str(err)
        self.findings.append(
            finding(
                "unreadable",
                path,
                f"cannot read {path}: {reason}. Check its owner and permissions (chmod u+rX).",
                repo=self.repo,
            )
        )

    def node(self, entry: os.DirEntry[str]) -> Node | None:
        """lstat one entry into a Node; ``None`` (with a finding) if that fails."""
        try:
            if entry.is_symlink():  # from the directory listing itself: a link costs one readlink
                return Node(entry.path, Kind.LINK, target=os.readlink(entry.path))
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):  # replaced by a link since the listing
                return Node(entry.path, Kind.LINK, st.st_size, st.st_mtime, os.readlink(entry.path))
        except OSError as e:
            self.unreadable(entry.path, e)
            return None
        if stat.S_ISREG(st.st_mode):
            if not _readable(st):
                self.unreadable(entry.path, PermissionError(13, "permission denied"))
            return Node(entry.path, Kind.FILE, st.st_size, st.st_mtime, inode=st.st_ino)
        if stat.S_ISDIR(st.st_mode):
            return Node(entry.path, Kind.DIR, 0, st.st_mtime)
        self.findings.append(
            finding(
                "special-file",
                entry.path,
                f"{entry.path} is a device, pipe or socket; a cache holds only files, folders and links. "
                "Remove it.",
                repo=self.repo,
            )
        )
        return Node(entry.path, Kind.OTHER, 0, st.st_mtime)

    def scandir(self, path: str) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(path) as it:
                return sorted(it, key=lambda e: e.name)
        except OSError as e:
            self.unreadable(path, e)
            return []

    def dir_is_link(self, node: Node) -> None:
        self.findings.append(
            finding(
                "dir-is-link",
                node.path,
                f"{node.path} is a link to {node.target!r} where a folder belongs; hfcache does not "
                "follow it. Replace the link with the folder it points to.",
                repo=self.repo,
            )
        )

    def walk_files(self, top: str, rel: str = "") -> Iterator[tuple[str, Node]]:
        """Yield (posix relative path, node) for every non-folder below ``top``."""
        for entry in self.scandir(top):
            node = self.node(entry)
            if node is None:
                continue
            name = f"{rel}{entry.name}"
            if node.kind is Kind.DIR:
                yield from self.walk_files(entry.path, f"{name}/")
            else:
                yield name, node


def read_tree(path: str) -> dict[str, TreeCacheEntry] | str:
    """Parse ``trees/<commit>.json``; a string is the reason it could not be read."""
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
        if not isinstance(data, dict):
            return "not a JSON object"
        if data.get("format_version") != TREE_CACHE_FORMAT_VERSION:
            return f"unknown format_version {data.get('format_version')!r}"
        files = data["files"]
        if not isinstance(files, dict):
            return "'files' is not an object"
        return {p: TreeCacheEntry.from_json(info) for p, info in files.items()}
    except OSError as e:
        return e.strerror or str(e)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        return f"invalid content ({type(e).__name__}: {e})"


def _scan_refs(w: _Walk, refs_dir: str) -> dict[str, bytes]:
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


def _scan_revision(w: _Walk, repo_path: str, entry: os.DirEntry[str]) -> Revision | None:
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
                    "scan rejects the whole repo because of it. Move it out of snapshots/.",
                    repo=w.repo,
                )
            )
        return None
    entries: dict[str, Node] = {}
    for name, child in w.walk_files(entry.path):
        if child.kind is Kind.DIR:
            continue
        entries[name] = child
    tree_path = os.path.join(repo_path, layout.TREES, f"{entry.name}.json")
    tree: dict[str, TreeCacheEntry] | None = None
    if os.path.lexists(tree_path):
        parsed = read_tree(tree_path)
        if isinstance(parsed, str):
            w.findings.append(
                finding(
                    "tree-unreadable",
                    tree_path,
                    f"cannot use the tree listing {tree_path}: {parsed}. Files of this revision are "
                    "checked without it; an online `hf download` of the revision rewrites it.",
                    repo=w.repo,
                )
            )
        else:
            tree = parsed
    return Revision(entry.name, entry.path, entries, tree, tree_path if tree is not None else None)


def scan_repo(w: _Walk, repo_path: str, folder: str, repo_type: str, repo_id: str) -> Repo:
    """Scan one repo folder; every problem met becomes a finding in ``w``."""
    w.repo = folder
    blobs: dict[str, Node] = {}
    incomplete: list[Node] = []
    refs: dict[str, bytes] = {}
    revisions: dict[str, Revision] = {}
    children = {e.name: e for e in w.scandir(repo_path)}
    for name in (layout.BLOBS, layout.REFS, layout.SNAPSHOTS):
        entry = children.get(name)
        node = w.node(entry) if entry is not None else None
        if node is not None and node.kind is Kind.LINK:
            w.dir_is_link(node)
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
    if layout.SNAPSHOTS in children:
        for entry in w.scandir(children[layout.SNAPSHOTS].path):
            revision = _scan_revision(w, repo_path, entry)
            if revision is not None:
                revisions[revision.commit] = revision
    else:
        w.findings.append(
            finding(
                "repo-no-snapshots",
                repo_path,
                f"{folder} has no snapshots/ folder, so no revision of it can be loaded; huggingface_hub's "
                "cache scan reports the repo as corrupted. Download it again or delete the folder.",
                repo=folder,
            )
        )
    w.repo = None
    return Repo(repo_path, folder, repo_type, repo_id, refs, revisions, blobs, tuple(incomplete))


def _scan_store(w: _Walk, store_dir: str) -> Store:
    marked = layout.SHARED_STORE_MARKER in os.listdir(store_dir) if os.access(store_dir, os.R_OK) else False
    entries: dict[str, Node] = {}
    for prefix in w.scandir(store_dir):
        if not prefix.is_dir(follow_symlinks=False):
            continue
        for entry in w.scandir(prefix.path):
            if layout.XET_RE.fullmatch(entry.name) and entry.name.startswith(prefix.name):
                node = w.node(entry)
                if node is not None:
                    entries[entry.name] = node
    return Store(store_dir, marked, entries)


def scan_location(loc: Location, progress: ScanProgress | None = None) -> Cache:
    """Scan what :func:`hfcache.layout.locate` found. Never raises on bad content."""
    if loc.kind is PathKind.LOCAL_DIR:
        from hfcache.localdir import scan_local_dir

        return scan_local_dir(loc.path)
    w = _Walk()
    root = loc.cache_root
    repos: list[Repo] = []
    locks: list[Node] = []
    store: Store | None = None
    for entry in w.scandir(root):
        name = entry.name
        if loc.only_repo is not None and name not in (loc.only_repo, layout.SHARED_STORE_DIR):
            continue  # the shared store is cache-wide: one repo's blobs may live there
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
                        "treats it as a broken repo folder. If it came from another cache, copy the "
                        "marker file too.",
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
        if parsed is None or node.kind is not Kind.DIR:
            w.findings.append(
                finding(
                    "repo-bad-name",
                    entry.path,
                    f"{name} is not a repo folder (models--*, datasets--*, spaces--*); huggingface_hub's "
                    "cache scan warns about it. Move it out of the cache.",
                )
            )
            continue
        if progress is not None:
            progress(name)
        repos.append(scan_repo(w, entry.path, name, parsed[0], parsed[1]))
    return Cache(
        root, tuple(repos), store, tuple(locks), tuple(w.findings), partial=loc.only_repo is not None
    )
