"""What a scan saw: frozen, plain data about a cache, with no judgement attached.

The scanner (:mod:`hfcache.scan`) fills these from one walk of the file system; the checks
(:mod:`hfcache.doctor.checks`) read them and never touch a path the scan did not list, which keeps
the structural check to one system call or so per file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Any, TypeVar

from hfcache import layout
from hfcache.findings import Finding, Place

_T = TypeVar("_T")
_new = object.__new__
_set = object.__setattr__


def built(cls: type[_T], values: dict[str, Any]) -> _T:
    """An instance of the frozen dataclass ``cls`` holding ``values`` (every field, by name), made
    without the generated ``__init__``, which sets each field through ``object.__setattr__``: the
    same object (equal, same hash and repr) in a third of the time. For the scan's loops, which
    make one per file; ``values`` becomes the instance's ``__dict__`` and must not be used after."""
    obj = _new(cls)
    _set(obj, "__dict__", values)
    return obj


@dataclass(frozen=True)
class TreeEntry:
    """One file of a commit's tree listing (``trees/<commit>.json``), as the Hub's ``/tree`` gives it.

    ``blob_id`` is the git blob sha1; an LFS file also has its ``lfs_sha256`` (the name of its
    cache blob) and ``lfs_size``; a file stored with Xet has its ``xet_hash``.
    """

    size: int
    blob_id: str
    lfs_sha256: str | None = None
    lfs_size: int | None = None
    xet_hash: str | None = None

    @cached_property
    def etag(self) -> str:
        """The name of the file's cache blob: the LFS sha256, else the git blob sha1."""
        return (self.lfs_sha256 or self.blob_id).lower()

    @cached_property
    def content_size(self) -> int:
        """The size of the real content (for LFS files, the object's size)."""
        return self.lfs_size if self.lfs_sha256 and self.lfs_size is not None else self.size

    @classmethod
    def from_json(cls, info: dict[str, object]) -> TreeEntry:
        """Parse one ``files`` value; ``ValueError`` on anything but the documented shape."""
        size, blob_id = info["size"], info["blob_id"]
        lfs_sha, lfs_size, xet = info.get("lfs_sha256"), info.get("lfs_size"), info.get("xet_hash")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0 or not isinstance(blob_id, str):
            raise ValueError("size must be a non-negative integer and blob_id a string")
        if lfs_sha is not None and not isinstance(lfs_sha, str):
            raise ValueError("lfs_sha256 must be a string")
        if lfs_size is not None and (not isinstance(lfs_size, int) or isinstance(lfs_size, bool)):
            raise ValueError("lfs_size must be an integer")
        if xet is not None and not isinstance(xet, str):
            raise ValueError("xet_hash must be a string")
        return cls(size, blob_id, lfs_sha, lfs_size, xet)

    @classmethod
    def parse_files(cls, files: dict[str, Any]) -> dict[str, TreeEntry]:
        """``{path: from_json(info)}`` over a listing's ``files``: the same entries and, for the
        first entry out of shape, the same error. A well-formed entry (a JSON object of the
        documented types) is built directly, its :attr:`etag` and :attr:`content_size` with it."""
        tree: dict[str, TreeEntry] = {}
        for path, info in files.items():
            if type(info) is dict:
                size, blob_id = info.get("size"), info.get("blob_id")
                lfs_sha, lfs_size, xet = info.get("lfs_sha256"), info.get("lfs_size"), info.get("xet_hash")
                if (
                    type(size) is int
                    and size >= 0
                    and type(blob_id) is str
                    and (lfs_sha is None or type(lfs_sha) is str)
                    and (lfs_size is None or type(lfs_size) is int)
                    and (xet is None or type(xet) is str)
                ):
                    tree[path] = built(
                        cls,
                        {
                            "size": size,
                            "blob_id": blob_id,
                            "lfs_sha256": lfs_sha,
                            "lfs_size": lfs_size,
                            "xet_hash": xet,
                            "etag": (lfs_sha or blob_id).lower(),
                            "content_size": lfs_size if lfs_sha and lfs_size is not None else size,
                        },
                    )
                    continue
            tree[path] = cls.from_json(info)  # out of shape: raises what from_json raises
        return tree

    def to_json(self) -> dict[str, object]:
        info: dict[str, object] = {"size": self.size, "blob_id": self.blob_id}
        if self.lfs_sha256 is not None:
            info["lfs_sha256"] = self.lfs_sha256
            info["lfs_size"] = self.lfs_size
        if self.xet_hash is not None:
            info["xet_hash"] = self.xet_hash
        return info


