"""Which tar members a bundle may hold, checked before anything acts on them.

A bundle is untrusted input. Each member must be one of a handful of shapes inside a repo
folder, with a normalised relative name; a snapshot member must be a symlink whose target
stays inside its repo's ``blobs/``. Anything else (absolute paths, ``..``, links that lead
out, hard links, devices, fifos, unknown paths) makes the whole bundle unacceptable.
"""

from __future__ import annotations

import itertools
import posixpath
import shlex
import sys
import tarfile
from dataclasses import dataclass
from enum import Enum

from hfcache import layout
from hfcache.bundle.manifest import MANIFEST_NAME, MAX_MANIFEST_BYTES
from hfcache.errors import BundleError

MAX_REF_BYTES = 4096
MAX_TREE_BYTES = 256 * 1024 * 1024
MAX_NAME = 4096


class Kind(str, Enum):
    MANIFEST = "manifest"
    BLOB = "blob"
    REF = "ref"
    TREE = "tree"
    LINK = "link"
    DIR = "dir"


@dataclass(frozen=True)
class Member:
    """A checked member. ``key`` is the etag (blob, link), ref name, or commit (tree)."""

    kind: Kind
    folder: str
    key: str
    path: str = ""  # for a link: the Hub path inside the snapshot
    commit: str = ""  # for a link: its snapshot


def _refuse(name: str, why: str) -> BundleError:
    return BundleError(f"refusing bundle member {name!r}: {why}")


def _check_name(name: str) -> list[str]:
    if not name or len(name) > MAX_NAME or "\0" in name or "\\" in name:
        raise _refuse(name, "empty, too long, or holds a NUL or a backslash")
    if name.startswith("/") or posixpath.isabs(name):
        raise _refuse(name, "absolute path")
    parts = name.rstrip("/").split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise _refuse(name, "'..', '.' or an empty path component")
    if layout.parse_repo_folder(parts[0]) is None:
        raise _refuse(name, "not inside a models--/datasets--/spaces-- repo folder")
    # A repo's folder (and commit, and a blob's id) is named by many members, and what unpack
    # keeps until it installs holds them: one string each, not one per member.
    return [sys.intern(p) for p in parts[:3]] + parts[3:]


def _file_kind(name: str, parts: list[str], ti: tarfile.TarInfo) -> Member:
    folder, rest = parts[0], parts[1:]
    rel = "/".join(rest)
    if rel == MANIFEST_NAME:
        if ti.size > MAX_MANIFEST_BYTES:
            raise _refuse(name, "manifest too large")
        return Member(Kind.MANIFEST, folder, "")
    if len(rest) == 2 and rest[0] == layout.BLOBS and layout.is_etag(rest[1]):
        return Member(Kind.BLOB, folder, rest[1])
    if len(rest) >= 2 and rest[0] == layout.REFS:
        if ti.size > MAX_REF_BYTES:
            raise _refuse(name, "ref too large")
        return Member(Kind.REF, folder, "/".join(rest[1:]))
    if len(rest) == 2 and rest[0] == layout.TREES and rest[1].endswith(".json"):
        commit = rest[1][: -len(".json")]
        if layout.COMMIT_RE.fullmatch(commit) is None or ti.size > MAX_TREE_BYTES:
            raise _refuse(name, "bad tree listing name or size")
        return Member(Kind.TREE, folder, commit)
    raise _refuse(name, "a regular file where a bundle holds none")


def _link_kind(name: str, parts: list[str], ti: tarfile.TarInfo) -> Member:
    folder, rest = parts[0], parts[1:]
    if len(rest) < 3 or rest[0] != layout.SNAPSHOTS or layout.COMMIT_RE.fullmatch(rest[1]) is None:
        raise _refuse(name, "a symlink outside snapshots/<commit>/")
    target = ti.linkname
    if not target or target.startswith("/") or "\\" in target or "\0" in target:
        raise _refuse(name, f"link target {target!r} is not a relative POSIX path")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    blob_parts = resolved.split("/")
    if len(blob_parts) != 3 or blob_parts[:2] != [folder, layout.BLOBS] or not layout.is_etag(blob_parts[2]):
        raise _refuse(name, f"link target {target!r} leads outside its repo's blobs/")
    return Member(Kind.LINK, folder, sys.intern(blob_parts[2]), path="/".join(rest[2:]), commit=rest[1])


def classify(ti: tarfile.TarInfo) -> Member:
    """Check one member; :class:`BundleError` if a bundle may not hold it."""
    parts = _check_name(ti.name)
    if ti.isdir():
        return Member(Kind.DIR, parts[0], "")
    if ti.isreg() and not ti.issparse():
        return _file_kind(ti.name, parts, ti)
    if ti.issym():
        return _link_kind(ti.name, parts, ti)
    raise _refuse(ti.name, "hard links, devices, fifos and sparse files are never accepted")


def member_name(folder: str, *rest: str) -> str:
    """The tar name of a path inside a repo folder."""
    return "/".join((folder, *rest))


class PlainTarError(BundleError):
    """A tar of cache folders with no manifest (``tar -cf x.tar models--org--name``): tar can
    extract it, but nothing in it can be verified, so unpack does not take it."""

    def __init__(self, root: str) -> None:
        super().__init__("a plain tar of a Hugging Face cache, not an hfcache bundle (it has no manifest)")
        self.root = root
        """The folder inside the tar that is the hub cache ("" for the tar's root)."""

    def hint(self, source: str, hub: str | None) -> str:
        """One line: what the file is, and the commands that install it anyway (into ``hub``)."""
        cache = shlex.quote(hub) if hub else "<hub cache>"
        strip = f" --strip-components={self.root.count('/') + 1}" if self.root else ""
        named = "standard input" if source == "-" else source
        return (
            f"{named} is {self}: nothing in it can be verified. To use it anyway: "
            f"tar -xf {shlex.quote(source)} -C {cache}{strip}, then hfcache doctor {cache}"
        )


def cache_tar_root(name: str) -> str | None:
    """For a member name inside a repo folder (``models--org--name/...``, also under ``./`` or a
    folder or two such as ``hub/``): the path before the repo folder; else None."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    for i, part in enumerate(parts[:3]):
        if layout.parse_repo_folder(part) is not None:
            return "/".join(parts[:i])
    return None


def _plain(ti: tarfile.TarInfo) -> bool:
    """A member ``tar -xf`` writes where it says: a relative name without ``..``, a file, a folder
    or a relative link."""
    name_ok = not ti.name.startswith("/") and ".." not in ti.name.split("/")
    kind_ok = ti.isreg() or ti.isdir() or (ti.issym() and not ti.linkname.startswith("/"))
    return name_ok and kind_ok


def not_a_bundle(
    tar: tarfile.TarFile, first: tarfile.TarInfo, refused: BundleError | None = None, look: int = 100
) -> BundleError:
    """The error for a tar whose first member is no manifest (``refused``: why it was refused).

    :class:`PlainTarError`, with the commands to extract it, when the first ``look`` members are
    plain files, folders and links of a cache's repo folders; anything else is refused as it was.
    """
    cache_root = None
    try:
        for ti in itertools.chain([first], itertools.islice(tar, look)):
            if not _plain(ti):
                cache_root = None
                break
            root = cache_tar_root(ti.name)
            cache_root = root if cache_root is None else cache_root
    except tarfile.TarError:
        pass
    if cache_root is not None:
        return PlainTarError(cache_root)
    return refused or BundleError("not an hfcache bundle: it does not start with a manifest")
