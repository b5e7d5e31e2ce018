"""The tolerant walk under every scan: directory entries into :class:`~hfcache.model.Node` values.

What cannot be read becomes a finding and the walk goes on. It uses ``os.scandir`` and
``lstat`` only: no link is ever followed, so a hostile link cannot lead a scan outside.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from operator import attrgetter
from stat import S_ISDIR, S_ISLNK, S_ISREG
from typing import Protocol

from hfcache import _hf
from hfcache.findings import NOWHERE, Finding, Place, finding
from hfcache.model import Kind, ListingState, Node, TreeEntry, TreeListing, built

_BY_NAME = attrgetter("name")
_LINK, _FILE, _DIR = Kind.LINK, Kind.FILE, Kind.DIR

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


def _link(path: str) -> Node:
    """The node of a link the listing named: its target read, nothing else asked (``OSError`` if
    it cannot be read)."""
    target = os.readlink(path)
    return built(Node, {"path": path, "kind": _LINK, "size": 0, "mtime": 0.0, "target": target, "inode": 0})


class Entry(Protocol):
    """What the walk reads of a directory entry: an ``os.DirEntry``, or a :class:`NamedEntry`."""

    @property
    def name(self) -> str: ...

    @property
    def path(self) -> str: ...

    def is_symlink(self) -> bool: ...

    def is_dir(self, *, follow_symlinks: bool = True) -> bool: ...

    def stat(self, *, follow_symlinks: bool = True) -> os.stat_result: ...


class NamedEntry:
    """The entry ``name`` of ``folder``, looked up alone: judging one repo folder of a cache of
    thousands needs two names of the cache's root, not a listing of it."""

    def __init__(self, folder: str, name: str) -> None:
        self.name = name
        self.path = os.path.join(folder, name)
        self._st = os.lstat(self.path)  # FileNotFoundError: no such entry

    def is_symlink(self) -> bool:
        return S_ISLNK(self._st.st_mode)

    def is_dir(self, *, follow_symlinks: bool = True) -> bool:
        if follow_symlinks and self.is_symlink():
            try:
                return S_ISDIR(os.stat(self.path).st_mode)
            except OSError:
                return False
        return S_ISDIR(self._st.st_mode)

    def stat(self, *, follow_symlinks: bool = True) -> os.stat_result:
        return os.stat(self.path) if follow_symlinks and self.is_symlink() else self._st


