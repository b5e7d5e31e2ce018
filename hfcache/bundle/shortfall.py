"""Say what is missing when a bundle ends early: the repo's files, and which volumes to copy again.

A bundle cut short reads like any truncated tar, and a split bundle whose last volumes never
made it onto the stick just ends. Messages name what is missing as people know it (the repo's
files, never blob ids), and the sizes tell what happened to the volumes even without a checksum
file: the manifest says how many bytes the bundle needs at least (:func:`least_size`), and a last
volume as large as the first is a full one, so more were written after it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tarfile
from collections.abc import Container, Iterator
from typing import IO

from hfcache.bundle import manifest as manifest_mod
from hfcache.bundle import manifestread
from hfcache.bundle.manifest import Manifest, carried_of
from hfcache.bundle.members import Kind, Member, classify, not_a_bundle
from hfcache.bundle.staged import DamagedError
from hfcache.bundle.volnames import VOLUME_NAME
from hfcache.bundle.volread import open_volumes
from hfcache.errors import BundleError
from hfcache.fs.streamcopy import BUFFER_SIZE
from hfcache.units import human_size

_BLOCK = tarfile.BLOCKSIZE
_CUT = "unexpected end of data"  # tarfile's words for: the member being read is cut


class CutShortError(DamagedError):
    """The bundle ends before everything its manifest lists: cut short, or volumes missing."""


def describe(manifest: Manifest | None, m: Member) -> str:
    """A member as people know it: the repo's file, ref or tree listing it carries, never a blob id."""
    if manifest is None:
        return "its manifest"
    repo_id = manifest.repo_id(m.folder)
    if m.kind is Kind.BLOB:
        return manifest.files_of(m.folder, m.key)
    if m.kind is Kind.LINK:
        return f"the link of {m.path} of {repo_id}"
    if m.kind is Kind.TREE:
        return f"the tree listing of {repo_id}"
    if m.kind is Kind.REF:
        return f"ref {m.key} of {repo_id}"
    return f"the manifest of {repo_id}" if m.kind is Kind.MANIFEST else f"a folder of {repo_id}"


def cut_error(error: Exception, last: str) -> CutShortError:
    """What a tar reader's error while reading past ``last`` (described) means for the bundle."""
    if str(error) == _CUT:
        return CutShortError(f"the bundle is cut short inside {last}")
    return CutShortError(f"the bundle is corrupt or cut short after {last} ({error})")


def missing_members(
    manifest: Manifest,
    blobs: Container[tuple[str, str]],
    links: Container[tuple[str, str, str]],
    trees: Container[tuple[str, str]],
    refs: Container[tuple[str, str]],
) -> list[str]:
    """What the manifest lists that is not among the members that arrived, as people name it
    (files first): blobs by (folder, etag), links by (folder, commit, path), trees by (folder,
    commit), refs by (folder, name)."""
    files: list[str] = []
    others: list[str] = []
    for folder, entries in manifest.by_folder():  # each entry made once
        files += [
            manifest.files_of(folder, etag) for etag in carried_of(entries) if (folder, etag) not in blobs
        ]
        for repo in entries:
            others += [
                f"the link of {f.path} of {repo.repo_id}"
                for f in repo.files
                if (repo.folder, repo.commit, f.path) not in links
            ]
            if repo.tree and (repo.folder, repo.commit) not in trees:
                others.append(f"the tree listing of {repo.repo_id}")
            others += [f"ref {ref} of {repo.repo_id}" for ref in repo.refs if (repo.folder, ref) not in refs]
    return files + others


def incomplete(missing: list[str]) -> CutShortError:
    """The error for a bundle without ``missing`` (the first named, the rest counted)."""
    more = f" and {len(missing) - 1} more member(s) are" if len(missing) > 1 else " is"
    return CutShortError(f"the bundle is incomplete (cut short?): {missing[0]}{more} missing")


def open_tar(stream: IO[bytes]) -> tarfile.TarFile:
    """A tar reader over a bundle stream: in place for files and volumes, streaming for pipes."""
    if stream.seekable():
        return tarfile.open(fileobj=stream, mode="r:")
    return tarfile.open(fileobj=stream, mode="r|", bufsize=BUFFER_SIZE)


