"""``pack``: write repos of a local cache as one portable tar bundle, verified while streaming.

The bundle is a cache fragment: members are paths relative to the hub cache folder, so a plain
``tar -xf bundle.tar -C ~/.cache/huggingface/hub`` gives a cache huggingface_hub reads. Each
repo folder's section is: the manifest, each blob once, the tree listing, refs, and snapshot
links last. Every byte is hashed as it is written; a blob that does not hash to its name
aborts the pack and no file that looks like a bundle is left behind.
"""

from __future__ import annotations

import os
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

from hfcache import __version__, layout
from hfcache.bundle.manifest import MANIFEST_NAME, FileEntry, Manifest, RepoEntry
from hfcache.bundle.members import member_name
from hfcache.bundle.select import PackFile, RepoPick, select
from hfcache.bundle.volumes import VolumeWriter, parse_size
from hfcache.errors import BadInputError, PackRefusedError
from hfcache.findings import Finding, finding
from hfcache.fs.hashing import Algo, HashJob, algo_for, hash_files
from hfcache.fs.streamcopy import copy_hashed
from hfcache.progress import NO_PROGRESS, Progress

_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE


@dataclass(frozen=True)
class PackResult:
    """What was written: the manifest, the files (one per volume), and the bytes in them."""

    manifest: Manifest
    paths: tuple[str, ...]
    bytes_written: int
    problems: tuple[Finding, ...]


def _prehash(picks: list[RepoPick], progress: Progress) -> dict[str, dict[Algo, str]]:
    """sha256 of files not named by one (git-sha1 blobs, copies of unknown blob): the manifest,
    written first, must list it. These are the Hub's small, non-LFS files."""
    jobs = {}
    for p in picks:
        for f in p.files:
            if f.etag is None or not f.lfs:
                jobs[f.source] = (f.source, frozenset({Algo.SHA256, Algo.GIT_SHA1}), f.size)
    if not jobs:
        return {}
    out: dict[str, dict[Algo, str]] = {}
    progress.start("check", sum(size for _, _, size in jobs.values()))
    try:
        for result in hash_files((HashJob(*j) for j in jobs.values()), progress=progress.advance):
            out[result.job.path] = dict(result.digests)
    finally:
        progress.finish()
    return out


def _entries(pick: RepoPick, digests: dict[str, dict[Algo, str]]) -> tuple[list[FileEntry], list[Finding]]:
    """Manifest entries for one pick; files whose content does not match their name become problems."""
    files: list[FileEntry] = []
    bad: list[Finding] = []
    for f in pick.files:
        if f.etag is not None and f.lfs:
            files.append(FileEntry(f.name, f.size, f.etag, f.etag))  # checked while streaming
            continue
        d = digests.get(f.source, {})
        if Algo.SHA256 not in d or Algo.GIT_SHA1 not in d:
            bad.append(
                finding("unreadable", f.source, f"cannot read {f.source} to pack it", repo=pick.repo.folder)
            )
            continue
        etag = f.etag or (d[Algo.SHA256] if f.lfs else d[Algo.GIT_SHA1])
        if d[algo_for(etag)] != etag:
            bad.append(_corrupt(pick, f, etag, d[algo_for(etag)]))
            continue
        files.append(FileEntry(f.name, f.size, d[Algo.SHA256], etag))
    return files, bad


def _corrupt(pick: RepoPick, f: PackFile, etag: str, actual: str) -> Finding:
    return finding(
        "blob-hash-mismatch",
        f.source,
        f"{f.name} of {pick.repo.repo_id} should hash to {etag} but hashes to {actual}: its bytes are "
        "corrupt. Download it again before packing.",
        repo=pick.repo.folder,
    )


def _header(name: str, size: int = 0, link: str | None = None, mtime: float | None = None) -> bytes:
    ti = tarfile.TarInfo(name)
    ti.mtime = int(mtime if mtime is not None else time.time())
    if link is None:
        ti.size, ti.mode = size, 0o644
    else:
        ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, link, 0o777
    return ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


class _TarWriter:
    """Tar members written by hand: headers from ``TarInfo``, data through ``copy_hashed``."""

    def __init__(self, out: VolumeWriter) -> None:
        self.out = out
        self.offset = 0

    def _write(self, data: bytes) -> None:
        self.out.write(data)
        self.offset += len(data)

    def _pad(self, size: int) -> None:
        if size % _BLOCK:
            self._write(b"\0" * (_BLOCK - size % _BLOCK))

    def add_bytes(self, name: str, data: bytes) -> None:
        self._write(_header(name, len(data)) + data)
        self._pad(len(data))

    def add_file(self, name: str, source: str, size: int, progress: Progress) -> str:
        """Stream a file in; returns its sha256, computed from the very bytes written."""
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        with os.fdopen(os.open(source, flags), "rb", buffering=0) as src:
            self._write(_header(name, size, mtime=os.fstat(src.fileno()).st_mtime))
            digests = copy_hashed(src, self.out, size, {Algo.SHA256}, progress=progress.advance)
        self.offset += size
        self._pad(size)
        return digests[Algo.SHA256]

    def add_link(self, name: str, target: str) -> None:
        self._write(_header(name, link=target))

    def close(self) -> None:
        self._write(b"\0" * (2 * _BLOCK))
        if self.offset % _RECORD:
            self._write(b"\0" * (_RECORD - self.offset % _RECORD))


