"""Carry out a repair :class:`~hfcache.repair.plan.Plan`, safely.

Rules, in the order they bite:

* content is hashed before anything trusts it; a full copy becomes ``blobs/<etag>`` only if it
  hashes to that etag, and is deleted only when a blob verified to hold the same bytes exists;
* new content appears under its final name by one rename, before any link points at it;
* a link replaces an old entry in one atomic ``os.replace``; an old regular file is first kept
  in the repo's quarantine, since a placeholder's bytes were never verified as worthless;
* each blob is handled under huggingface_hub's own lock file for it, so a live download and a
  repair never interleave.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from hfcache import layout
from hfcache.fs import fsops
from hfcache.fs.hashing import Algo, HashJob, algo_for, hash_file, hash_files
from hfcache.progress import NO_PROGRESS, Progress
from hfcache.repair.plan import Action, Plan, Step

Status = Literal["done", "skipped", "failed"]
Digests = dict[str, dict[Algo, str]]


@dataclass(frozen=True)
class Outcome:
    """What became of one action."""

    action: Action
    status: Status
    detail: str
    quarantined: tuple[str, ...] = ()
    reclaimed: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            **self.action.to_json(),
            "status": self.status,
            "detail": self.detail,
            "quarantined": list(self.quarantined),
            "reclaimed_bytes": self.reclaimed,
        }


class _Skip(Exception):
    """An action that cannot be done safely right now; the reason is the message."""


def _repo_path(plan: Plan, action: Action) -> str:
    return os.path.join(plan.cache_root, action.repo)


def _digest(digests: Digests, path: str, algo: Algo) -> str:
    """A digest already computed, or computed now (and remembered)."""
    known = digests.setdefault(path, {})
    if algo not in known:
        result = hash_file(path, [algo])
        if result.error is not None:
            raise _Skip(f"cannot hash {path}: {result.error}")
        known.update(result.digests)
    return known[algo]


def prehash(plan: Plan, digests: Digests, progress: Progress) -> None:
    """Hash, in parallel, every copy to adopt and every blob it would be deduplicated against."""
    jobs: dict[str, HashJob] = {}
    for a in plan.actions:
        if a.step is not Step.ADOPT:
            continue
        algos = frozenset({algo_for(a.etag)}) if a.etag else frozenset({Algo.SHA256, Algo.GIT_SHA1})
        if not algos <= digests.get(a.path, {}).keys():
            st = fsops.lstat_or_none(a.path)
            jobs[a.path] = HashJob(a.path, algos, st.st_size if st is not None else 0)
        content = fsops.blob_file(plan.cache_root, _repo_path(plan, a), a.etag) if a.etag else None
        if content is not None and a.etag and algo_for(a.etag) not in digests.get(content, {}):
            jobs[content] = HashJob(content, frozenset({algo_for(a.etag)}), os.lstat(content).st_size)
    if not jobs:
        return
    progress.start("hash", sum(j.size or 0 for j in jobs.values()))
    try:
        for result in hash_files(jobs.values(), progress=progress.advance):
            if result.error is None:
                digests.setdefault(result.job.path, {}).update(result.digests)
    finally:
        progress.finish()


def _choose_etag(plan: Plan, a: Action, digests: Digests) -> str:
    """The blob id of a copy the tree listing says nothing about: an existing blob, else by LFS-ness."""
    sha = _digest(digests, a.path, Algo.SHA256)
    git = _digest(digests, a.path, Algo.GIT_SHA1)
    repo_path = _repo_path(plan, a)
    for candidate in (sha, git):
        if fsops.lstat_or_none(os.path.join(repo_path, layout.BLOBS, candidate)) is not None:
            return candidate
    return sha if a.lfs else git


def _adopt(plan: Plan, a: Action, digests: Digests) -> Outcome:
    repo_path = _repo_path(plan, a)
    etag = a.etag or _choose_etag(plan, a, digests)
    st = fsops.lstat_or_none(a.path)
    if st is None or not stat.S_ISREG(st.st_mode):
        raise _Skip("the copy is gone or no longer a regular file")
    if _digest(digests, a.path, algo_for(etag)) != etag:
        raise _Skip(f"the copy does not hash to {etag}: left as it is (see entry-hash-mismatch)")
    blob = os.path.join(repo_path, layout.BLOBS, etag)
    qroot = layout.quarantine_root(repo_path)
    parked: list[str] = []
    content = fsops.blob_file(plan.cache_root, repo_path, etag)
    if content is not None and _digest(digests, content, algo_for(etag)) == etag:
        shared_inode = (fsops.lstat_or_none(content) or st).st_ino == st.st_ino  # a hard link frees nothing
        fsops.replace_with_link(a.path, blob)
        freed = 0 if shared_inode else st.st_size
        return Outcome(a, "done", f"deduplicated against the verified blobs/{etag}", reclaimed=freed)
    if fsops.lstat_or_none(blob) is not None:
        # The blob there failed verification (or is a broken link): the verified copy wins.
        parked.append(fsops.quarantine(blob, qroot, os.path.relpath(blob, repo_path)))
    os.makedirs(os.path.dirname(blob), exist_ok=True)
    tmp, same_inode = fsops.stage_copy(a.path, blob)
    if not same_inode and hash_file(tmp, [algo_for(etag)]).digests.get(algo_for(etag)) != etag:
        os.unlink(tmp)
        raise _Skip("the copied bytes did not verify; nothing changed")
    fsops.publish(tmp, blob)
    digests[blob] = {algo_for(etag): etag}
    fsops.replace_with_link(a.path, blob)
    return Outcome(a, "done", f"kept the verified copy as blobs/{etag} and linked to it", tuple(parked))


def _link(plan: Plan, a: Action) -> Outcome:
    assert a.etag is not None
    repo_path = _repo_path(plan, a)
    if fsops.blob_file(plan.cache_root, repo_path, a.etag) is None:
        raise _Skip(f"blobs/{a.etag} is not there")
    qroot = layout.quarantine_root(repo_path)
    parked: list[str] = []
    st = fsops.lstat_or_none(a.path)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise _Skip("a folder stands where the file belongs")
    if st is not None and not stat.S_ISLNK(st.st_mode):
        parked.append(fsops.quarantine(a.path, qroot, os.path.relpath(a.path, repo_path), keep=True))
    fsops.replace_with_link(a.path, os.path.join(repo_path, layout.BLOBS, a.etag))
    if a.leftover is not None and fsops.lstat_or_none(a.leftover) is not None:
        parked.append(fsops.quarantine(a.leftover, qroot, os.path.relpath(a.leftover, repo_path)))
    return Outcome(a, "done", f"linked to blobs/{a.etag}", tuple(parked))


def _run(plan: Plan, a: Action, digests: Digests, lock_timeout: float) -> Outcome:
    if a.step is Step.REF:
        assert a.commit is not None
        fsops.write_atomic(a.path, a.commit.encode("ascii"))
        return Outcome(a, "done", f"wrote {a.commit}")
    repo_path = _repo_path(plan, a)
    if a.step is Step.QUARANTINE_BLOB:
        lock = layout.lock_path(plan.cache_root, a.repo, a.etag or "unknown")
        with fsops.hf_lock(lock, lock_timeout):
            dest = fsops.quarantine(
                a.path, layout.quarantine_root(repo_path), os.path.relpath(a.path, repo_path)
            )
        return Outcome(a, "done", "parked in quarantine", (dest,))
    etag = a.etag or _choose_etag(plan, a, digests)
    with fsops.hf_lock(layout.lock_path(plan.cache_root, a.repo, etag), lock_timeout):
        return _adopt(plan, a, digests) if a.step is Step.ADOPT else _link(plan, a)


def apply(
    plan: Plan,
    *,
    digests: Digests | None = None,
    progress: Progress = NO_PROGRESS,
    lock_timeout: float = 10.0,
) -> list[Outcome]:
    """Carry out every action of ``plan``; one failure never stops the others.

    ``digests`` (path → algo → hex) are hashes already known, from ``--verify``; they are
    reused and never trusted for a file that changed since (the caller passes fresh ones).
    """
    known: Digests = {p: dict(d) for p, d in (digests or {}).items()}
    prehash(plan, known, progress)
    outcomes: list[Outcome] = []
    for a in plan.actions:
        try:
            outcomes.append(_run(plan, a, known, lock_timeout))
        except _Skip as e:
            outcomes.append(Outcome(a, "skipped", str(e)))
        except fsops.Timeout:
            outcomes.append(Outcome(a, "skipped", f"a download holds the lock for {a.etag}; try again later"))
        except OSError as e:
            outcomes.append(Outcome(a, "failed", f"{e.strerror or e} ({e.filename or a.path})"))
    return outcomes


def reclaimed(outcomes: Iterable[Outcome]) -> int:
    """Bytes freed by deduplication."""
    return sum(o.reclaimed for o in outcomes)
