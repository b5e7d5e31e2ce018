"""What pack hashes besides the stream: the small files the manifest names before any blob is
written, and, once a stream fails, every LFS file of the selection (to name every corrupt one)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from hfcache.bundle.manifest import FileEntry
from hfcache.bundle.select import RepoPick
from hfcache.doctor.hints import short
from hfcache.findings import Finding, finding
from hfcache.fs.digests import DigestStore, Identity, identity_of
from hfcache.fs.hashing import Algo, HashJob, algo_for, hash_files
from hfcache.progress import Progress
from hfcache.view import ViewFile


def source_of(f: ViewFile) -> str:
    """The one file holding a cached file's bytes (a blob, or a full copy in the snapshot)."""
    if f.path is None:
        raise ValueError(f"{f.name}: its bytes are not in one file")
    return f.path


def size_of(f: ViewFile) -> int:
    return f.size if f.size is not None else sum(e.length for e in f.extents)


_BOTH = frozenset({Algo.SHA256, Algo.GIT_SHA1})


def _recorded(store: DigestStore | None, path: str) -> tuple[Identity | None, dict[Algo, str]]:
    """The file's identity now, and both digests if the record holds them for that identity."""
    try:
        ident = identity_of(os.lstat(path))
    except OSError:
        return None, {}
    got = store.get(path, ident) if store is not None else {}
    digests = {a: got[a.value] for a in _BOTH if a.value in got}
    return ident, digests if len(digests) == len(_BOTH) else {}


def prehash(
    picks: list[RepoPick], progress: Progress, store: DigestStore | None = None
) -> dict[str, dict[Algo, str]]:
    """sha256 and git blob hash of files not named by a sha256 (git-sha1 blobs, copies of unknown
    blob): the manifest, written first, must list them. These are the Hub's small, non-LFS files.
    ``store``: the digest record; a file it holds both digests for, unchanged since, is not read."""
    jobs: dict[str, tuple[str, frozenset[Algo], int]] = {}
    out: dict[str, dict[Algo, str]] = {}
    idents: dict[str, Identity] = {}
    for p in picks:
        for f in p.files:
            if f.blob_id is None or not f.lfs:
                path = source_of(f)
                if store is not None:  # else nothing to look up, nor a record to make
                    ident, known = _recorded(store, path)
                    if known:
                        out[path] = known
                        continue
                    if ident is not None:
                        idents[path] = ident
                jobs[path] = (path, _BOTH, size_of(f))
    if not jobs:
        return out
    progress.start("check", sum(size for _, _, size in jobs.values()))
    try:
        for result in hash_files((HashJob(*j) for j in jobs.values()), progress=progress.advance):
            out[result.job.path] = dict(result.digests)
            ident = idents.get(result.job.path)
            if store is not None and ident is not None and result.error is None:
                store.put(result.job.path, ident, {a.value: d for a, d in result.digests.items()})
    finally:
        progress.finish()
    return out


PENDING_SHA256 = "0" * 64
"""The sha256 a manifest entry holds until the stream has computed it (same length: the manifest
written first is overwritten in place once every file is hashed)."""


def deferrable(picks: Sequence[RepoPick]) -> bool:
    """Can every file's tar member be written before it is hashed? Yes when each has its one
    file and a known blob id (a small file's name is its git sha1; a copy of unknown blob needs
    its hash to be named)."""
    return all(f.blob_id is not None and f.path is not None for p in picks for f in p.files)


def deferred_entries(pick: RepoPick) -> list[FileEntry]:
    """Manifest entries before any hashing: an LFS file's sha256 is its name; a small file's is
    :data:`PENDING_SHA256` until the stream computes it (and checks its git sha1 name)."""
    out = []
    for f in pick.files:
        if f.blob_id is None:
            raise ValueError(f"{f.name}: no blob id to name it before hashing")
        sha = f.blob_id if f.lfs and algo_for(f.blob_id) is Algo.SHA256 else PENDING_SHA256
        out.append(FileEntry(f.name, size_of(f), sha, f.blob_id))
    return out


def manifest_entries(
    pick: RepoPick, digests: dict[str, dict[Algo, str]]
) -> tuple[list[FileEntry], list[Finding]]:
    """Manifest entries for one pick; files whose content does not match their name become problems."""
    files: list[FileEntry] = []
    bad: list[Finding] = []
    for f in pick.files:
        if f.blob_id is not None and f.lfs:
            files.append(FileEntry(f.name, size_of(f), f.blob_id, f.blob_id))  # checked while streaming
            continue
        d = digests.get(source_of(f), {})
        if Algo.SHA256 not in d or Algo.GIT_SHA1 not in d:
            path = source_of(f)
            bad.append(finding("unreadable", path, f"cannot read {path} to pack it", at=pick.repo.place))
            continue
        etag = f.blob_id or (d[Algo.SHA256] if f.lfs else d[Algo.GIT_SHA1])
        if d[algo_for(etag)] != etag:
            bad.append(corrupt(pick, f, etag, d[algo_for(etag)]))
            continue
        files.append(FileEntry(f.name, size_of(f), d[Algo.SHA256], etag))
    return files, bad


def corrupt(pick: RepoPick, f: ViewFile, etag: str, actual: str) -> Finding:
    return finding(
        "blob-hash-mismatch",
        source_of(f),
        f"{f.name} of {pick.repo.repo_id} @ {pick.commit[:8]} should hash to {short(etag)} but hashes to "
        f"{short(actual)}: its bytes are corrupt. Download it again before packing.",
        at=pick.repo.place.at(pick.commit, f.name),
    )


def all_corrupt(
    picks: Sequence[RepoPick], entries: Sequence[Sequence[FileEntry]], progress: Progress
) -> list[Finding]:
    """Every LFS file of the selection whose bytes do not hash to their name (hashed, not packed);
    ``entries``: the files packed of each pick."""
    jobs: dict[str, tuple[RepoPick, ViewFile, str]] = {}
    for p, files in zip(picks, entries, strict=True):
        sha = {f.path: f.sha256 for f in files}
        for f in p.files:
            if f.lfs and f.name in sha:
                jobs.setdefault(source_of(f), (p, f, sha[f.name]))
    progress.start("check", sum(size_of(f) for _, f, _ in jobs.values()))
    found = []
    try:
        hashed = hash_files(
            (HashJob(path, frozenset({Algo.SHA256}), size_of(f)) for path, (_, f, _) in jobs.items()),
            progress=progress.advance,
        )
        for result in hashed:
            p, f, expected = jobs[result.job.path]
            actual = result.digests.get(Algo.SHA256)
            if actual != expected:
                found.append(corrupt(p, f, expected, actual or "(unreadable)"))
    finally:
        progress.finish()
    return found
