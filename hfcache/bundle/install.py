"""Install a fully verified bundle: blobs first, then tree listings and refs, snapshot links last.

Runs only after :mod:`hfcache.bundle.receive` has checked every byte, so a corrupt or truncated
bundle never reaches this point. Each blob is renamed into place under huggingface_hub's own
lock for it; a link is created only once its blob is in place. Anything already in the target
that would be replaced and was not verified identical is kept in quarantine.

Durability (``one_sync``, where :func:`hfcache.fs.writeback.syncfs_reports_errors`): one
``syncfs`` makes every staged blob (and the new tree listings and refs, written beside their
final names) durable before the first rename, and one more makes the renames and links durable
at the end: two journal commits in all, where a sync per file cost one each. Without it, staged
blobs were fsynced as they were written and each file and folder is fsynced here, as before.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from hfcache import layout
from hfcache.bundle.installmeta import Metadata
from hfcache.bundle.manifest import FileEntry, Manifest, RepoEntry
from hfcache.bundle.received import BlobKey, Received
from hfcache.fs import fsops
from hfcache.fs.digests import DigestStore, Identity, identity_of
from hfcache.fs.hashing import Algo, algo_for, hash_file
from hfcache.fs.writeback import sync_filesystem

_RECORDS_AT_ONCE = 4096
"""Digest records are stored in batches as blobs are installed. Before the last sync is safe: a
record holds the file's identity (device, inode, size, mtime), so one whose rename is lost matches nothing."""


@dataclass(frozen=True)
class Installed:
    """What an install changed."""

    blobs_written: int
    blobs_kept: int
    bytes_written: int
    links: int
    quarantined: tuple[str, ...]


def existing_blob(cache_root: str) -> Callable[[str, str], str | None]:
    """A ``receive`` callback: the file now holding a blob of this cache, if any.

    A repo folder that is not there holds no blob: it is looked for once, not once per blob
    (thousands of small files into a new cache). One that appears meanwhile (a download) is
    still seen by the installer, which keeps whatever it would replace."""
    absent: dict[str, bool] = {}

    def find(folder: str, etag: str) -> str | None:
        repo = os.path.join(cache_root, folder)
        if folder not in absent:
            absent[folder] = not os.path.isdir(repo)
        return None if absent[folder] else fsops.blob_file(cache_root, repo, etag)

    return find


def _park(path: str, repo_path: str, parked: list[str]) -> None:
    parked.append(fsops.quarantine(path, layout.quarantine_root(repo_path), os.path.relpath(path, repo_path)))


_MADE_KEPT = 256


def _folder(path: str, made: set[str]) -> None:
    """``os.makedirs(path, exist_ok=True)``, once per folder (thousands of files share a few);
    ``made`` remembers the last few hundred, not every folder of thousands of repos."""
    if path not in made:
        os.makedirs(path, exist_ok=True)
        if len(made) >= _MADE_KEPT:
            made.clear()
        made.add(path)


def _new_link(entry: str, target: str, made: set[str]) -> bool:
    """Where nothing is at ``entry``: the relative link made there in one step (a link appears
    whole), True; False if something appeared meanwhile (then it is replaced atomically)."""
    _folder(os.path.dirname(entry), made)
    try:
        os.symlink(os.path.relpath(target, os.path.dirname(entry)), entry)
    except FileExistsError:
        return False
    return True


def install_cache(
    received: Received,
    cache_root: str,
    *,
    lock_timeout: float = 60.0,
    store: DigestStore | None = None,
    one_sync: bool = False,
) -> Installed:
    """Move staged blobs into ``cache_root`` and write trees, refs and links, in that order.

    ``store``: the digest record, told each blob's digests (every staged blob was hashed to its
    names on its way in), so a later delta or ``doctor --verify`` need not read it again.
    ``one_sync``: staged blobs are not durable yet; make them so, and the install, with one
    ``syncfs`` before and one after (see the module docstring)."""
    parked: list[str] = []
    made: set[str] = set()  # folders known to exist
    written = kept = nbytes = links = 0
    blobs: tuple[str, Mapping[str, FileEntry]] = ("", {})  # a folder's blobs: the staged are sorted
    meta = Metadata(received, cache_root, one_sync)
    meta.stage()
    try:
        if one_sync:
            sync_filesystem(cache_root)
        records: list[tuple[BlobKey, Identity, str]] = []
        for folder, etag in sorted(received.staged):
            if blobs[0] != folder:
                blobs = folder, received.manifest.blobs_in(folder)
            listed = blobs[1][etag]
            staged = received.staged_file((folder, etag))
            repo_path = os.path.join(cache_root, folder)
            blob = os.path.join(repo_path, layout.BLOBS, etag)
            _folder(os.path.dirname(blob), made)
            with fsops.blob_lock(layout.lock_path(cache_root, folder, etag), lock_timeout):
                if os.path.lexists(blob):
                    _park(blob, repo_path, parked)  # different bytes than the verified ones, or a dead link
                with fsops.named(blob, staged):
                    os.chmod(staged, 0o644)
                    os.rename(staged, blob)
                if store is not None:
                    records.append(((folder, etag), identity_of(os.lstat(blob)), listed.sha256))
            if store is not None and len(records) >= _RECORDS_AT_ONCE:  # not a list of every blob
                store.put_many(_digests(cache_root, records))
                records.clear()
            written += 1
            nbytes += listed.size
        meta.place()
    except BaseException:
        meta.discard()
        raise
    kept = len(received.present)
    for folder, commit, path, etag in received.links():
        repo_path = os.path.join(cache_root, folder)
        entry = os.path.join(repo_path, layout.SNAPSHOTS, commit, *path.split("/"))
        st = fsops.lstat_or_none(entry)
        if st is not None and not stat.S_ISLNK(st.st_mode):
            _park(entry, repo_path, parked)  # a full copy, placeholder or folder: kept, never deleted
            st = None
        target = os.path.join(repo_path, layout.BLOBS, etag)
        if st is not None or not _new_link(entry, target, made):
            fsops.replace_with_link(entry, target, sync=False)
        links += 1
    if not (one_sync and sync_filesystem(cache_root)):
        for folder in _dirs_written(received, cache_root):
            fsops.fsync_dir(folder)
    if store is not None:
        store.put_many(_digests(cache_root, records))
    return Installed(written, kept, nbytes, links, tuple(parked))


