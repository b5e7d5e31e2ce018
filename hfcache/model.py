"""What a scan saw: frozen, plain data about a cache, with no judgement attached.

The scanner (:mod:`hfcache.scan`) fills these from one walk of the file system; the checks
(:mod:`hfcache.checks`) read them and never touch a path the scan did not list, which keeps
the structural check to one system call or so per file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from huggingface_hub._tree_cache import TreeCacheEntry

from hfcache.findings import Finding


class Kind(str, Enum):
    """The file type as ``lstat`` sees it: links are never followed."""

    FILE = "file"
    LINK = "link"
    DIR = "dir"
    OTHER = "other"


@dataclass(frozen=True)
class Node:
    """One directory entry: its absolute path, type, size and, for a link, the raw target text.

    ``inode`` (files only) tells a hard link to a blob from a real second copy.
    """

    path: str
    kind: Kind
    size: int = 0
    mtime: float = 0.0
    target: str | None = None
    inode: int = 0


@dataclass(frozen=True)
class Revision:
    """One ``snapshots/<commit>`` folder.

    ``entries`` maps the Hub path (``sub/dir/file.json``, forward slashes) to what is there;
    folders are not listed. ``tree`` is the parsed ``trees/<commit>.json`` when it exists and
    reads cleanly: the offline manifest of every file the commit holds.
    """

    commit: str
    path: str
    entries: dict[str, Node]
    tree: dict[str, TreeCacheEntry] | None = None
    tree_path: str | None = None
    local_etags: dict[str, str] = field(default_factory=dict)
    """For a plain model folder: the etag huggingface_hub recorded per file at download time."""


@dataclass(frozen=True)
class Repo:
    """One ``models--org--name`` folder."""

    path: str
    folder: str
    repo_type: str
    repo_id: str
    refs: dict[str, bytes] = field(default_factory=dict)
    revisions: dict[str, Revision] = field(default_factory=dict)
    blobs: dict[str, Node] = field(default_factory=dict)
    incomplete: tuple[Node, ...] = ()


@dataclass(frozen=True)
class Store:
    """The cache-wide shared blob store of Xet downloads (``<cache>/blobs/<2 hex>/<hash>``)."""

    path: str
    marked: bool
    entries: dict[str, Node] = field(default_factory=dict)


@dataclass(frozen=True)
class Cache:
    """Everything one scan saw, plus the structural findings it met on the way."""

    root: str
    repos: tuple[Repo, ...]
    store: Store | None = None
    locks: tuple[Node, ...] = ()
    findings: tuple[Finding, ...] = ()
    local_dir: bool = False
    partial: bool = False
    """Only some repos were scanned: cache-wide judgements (orphan store entries) are off."""