def each_member(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """The members in order, each let go once read: a ``TarFile`` keeps every member it has read
    (for ``getmembers``), tens of MB for a bundle of thousands of repos, which nothing here asks."""
    kept: list[tarfile.TarInfo] = tar.members  # type: ignore[attr-defined]  # every CPython since 2.3
    while (ti := tar.next()) is not None:
        kept.clear()
        yield ti


def read_manifest(source: str, tar: tarfile.TarFile) -> Manifest:
    """The bundle's first member, its manifest; :class:`BundleError` if it is not there whole."""
    first = tar.next()
    if first is None:
        raise BundleError(f"{source} is not an hfcache bundle: it is an empty tar")
    try:
        kind = classify(first).kind
    except BundleError as e:
        raise not_a_bundle(tar, first, e) from None
    if kind is not Kind.MANIFEST:
        raise not_a_bundle(tar, first)
    if first.size > manifest_mod.MAX_MANIFEST_BYTES:
        raise BundleError(f"{source} is not an hfcache bundle: its manifest is {first.size} bytes")
    data = tar.extractfile(first)
    try:
        raw = data.read() if data is not None else b""
    except tarfile.ReadError:
        raw = b""
    if len(raw) != first.size:
        raise BundleError(f"{source} is cut short inside its manifest")
    return manifestread.parse(raw)


def where_it_ends(
    tar: tarfile.TarFile, manifest: Manifest
) -> tuple[CutShortError | None, list[tuple[str, str]]]:
    """Walk the member headers after the manifest (without reading file data): where the bundle
    ends early (None when every member is there), and (repo id, path) of each file it lacks."""
    seen: set[Member] = set()
    last: Member | None = None
    ended: CutShortError | None = None
    try:
        for ti in each_member(tar):
            last = classify(ti)
            seen.add(last)
    except tarfile.TarError as e:
        ended = cut_error(e, describe(manifest, last) if last is not None else "its manifest")
        if str(e) == _CUT and last is not None:
            seen.discard(last)
    blobs = {(m.folder, m.key) for m in seen if m.kind is Kind.BLOB}
    links = {(m.folder, m.commit, m.path) for m in seen if m.kind is Kind.LINK}
    files = [
        (repo.repo_id, f.path)
        for repo in manifest.repos
        for f in repo.files
        if (repo.folder, repo.commit, f.path) not in links or (repo.folder, f.etag) not in blobs
    ]
    refs = {(m.folder, m.key) for m in seen if m.kind is Kind.REF}
    trees = {(m.folder, m.key) for m in seen if m.kind is Kind.TREE}
    missing = missing_members(manifest, blobs, links, trees, refs)
    if ended is None and missing:
        ended = incomplete(missing)
    return ended, files


def least_size(manifest: Manifest) -> int:
    """The fewest bytes a bundle can have that holds everything ``manifest`` lists.

    A header for each member and each blob's bytes padded to whole blocks; what the manifest does
    not tell (its own bytes, tree listings, long-name headers, the end-of-archive blocks that
    readers do without) counts nothing, so a whole bundle is never judged short.
    """
    size = _BLOCK  # the manifest's header
    for _, entries in manifest.by_folder():  # each entry made once
        size += sum(_BLOCK + -(-f.size // _BLOCK) * _BLOCK for f in carried_of(entries).values())
        for repo in entries:
            size += _BLOCK * len(repo.files)  # a link each
            size += 2 * _BLOCK * len(repo.refs)  # header and a block of commit hash
            size += _BLOCK if repo.tree else 0
    return size


def _sizes(paths: list[str]) -> list[int] | None:
    """The files' sizes, or None when one is not a regular file (a pipe: its size says nothing)."""
    sizes = []
    for path in paths:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            return None
        sizes.append(st.st_size)
    return sizes or None


def volumes_note(paths: list[str]) -> str | None:
    """For a bundle that ended early: which of its volumes are missing or cut, if the sizes say."""
    sizes = _sizes(paths)
    if sizes is None or VOLUME_NAME.fullmatch(paths[-1]) is None:
        return None
    last = paths[-1]
    if len(paths) == 1:
        return f"the volumes after {last} are missing, or it is cut short"
    if sizes[-1] == sizes[0]:
        return f"the last volume(s) after {last} are missing (it is full size, like those before it)"
    return f"{last} is cut short (a copy that did not finish?), or the volumes after it are missing"


def explain(paths: list[str], cut: CutShortError) -> CutShortError:
    """``cut`` (where the stream ended), led by what the volumes' sizes say about why."""
    note = volumes_note(paths)
    return CutShortError(f"{note}: {cut}") if note is not None else cut


def check_length(paths: list[str], manifest: Manifest) -> None:
    """Before anything more is read: :class:`BundleError` when ``paths`` (the bundle's file or
    volumes) cannot hold what ``manifest`` lists, saying where they end and which volumes are
    missing. Nothing for a stream, whose length is not known."""
    sizes = _sizes(paths)
    if sizes is None or sum(sizes) >= least_size(manifest):
        return
    held = f"the {len(paths)} volumes hold" if len(paths) > 1 else f"{paths[0]} holds"
    sizes_said = f"{held} {human_size(sum(sizes))}, what its manifest lists needs at least "
    sizes_said += human_size(least_size(manifest))
    with contextlib.closing(open_volumes(paths[0])) as stream, open_tar(stream) as tar:
        read_manifest(paths[0], tar)
        ended, _ = where_it_ends(tar, manifest)
    cut = explain(paths, ended or CutShortError(f"{paths[-1]} is cut short"))
    raise BundleError(f"{cut} ({sizes_said})")  # not a CutShortError: the volumes are said already
