"""``--verify``: hash content against the names and listings that vouch for it.

A blob is named by its own hash (sha256 for LFS files, git blob sha1 for the rest), a shared
store entry by its Xet hash, and a full copy in a snapshot by what the tree listing says. Every
file is read once, in parallel, streaming; the digests are kept so a repair can trust content
without hashing it again.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from hfcache import layout
from hfcache.doctor.hints import blob_label, blob_users, fetch_again, fetch_blob_again, sentence, short
from hfcache.findings import NOWHERE, Finding, Place, Severity, finding
from hfcache.fs.digests import DigestStore, Identity, identity_of
from hfcache.fs.hashing import XET_UNAVAILABLE, Algo, HashJob, HashResult, algo_for, hash_files
from hfcache.model import Cache, Kind
from hfcache.progress import NO_PROGRESS, Progress
from hfcache.scan.entries import EntryDiag, Form


def file_identity(path: str) -> tuple[int, int, int] | None:
    """What tells one file apart from a replacement at the same path, without reading it."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass
class Verification:
    """Digests by path, what did not match, and the findings that says so."""

    digests: dict[str, dict[Algo, str]] = field(default_factory=dict)
    corrupt: set[str] = field(default_factory=set)
    """Paths whose content does not hash to what vouches for it."""
    findings: list[Finding] = field(default_factory=list)
    bytes_hashed: int = 0
    bytes_reused: int = 0
    """Bytes not hashed again because an earlier digest of the unchanged file was known."""
    identity: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    """(inode, size, mtime) of each hashed file, to tell later whether it is still the same file."""

    def unchanged(self, path: str) -> bool:
        """Is the file at ``path`` still the one that was hashed?"""
        return path in self.identity and file_identity(path) == self.identity[path]

    def record(self, path: str, digests: dict[Algo, str], identity: tuple[int, int, int] | None) -> None:
        """Remember digests of the file at ``path`` as it was when ``identity`` was taken."""
        if identity is None:
            return
        if self.identity.get(path) != identity:
            self.digests[path] = {}
            self.identity[path] = identity
        self.digests[path].update(digests)

    def known(self, path: str, algos: frozenset[Algo]) -> dict[Algo, str] | None:
        """Digests of ``algos`` for ``path`` if they were computed for the file that is there now."""
        have = self.digests.get(path)
        if have is None or not algos <= have.keys() or not self.unchanged(path):
            return None
        return {a: have[a] for a in algos}

    def copy(self) -> Verification:
        """The digests and identities alone (no judgement), to be extended by later hashing."""
        return Verification(
            digests={p: dict(d) for p, d in self.digests.items()}, identity=dict(self.identity)
        )


@dataclass(frozen=True)
class _Target:
    """What one hashed file should hash to, and how to report a mismatch."""

    place: Place
    code: str
    expected: str | None
    label: str
    advice: str = "download it again"


def plan_jobs(
    cache: Cache, diags: Iterable[EntryDiag], *, store_entries: bool = True
) -> dict[str, tuple[HashJob, _Target]]:
    """Every file to hash, once, with what it should match (the shared store's entries only with
    ``store_entries``: a cache judged in parts hashes them with its first part)."""
    jobs: dict[str, tuple[HashJob, _Target]] = {}
    diags = list(diags)
    users = blob_users(diags)
    for repo in cache.repos:
        for etag, node in repo.blobs.items():
            if node.kind is Kind.FILE and layout.is_etag(etag):
                holders = users.get((repo.folder, etag), [])
                label = blob_label(etag, holders)
                target = _Target(repo.place, "blob-hash-mismatch", etag, label, fetch_blob_again(holders))
                jobs[node.path] = (HashJob(node.path, frozenset({algo_for(etag)}), node.size), target)
    if cache.store is not None and store_entries:
        for name, node in cache.store.entries.items():
            if node.kind is Kind.FILE:
                target = _Target(NOWHERE, "store-hash-mismatch", name, f"shared store entry {short(name)}")
                jobs[node.path] = (HashJob(node.path, frozenset({Algo.XET}), node.size), target)
    for d in diags:
        if d.form is not Form.COPY or d.node is None or d.node.path in jobs:
            continue
        algos = frozenset({algo_for(d.etag)}) if d.etag else frozenset({Algo.SHA256, Algo.GIT_SHA1})
        label = f"{d.name} in snapshot {d.revision.commit[:8]}"
        advice = fetch_again(d.repo, d.revision, [d.name])
        target = _Target(d.place, "entry-hash-mismatch", d.etag, label, advice)
        jobs[d.node.path] = (HashJob(d.node.path, algos, d.node.size), target)
    return jobs