def _dirs_written(received: Received, cache_root: str) -> Iterator[str]:
    """Each folder the install put a name in, to fsync where no ``syncfs`` vouches for them: made
    again from what was received, not held as a set of every folder of thousands of repos."""
    for folder in dict.fromkeys(folder for folder, _ in received.staged):
        yield os.path.join(cache_root, folder, layout.BLOBS)
    yield from Metadata(received, cache_root, False).folders()
    last = ""
    for folder, commit, path, _ in received.links():
        entry = os.path.dirname(os.path.join(cache_root, folder, layout.SNAPSHOTS, commit, *path.split("/")))
        if entry != last:
            yield entry
        last = entry


def _digests(
    cache_root: str, records: list[tuple[BlobKey, Identity, str]]
) -> Iterator[tuple[str, Identity, dict[str, str]]]:
    """The digest record's entries for the blobs installed (key, identity, sha256), made as they
    are stored."""
    for (folder, etag), ident, sha256 in records:
        digests = {Algo.SHA256.value: sha256, algo_for(etag).value: etag}
        yield os.path.join(cache_root, folder, layout.BLOBS, etag), ident, digests


def local_root(target: str, repo: RepoEntry, manifest: Manifest) -> str:
    """Where a repo's plain files go: ``target`` itself for one repo, else ``target/org/name``
    (``target/datasets/org/name`` for a dataset), a plain folder named after the repo; for one of
    several revisions of a repo, ``target/org/name@<commit, 12 characters>``."""
    if len(manifest.repos) == 1:
        return target
    kind = () if repo.repo_type == "model" else (f"{repo.repo_type}s",)
    path = os.path.join(target, *kind, *repo.repo_id.split("/"))
    if manifest.revisions_in(repo.folder) > 1:
        path += f"@{repo.commit[:12]}"
    return path


class LocalFiles:
    """A ``receive`` callback for a plain-folder target: the file there that should hold a blob.

    Knows the layout only once the manifest is read (``on_manifest``); a blob whose file is
    already there with the right bytes is then verified in place, not staged again.
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self.files: dict[tuple[str, str], str] = {}

    def on_manifest(self, manifest: Manifest) -> None:
        for repo in manifest.repos:
            root = local_root(self.target, repo, manifest)
            for f in repo.files:
                self.files.setdefault((repo.folder, f.etag), os.path.join(root, *f.path.split("/")))

    def __call__(self, folder: str, etag: str) -> str | None:
        return self.files.get((folder, etag))


def _same(dest: str, size: int, sha256: str) -> bool:
    """Is ``dest`` a regular file (not a link) holding exactly these bytes?"""
    st = fsops.lstat_or_none(dest)
    if st is None or not stat.S_ISREG(st.st_mode) or st.st_size != size:
        return False
    result = hash_file(dest, {Algo.SHA256})
    return result.error is None and result.digests.get(Algo.SHA256) == sha256


def install_local_dir(received: Received, target: str, *, one_sync: bool = False) -> Installed:
    """Write each repo's files as plain files under ``target`` (``target/org/name`` if several).

    A file already there with the verified bytes is left alone: a second run writes nothing.
    ``one_sync``: staged blobs are not durable yet: one ``syncfs`` before the first rename, one after.
    """
    if one_sync:
        sync_filesystem(target)
    parked: list[str] = []
    written = kept = nbytes = 0
    for repo in received.manifest.repos:
        root = local_root(target, repo, received.manifest)
        for f in repo.files:
            key = (repo.folder, f.etag)
            dest = os.path.join(root, *f.path.split("/"))
            if received.present.get(key) == dest or _same(dest, f.size, f.sha256):
                kept += 1  # verified identical where it belongs: not written again
                continue
            source = received.staged_file(key) if key in received.staged else received.present.get(key)
            if not source:
                raise FileNotFoundError(f"staged blob {f.etag} vanished")
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            tmp, _ = fsops.stage_copy(source, dest)
            if os.path.lexists(dest):
                _park(dest, root, parked)
            with fsops.named(dest, tmp):
                os.chmod(tmp, 0o644)
                os.rename(tmp, dest)
            written += 1
            nbytes += f.size
    if one_sync:
        sync_filesystem(target)
    return Installed(written, kept, nbytes, 0, tuple(parked))
