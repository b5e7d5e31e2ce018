"""``inventory``: what a cache (or a bundle, or an OCI layout) holds, as a small JSON document.

Carried out of the offline side, it lets ``pack --exclude-present`` leave out every blob the
target already holds. It lists, per repo, the refs and each revision's files (path → blob id
and size), and the blobs it trusts: present at the right size (and, with ``--verify``, hashed
to their name). No file contents, no paths outside the repos, no tokens: only what names the
bytes. Read through the same view as every other command (:mod:`hfcache.inventory.opener`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from hfcache.bundle.inventory import Inventory
from hfcache.fs.digests import DigestStore, identity_of, matches
from hfcache.fs.hashing import HashJob, algo_for, hash_files
from hfcache.fs.streamcopy import copy_hashed
from hfcache.inventory.opener import open_source
from hfcache.progress import NO_PROGRESS, Progress
from hfcache.view import RevisionSource, RevisionView, Trust, ViewFile


def _trusted(f: ViewFile, verified: set[str] | None) -> bool:
    """Listed: a blob here, named by its hash, that no finding calls damaged (checked against a
    listed size where the client keeps a listing; older clients keep none, and their caches'
    blobs count too: a delta's unpack hashes every blob it takes from the target anyway)."""
    if f.blob_id is None or f.size is None or not f.available or f.trust is Trust.DAMAGED:
        return False
    return verified is None or _key(f) in verified


def _key(f: ViewFile) -> str:
    """Where a file's bytes start: its own file, or its first extent inside a bundle."""
    return f.path if f.path is not None else f"{f.extents[0].path}@{f.extents[0].offset}"


def _revisions(source: RevisionSource) -> list[RevisionView]:
    out = []
    for name in source.repos():
        for commit in sorted(set(source.refs(name).values()) | set(_commits(source, name))):
            out.append(source.revision(name, commit))
    return out


def _commits(source: RevisionSource, name: Any) -> list[str]:
    commits = getattr(source, "commits", None)  # a cache holds commits no ref names
    return list(commits(name)) if callable(commits) else []


class _Chunks:
    """A file's bytes over its extents (a member inside a bundle), as a stream to hash."""

    def __init__(self, f: ViewFile) -> None:
        self._parts = f.chunks()
        self._left = b""

    def read(self, n: int) -> bytes:
        while not self._left:
            part = next(self._parts, None)
            if part is None:
                return b""
            path, offset, length = part
            with open(path, "rb") as fh:
                fh.seek(offset)
                self._left = fh.read(length)
        out, self._left = self._left[:n], self._left[n:]
        return out


def _inside(f: ViewFile) -> bool:
    """Does the file's blob id hash the bytes its extents hold (a bundle member, hashed here)?"""
    assert f.blob_id is not None
    try:
        digests = copy_hashed(_Chunks(f), None, sum(e.length for e in f.extents), (algo_for(f.blob_id),))
    except (OSError, EOFError):
        return False
    return digests[algo_for(f.blob_id)] == f.blob_id


def _hash_unrecorded(views: Sequence[RevisionView], store: DigestStore, progress: Progress) -> set[str]:
    """With ``--verify``: the files (by location) whose bytes hash to their blob id; the record
    spares re-hashing files unchanged since an earlier hash."""
    good: set[str] = set()
    jobs: dict[str, tuple[str, Any]] = {}
    for rv in views:
        for f in rv.files.values():
            path = f.path
            if f.blob_id is None or not f.available:
                continue
            if path is None:  # inside a bundle: hashed here, one at a time
                if _key(f) not in good and _inside(f):
                    good.add(_key(f))
                continue
            if path in jobs or path in good:
                continue
            try:
                ident = identity_of(os.lstat(path))
            except OSError:
                continue
            verdict = matches(store, path, ident, f.blob_id)
            if verdict:
                good.add(path)
            elif verdict is None:
                jobs[path] = (f.blob_id, ident)
    progress.start("verify", sum(os.lstat(p).st_size for p in jobs))
    try:
        hashed = hash_files(
            (HashJob(p, frozenset({algo_for(b)})) for p, (b, _) in jobs.items()), progress=progress.advance
        )
        for result in hashed:
            blob_id, ident = jobs[result.job.path]
            digest = result.digests.get(algo_for(blob_id))
            if digest is not None:
                store.put(result.job.path, ident, {algo_for(blob_id).value: digest})
            if digest == blob_id:
                good.add(result.job.path)
    finally:
        progress.finish()
    return good


def take_inventory(
    paths: Sequence[str | None],
    *,
    verify: bool = False,
    digests: DigestStore | None = None,
    progress: Progress = NO_PROGRESS,
    opener: Callable[..., RevisionSource] = open_source,
) -> Inventory:
    """The inventory of ``paths`` (caches, bundles, layouts; ``None``: huggingface_hub's cache)."""
    store = digests if digests is not None else DigestStore.default()
    sources = [opener(p, digests=store) for p in paths]
    views = [rv for s in sources for rv in _revisions(s)]
    verified = _hash_unrecorded(views, store, progress) if verify else None
    blobs: dict[str, int] = {}
    repos: dict[tuple[str, str], dict[str, Any]] = {}
    for rv in views:
        repo = repos.setdefault((rv.repo_type, rv.repo_id), {"repo_id": rv.repo_id, "repo_type": rv.repo_type,
                                                              "refs": {}, "revisions": []})  # fmt: skip
        files = {}
        for name, f in sorted(rv.files.items()):
            if _trusted(f, verified):
                assert f.blob_id is not None and f.size is not None
                files[name] = {"blob_id": f.blob_id, "size": f.size}
                blobs[f.blob_id] = f.size
        repo["refs"].update({r: rv.commit for r in rv.refs})
        same = next((r for r in repo["revisions"] if r["commit"] == rv.commit), None)
        if same is None:
            repo["revisions"].append({"commit": rv.commit, "files": files})
        else:  # the same revision in two sources: what either holds
            same["files"] = dict(sorted({**same["files"], **files}.items()))
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    labels = tuple(s.label for s in sources)
    return Inventory(labels, verify, blobs, list(repos.values()), created)