def _judge(result: HashResult, target: _Target, out: Verification) -> Iterator[Finding]:
    path = result.job.path
    if result.error is not None:
        if result.errors.get(Algo.XET) == XET_UNAVAILABLE:
            yield finding(
                target.code,
                path,
                f"{target.label} was not checked: {result.error}",
                at=target.place,
                severity=Severity.INFO,
            )
        else:
            yield finding(
                "unreadable",
                path,
                f"cannot read {path} to verify it: {result.error}",
                at=target.place,
            )
        return
    out.bytes_hashed += result.nbytes
    out.record(path, dict(result.digests), file_identity(path))
    yield from _compare(path, result.digests, target, out)


def _compare(path: str, digests: dict[Algo, str], target: _Target, out: Verification) -> Iterator[Finding]:
    if target.expected is None:
        return
    algo = Algo.XET if target.code == "store-hash-mismatch" else algo_for(target.expected)
    actual = digests.get(algo)
    if actual is None or actual == target.expected:
        return
    out.corrupt.add(path)
    yield finding(
        target.code,
        path,
        f"{target.label} hashes to {short(actual)} ({algo.value}), not {short(target.expected)}: its bytes "
        "are corrupt",
        advice=sentence(target.advice),
        at=target.place,
    )


def verify(
    cache: Cache,
    diags: Iterable[EntryDiag],
    *,
    progress: Progress = NO_PROGRESS,
    known: Verification | None = None,
    only_known: bool = False,
    store: DigestStore | None = None,
    store_entries: bool = True,
) -> Verification:
    """Hash every blob, store entry and full copy of the cache and compare with its name.

    Digests in ``known`` for files unchanged since are reused, not computed again; with
    ``only_known`` nothing new is hashed at all (the re-check after a ``--fix`` without
    ``--verify`` judges just what the repair hashed). A ``store`` (the persistent record the
    mirror shares) supplies digests of files unchanged since an earlier run, and keeps the new ones.
    The result holds the digests of this cache's files only, those taken from ``known`` included.
    """
    out = Verification()
    jobs = plan_jobs(cache, diags, store_entries=store_entries)
    todo: list[HashJob] = []
    before: dict[str, Identity] = {}
    for path, (job, target) in jobs.items():
        reuse = None
        if known is not None and (reuse := known.known(path, job.algos)) is not None:
            out.record(path, reuse, known.identity[path])
        if reuse is None and store is not None and not only_known:
            reuse = _from_store(store, path, job, out, before)
        if reuse is not None:
            out.bytes_reused += job.size or 0
            out.findings.extend(_compare(path, reuse, target, out))
        elif not only_known:
            todo.append(job)
    if not todo:
        return out
    progress.start("verify", sum((job.size or 0) * job.passes for job in todo))
    try:
        for result in hash_files(todo, progress=progress.advance):
            out.findings.extend(_judge(result, jobs[result.job.path][1], out))
            ident = before.get(result.job.path)
            if store is not None and ident is not None and result.error is None:
                store.put(result.job.path, ident, {a.value: d for a, d in result.digests.items()})
    finally:
        progress.finish()
    return out


def _from_store(
    store: DigestStore, path: str, job: HashJob, out: Verification, before: dict[str, Identity]
) -> dict[Algo, str] | None:
    """Digests the record holds for the file as it is now; remembers its identity for later."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    before[path] = identity_of(st)
    recorded = store.get(path, before[path])
    if not all(a.value in recorded for a in job.algos):
        return None
    digests = {a: recorded[a.value] for a in job.algos}
    out.record(path, digests, (st.st_ino, st.st_size, st.st_mtime_ns))
    return digests