@dataclass
class Walk:
    """Mutable state of one scan: the findings met so far."""

    findings: list[Finding] = field(default_factory=list)
    place: Place = NOWHERE
    """The repo being scanned, for the findings met inside it."""

    def unreadable(self, path: str, err: OSError) -> None:
        reason = err.strerror or str(err)
        self.findings.append(
            finding(
                "unreadable",
                path,
                f"cannot read {path}: {reason}",
                advice="Check its owner and permissions (chmod u+rX).",
                at=self.place,
            )
        )

    def node(self, entry: Entry) -> Node | None:
        """lstat one entry into a Node; ``None`` (with a finding) if that fails."""
        try:
            if entry.is_symlink():  # from the directory listing itself: a link costs one readlink
                return _link(entry.path)
        except OSError as e:
            self.unreadable(entry.path, e)
            return None
        return self._stat_node(entry)

    def _stat_node(self, entry: Entry) -> Node | None:
        """:meth:`node` of an entry the listing does not call a link."""
        try:
            st = entry.stat(follow_symlinks=False)
            mode = st.st_mode
            if S_ISLNK(mode):  # replaced by a link since the listing
                return Node(entry.path, _LINK, st.st_size, st.st_mtime, os.readlink(entry.path))
        except OSError as e:
            self.unreadable(entry.path, e)
            return None
        if S_ISREG(mode):
            if _EUID not in (0, -1) and not _readable(st):
                self.unreadable(entry.path, PermissionError(13, "permission denied"))
            values = {
                "path": entry.path,
                "kind": _FILE,
                "size": st.st_size,
                "mtime": st.st_mtime,
                "target": None,
                "inode": st.st_ino,
            }
            return built(Node, values)
        if S_ISDIR(mode):
            return Node(entry.path, _DIR, 0, st.st_mtime)
        self.findings.append(
            finding(
                "special-file",
                entry.path,
                f"{entry.path} is a device, pipe or socket; a cache holds only files, folders and links",
                advice="Remove it.",
                at=self.place,
            )
        )
        return Node(entry.path, Kind.OTHER, 0, st.st_mtime)

    def named(self, folder: str, names: Iterable[str]) -> list[Entry]:
        """The entries of ``folder`` among ``names`` that exist, in name order, without listing it."""
        found: list[Entry] = []
        for name in sorted(names):
            try:
                found.append(NamedEntry(folder, name))
            except FileNotFoundError:
                continue
            except OSError as e:
                self.unreadable(os.path.join(folder, name), e)
        return found

    def scandir(self, path: str) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(path) as it:
                entries = list(it)
        except OSError as e:
            self.unreadable(path, e)
            return []
        entries.sort(key=_BY_NAME)
        return entries

    def dir_is_link(self, node: Node) -> None:
        self.findings.append(
            finding(
                "dir-is-link",
                node.path,
                f"{node.path} is a link to {node.target!r} where a folder belongs; hfcache does not "
                "follow it",
                advice="Replace the link with the folder it points to.",
                at=self.place,
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

    def collect_files(self, top: str, into: dict[str, Node], rel: str = "") -> None:
        """:meth:`walk_files` into a dict, in the same order and with the same findings: what a
        snapshot's walk does for every file, without a generator per folder."""
        for entry in self.scandir(top):
            try:
                if entry.is_symlink():  # the common case in a snapshot: one readlink, nothing else
                    into[rel + entry.name] = _link(entry.path)
                    continue
            except OSError as e:
                self.unreadable(entry.path, e)
                continue
            node = self._stat_node(entry)
            if node is None:
                continue
            if node.kind is _DIR:
                self.collect_files(entry.path, into, f"{rel}{entry.name}/")
            else:
                into[rel + entry.name] = node


def read_tree(path: str, commit: str) -> TreeListing:
    """Read ``trees/<commit>.json`` and judge it as huggingface_hub's ``read_tree_cache`` does.

    The client ignores a listing of another ``format_version`` silently (a newer client wrote
    it), one that is not the documented JSON with a warning, and one with a malformed Xet hash
    without a word; hfcache then trusts it no more than the client does. hfcache is stricter on
    one point, for a stated reason: an entry whose size or blob id has the wrong type makes the
    listing corrupt (the client would take it, and fail later on it). Links are not followed.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            raw = f.read()
    except OSError as e:
        link = e.errno == errno.ELOOP or os.path.islink(path)
        problem = "it is a link, which hfcache does not follow" if link else e.strerror or str(e)
        return TreeListing(commit, path, ListingState.UNREADABLE, problem=problem)
    try:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        version = data.get("format_version")
        if version != _hf.TREE_CACHE_FORMAT_VERSION:
            return TreeListing(commit, path, ListingState.NEWER, problem=f"format_version {version!r}")
        files = data["files"]
        if not isinstance(files, dict):
            raise ValueError("'files' is not an object")
        tree = TreeEntry.parse_files(files)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        reason = f"{type(e).__name__}: {e}" if isinstance(e, KeyError) else str(e)
        return TreeListing(commit, path, ListingState.CORRUPT, problem=f"invalid content ({reason})")
    valid = _hf.is_valid_xet_hash
    masked = sorted(p for p, e in tree.items() if e.xet_hash is not None and not valid(e.xet_hash))
    if masked:
        shown = ", ".join(masked[:3]) + (f" and {len(masked) - 3} more" if len(masked) > 3 else "")
        problem = f"the Xet hash of {shown} is not a real one"
        return TreeListing(commit, path, ListingState.MASKED, problem=problem)
    return TreeListing(commit, path, ListingState.OK, tree)
