"""What pack hashes besides the stream: the small files the manifest names before any blob is
written, and, once a stream fails, every LFS file of the selection (to name every corrupt one)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from hfcache.bundle.manifest import FileEntry, RepoEntry
from hfcache.bundle.picked import PickedFile, Section
from hfcache.bundle.select import RepoPick
from hfcache.doctor.hints import short
from hfcache.findings import Finding, finding
from hfcache.fs.digests import DigestStore, Identity, identity_of
from hfcache.fs.hashing import Algo, HashJob, algo_for, hash_files
from hfcache.model import RepoFolder
from hfcache.progress import Progress

_BOTH = frozenset({Algo.SHA256, Algo.GIT_SHA1})
_AT_ONCE = 4096
"""Small files hashed per call: the jobs of one call are held together, so pack's memory stays
flat however many repos it packs."""


def _recorded(store: DigestStore | None, path: str) -> tuple[Identity | None, dict[Algo, str]]:
    """The file's identity now, and both digests if the record holds them for that identity."""
    try:
        ident = identity_of(os.lstat(path))
    except OSError:
        return None, {}
    got = store.get(path, ident) if store is not None else {}
    digests = {a: got[a.value] for a in _BOTH if a.value in got}
    return ident, digests if len(digests) == len(_BOTH) else {}


def _needs_hash(f: PickedFile) -> bool:
    """Is ``f`` named by no sha256 (a git-sha1 blob, a copy of unknown blob)? Then the manifest,
    written first, needs its bytes hashed."""
    return f.blob_id is None or not f.lfs


def _fill(f: PickedFile, digests: Mapping[Algo, str]) -> None:
    """Record both digests on ``f`` (the git sha1 as the blob id's own string when it is that)."""
    git = digests[Algo.GIT_SHA1]
    f.sha256, f.git_sha1 = digests[Algo.SHA256], f.blob_id if git == f.blob_id else git


def _hash_some(files: list[PickedFile], progress: Progress, store: DigestStore | None) -> None:
    """Both digests of each of ``files`` (some sharing one path), on every core."""
    by_path: dict[str, list[PickedFile]] = {}
    for f in files:
        by_path.setdefault(f.path, []).append(f)
    idents: dict[str, Identity] = {}
    jobs = []
    for path, same in by_path.items():
        if store is not None:  # else nothing to look up, nor a record to make
            ident, known = _recorded(store, path)
            if known:
                for f in same:
                    _fill(f, known)
                progress.advance(same[0].size)
                continue
            if ident is not None:
                idents[path] = ident
        jobs.append(HashJob(path, _BOTH, same[0].size))
    for result in hash_files(jobs, progress=progress.advance):
        if result.error is not None:
            continue  # left without digests: manifest_entries names it unreadable
        for f in by_path[result.job.path]:
            _fill(f, result.digests)
        ident = idents.get(result.job.path)
        if store is not None and ident is not None:
            store.put(result.job.path, ident, {a.value: d for a, d in result.digests.items()})


def prehash(picks: Sequence[RepoPick], progress: Progress, store: DigestStore | None = None) -> None:
    """sha256 and git blob hash of files not named by a sha256 (git-sha1 blobs, copies of unknown
    blob), filled in on each file: the manifest, written first, must list them. These are the
    Hub's small, non-LFS files, hashed :data:`_AT_ONCE` at a time. ``store``: the digest record;
    a file it holds both digests for, unchanged since, is not read."""
    if not any(_needs_hash(f) for p in picks for f in p.files):
        return
    progress.start("check", sum(f.size for p in picks for f in p.files if _needs_hash(f)))
    try:
        batch: list[PickedFile] = []
        for p in picks:
            for f in p.files:
                if _needs_hash(f):
                    batch.append(f)
                    if len(batch) >= _AT_ONCE:
                        _hash_some(batch, progress, store)
                        batch = []
        _hash_some(batch, progress, store)
    finally:
        progress.finish()


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
        out.append(FileEntry(f.name, f.size, sha, f.blob_id))
    return out


def manifest_entries(pick: RepoPick) -> tuple[list[FileEntry], list[Finding]]:
    """Manifest entries for one pick (its small files hashed by :func:`prehash`); files whose
    content does not match their name, or could not be read, become problems."""
    files: list[FileEntry] = []
    bad: list[Finding] = []
    for f in pick.files:
        if f.blob_id is not None and f.lfs:
            files.append(FileEntry(f.name, f.size, f.blob_id, f.blob_id))  # checked while streaming
            continue
        if f.sha256 is None or f.git_sha1 is None:
            bad.append(finding("unreadable", f.path, f"cannot read {f.path} to pack it", at=pick.repo.place))
            continue
        etag = f.blob_id or (f.sha256 if f.lfs else f.git_sha1)
        actual = f.sha256 if algo_for(etag) is Algo.SHA256 else f.git_sha1
        if actual != etag:
            bad.append(corrupt(pick.repo, pick.commit, f.name, f.path, etag, actual))
            continue
        files.append(FileEntry(f.name, f.size, f.sha256, etag))
    return files, bad


def corrupt(repo: RepoFolder, commit: str, name: str, path: str, etag: str, actual: str) -> Finding:
    """The finding for the file ``name`` of ``repo`` at ``commit``, held by ``path``, whose bytes
    hash to ``actual``, not to its blob id ``etag``."""
    return finding(
        "blob-hash-mismatch",
        path,
        f"{name} of {repo.repo_id} @ {commit[:8]} should hash to {short(etag)} but hashes to "
        f"{short(actual)}: its bytes are corrupt. Download it again before packing.",
        at=repo.place.at(commit, name),
    )


def all_corrupt(
    sections: Sequence[Section], entries: Sequence[RepoEntry], progress: Progress
) -> list[Finding]:
    """Every LFS file packed (named by its sha256) whose bytes do not hash to their name (hashed,
    not packed); ``entries``: the manifest entry of each section."""
    jobs: dict[str, tuple[Section, FileEntry]] = {}
    for s, e in zip(sections, entries, strict=True):
        for f in e.files:
            if f.sha256 == f.etag:
                jobs.setdefault(s.source(f.path, f.etag), (s, f))
    progress.start("check", sum(f.size for _, f in jobs.values()))
    found = []
    try:
        hashed = hash_files(
            (HashJob(path, frozenset({Algo.SHA256}), f.size) for path, (_, f) in jobs.items()),
            progress=progress.advance,
        )
        for result in hashed:
            s, f = jobs[result.job.path]
            actual = result.digests.get(Algo.SHA256)
            if actual != f.sha256:
                bad = actual or "(unreadable)"
                found.append(corrupt(s.repo, s.commit, f.path, result.job.path, f.sha256, bad))
    finally:
        progress.finish()
    return found