def _link_target(path: str, etag: str) -> str:
    """The relative link huggingface_hub writes at ``snapshots/<commit>/<path>``."""
    return "../" * (path.count("/") + 2) + f"blobs/{etag}"


@dataclass(frozen=True)
class _Blob:
    """A blob member's payload: where its bytes are and what they must hash to."""

    source: str
    size: int
    sha256: str


def _repo_members(
    pick: RepoPick, entry: RepoEntry, manifest_bytes: bytes
) -> Iterator[tuple[str, bytes | str | _Blob]]:
    """(tar name, payload) in bundle order: bytes to store, a link target (str), or a blob."""
    folder = pick.repo.folder
    yield member_name(folder, MANIFEST_NAME), manifest_bytes
    sources = {f.name: f for f in pick.files}
    seen: set[str] = set()
    for f in entry.files:
        if f.etag not in seen:
            seen.add(f.etag)
            yield member_name(folder, layout.BLOBS, f.etag), _Blob(sources[f.path].source, f.size, f.sha256)
    if pick.tree_path is not None:
        with open(pick.tree_path, "rb") as t:
            yield member_name(folder, layout.TREES, f"{pick.commit}.json"), t.read()
    for ref, commit in sorted(entry.refs.items()):
        yield member_name(folder, layout.REFS, *ref.split("/")), commit.encode("ascii")
    for f in entry.files:
        yield (
            member_name(folder, layout.SNAPSHOTS, pick.commit, *f.path.split("/")),
            _link_target(f.path, f.etag),
        )


def pack(
    repo_ids: list[str],
    output: str,
    *,
    cache_dir: str | None = None,
    repo_type: str = "model",
    revision: str = "main",
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    allow_incomplete: bool = False,
    split_size: int | str | None = None,
    overwrite: bool = False,
    progress: Progress = NO_PROGRESS,
) -> PackResult:
    """Pack ``repo_ids`` from the local cache into ``output`` (``-``: stdout). Never uses the network.

    ``split_size`` (bytes, or a size such as ``"4G"``) writes numbered volumes. Raises
    :class:`BadInputError` for bad arguments, and :class:`PackRefusedError` listing the
    problems when a revision is incomplete or inconsistent, unless ``allow_incomplete`` (then
    they are recorded in the manifest).
    """
    if repo_type not in ("model", "dataset", "space"):
        raise BadInputError(f"--repo-type must be model, dataset or space, not {repo_type!r}")
    if split_size is not None and output == "-":
        raise BadInputError("--split-size needs -o FILE, not stdout")
    try:
        volume = parse_size(split_size) if isinstance(split_size, str) else split_size
    except ValueError as e:
        raise BadInputError(f"--split-size: {e}") from None
    _, picks = select(
        cache_dir, repo_ids, repo_type=repo_type, revision=revision, include=include, exclude=exclude
    )
    problems = [f for p in picks for f in p.problems]
    if problems and not allow_incomplete:
        raise PackRefusedError(f"{len(problems)} problem(s); nothing was written", problems)
    digests = _prehash(picks, progress)
    entries = []
    for p in picks:
        files, bad = _entries(p, digests)
        if bad and not allow_incomplete:
            raise PackRefusedError(f"{len(bad)} corrupt file(s); nothing was written", bad)
        problems += bad
        entries.append(
            RepoEntry(
                repo_id=p.repo.repo_id,
                repo_type=p.repo.repo_type,
                folder=p.repo.folder,
                revision=p.requested,
                commit=p.commit,
                refs=p.refs,
                files=files,
                include=list(p.include),
                exclude=list(p.exclude),
                allow_incomplete=allow_incomplete,
                problems=[f.to_json() for f in p.problems]
                + [f.to_json() for f in bad if f.repo == p.repo.folder],
                tree=p.tree_path is not None,
            )
        )
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    manifest = Manifest(hfcache_version=__version__, created=created, repos=entries)
    manifest_bytes = manifest.to_bytes()
    out = VolumeWriter(output, volume, overwrite=overwrite)
    try:
        tar = _TarWriter(out)
        progress.start("pack", manifest.total_bytes)
        for pick, entry in zip(picks, entries, strict=True):
            for name, payload in _repo_members(pick, entry, manifest_bytes):
                if isinstance(payload, bytes):
                    tar.add_bytes(name, payload)
                elif isinstance(payload, str):
                    tar.add_link(name, payload)
                else:
                    actual = tar.add_file(name, payload.source, payload.size, progress)
                    if actual != payload.sha256:
                        bad_file = next(f for f in pick.files if f.source == payload.source)
                        raise PackRefusedError(
                            "a blob changed or is corrupt; nothing was written",
                            [_corrupt(pick, bad_file, payload.sha256, actual)],
                        )
        tar.close()
        progress.finish()
        paths = out.commit()
    except BaseException:
        progress.finish()
        out.abort()
        raise
    return PackResult(manifest, tuple(paths), out.bytes_written, tuple(problems))