class ListingState(str, Enum):
    """How huggingface_hub's ``read_tree_cache`` takes a tree listing: trusted (``ok``) or ignored.

    ``newer``: a ``format_version`` it does not know (a newer client wrote it), ignored silently;
    ``corrupt``: not JSON of the documented shape (the client logs a warning); ``masked``: an
    entry's Xet hash is not a real one, which makes the client ignore the whole listing;
    ``unreadable``: the file cannot be opened (or is a link, which hfcache does not follow).
    """

    OK = "ok"
    NEWER = "newer"
    CORRUPT = "corrupt"
    MASKED = "masked"
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class TreeListing:
    """One ``trees/<commit>.json`` file, judged as the client judges it.

    ``tree`` is set only when the client would use the listing; ``problem`` says why not.
    """

    commit: str
    path: str
    state: ListingState
    tree: dict[str, TreeEntry] | None = None
    problem: str = ""


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
    tree: dict[str, TreeEntry] | None = None
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
    plain: bool = False
    """A plain model folder modelled as a repo: ``repo_id`` is only its folder's name."""
    listings: dict[str, TreeListing] = field(default_factory=dict)
    """Every ``trees/<commit>.json`` of the repo by commit, its snapshot folder there or not."""
    holds: frozenset[str] = frozenset()
    """The names directly in the repo folder (``blobs``, ``refs``, ``.no_exist``...)."""

    @cached_property
    def listed_sizes(self) -> dict[str, int]:
        """Blob id → content size, from every tree listing of the repo's revisions (read, not changed)."""
        return {e.etag: e.content_size for rev in self.revisions.values() for e in (rev.tree or {}).values()}

    @property
    def snapshots_lost(self) -> bool:
        """A cache repo folder with no ``snapshots`` entry at all (neither folder, file nor link)."""
        return not self.plain and layout.SNAPSHOTS not in self.holds

    @property
    def ref_commits(self) -> dict[str, str]:
        """Ref name → the commit it names, for every ref whose text names one with certainty."""
        return {name: c for name, raw in self.refs.items() if (c := self.ref_target(raw)) is not None}

    def ref_target(self, raw: bytes) -> str | None:
        """The revision a ref's text names, where that is certain: the snapshot folder named by the
        exact text (what huggingface_hub opens, even a name that is not a commit hash), else the
        commit hash the text holds once whitespace and a BOM are gone (``layout.clean_ref``), else
        a snapshot folder named by the stripped text."""
        exact = raw.decode("utf-8", errors="replace")
        if exact in self.revisions:
            return exact
        commit = layout.clean_ref(raw)
        if commit is not None:
            return commit
        text = exact.lstrip("\ufeff").strip()
        return text if text.isascii() and text in self.revisions else None

    def refs_to(self, commit: str) -> list[str]:
        """The refs that name ``commit``, sorted (``main``, ``refs/pr/1``, a tag)."""
        return sorted(name for name, c in self.ref_commits.items() if c == commit)

    @property
    def place(self) -> Place:
        """Where findings about this repo are: a plain folder records no repo id."""
        if self.plain:
            return Place(self.folder)
        return Place(self.folder, self.repo_id, self.repo_type)


@dataclass(frozen=True, slots=True)
class RepoFolder:
    """A repo folder of a cache, by its path and names, before (or instead of) its scan."""

    path: str
    folder: str
    repo_type: str
    repo_id: str

    @property
    def place(self) -> Place:
        """Where findings about this repo are (as :attr:`Repo.place`)."""
        return Place(self.folder, self.repo_id, self.repo_type)


@dataclass(frozen=True)
class Store:
    """The cache-wide shared blob store of Xet downloads (``<cache>/blobs/<2 hex>/<hash>``)."""

    path: str
    marked: bool
    entries: dict[str, Node] = field(default_factory=dict)
    soft_locks: tuple[Node, ...] = ()
    """``<hash>.lock.soft`` files: huggingface_hub's lock where ``flock`` is unsupported, held by existing."""


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
