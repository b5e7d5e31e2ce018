"""Carry out a repair :class:`~hfcache.actions.Plan`, safely.

Rules, in the order they bite:

* content is hashed before anything trusts it; a full copy becomes ``blobs/<etag>`` only if it
  hashes to that etag, and is deleted only when a blob verified to hold the same bytes exists;
* new content appears under its final name by one rename, before any link points at it;
* a link replaces an old entry in one atomic ``os.replace``; an old regular file is first kept
  in the repo's quarantine, since a placeholder's bytes were never verified as worthless;
* each blob is handled under huggingface_hub's own lock file for it, so a live download and a
  repair never interleave.

Every file hashed here is recorded in a :class:`~hfcache.doctor.verify.Verification`, so the
check after the repair knows what the repair learnt (a copy that failed its hash, say).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import replace

from hfcache import layout
from hfcache.actions import Action, Plan, Step
from hfcache.doctor.verify import Verification, file_identity
from hfcache.fs import fsops
from hfcache.fs.hashing import Algo, HashJob, algo_for, hash_file, hash_files
from hfcache.progress import NO_PROGRESS, Progress
from hfcache.repair import leftovers, restore
from hfcache.repair.steps import Outcome, Skip, digest, install_blob, link_entry, repo_path


def prehash(plan: Plan, known: Verification, progress: Progress) -> None:
    """Hash, in parallel, every copy to adopt and every blob it would be deduplicated against."""
    jobs: dict[str, HashJob] = {}
    for a in plan.actions:
        if a.step is not Step.ADOPT:
            continue
        algos = frozenset({algo_for(a.etag)}) if a.etag else frozenset({Algo.SHA256, Algo.GIT_SHA1})
        st = fsops.lstat_or_none(a.path)
        if known.known(a.path, algos) is None and st is not None:
            jobs[a.path] = HashJob(a.path, algos, st.st_size)
        content = fsops.blob_file(plan.cache_root, repo_path(plan, a), a.etag) if a.etag else None
        if content is not None and a.etag and known.known(content, frozenset({algo_for(a.etag)})) is None:
            jobs[content] = HashJob(content, frozenset({algo_for(a.etag)}), os.lstat(content).st_size)
    if not jobs:
        return
    identities = {p: file_identity(p) for p in jobs}
    progress.start("hash", sum(j.size or 0 for j in jobs.values()))
    try:
        for result in hash_files(jobs.values(), progress=progress.advance):
            if result.error is None:
                known.record(result.job.path, dict(result.digests), identities[result.job.path])
    finally:
        progress.finish()


def _choose_etag(plan: Plan, a: Action, known: Verification) -> str:
    """The blob id of a copy the tree listing says nothing about: an existing blob, else by LFS-ness."""
    sha = digest(known, a.path, Algo.SHA256)
    git = digest(known, a.path, Algo.GIT_SHA1)
    for candidate in (sha, git):
        if fsops.lstat_or_none(os.path.join(repo_path(plan, a), layout.BLOBS, candidate)) is not None:
            return candidate
    return sha if a.lfs else git


def _adopt(plan: Plan, a: Action, known: Verification) -> Outcome:
    root = repo_path(plan, a)
    etag = a.etag or _choose_etag(plan, a, known)
    st = fsops.lstat_or_none(a.path)
    if st is None or not stat.S_ISREG(st.st_mode):
        raise Skip("the copy is gone or no longer a regular file")
    if digest(known, a.path, algo_for(etag)) != etag:
        raise Skip(f"the copy does not hash to {etag}: left as it is (see entry-hash-mismatch)")
    blob = os.path.join(root, layout.BLOBS, etag)
    content = fsops.blob_file(plan.cache_root, root, etag)
    if content is not None and digest(known, content, algo_for(etag)) == etag:
        shared_inode = (fsops.lstat_or_none(content) or st).st_ino == st.st_ino  # a hard link frees nothing
        fsops.replace_with_link(a.path, blob)
        freed = 0 if shared_inode else st.st_size
        detail = f"replaced by a link to the verified blobs/{etag} (same bytes)"
        return Outcome(a, "done", detail, reclaimed=freed, effect="deduplicated")
    os.makedirs(os.path.dirname(blob), exist_ok=True)
    tmp, same_inode = fsops.stage_copy(a.path, blob)
    if not same_inode and hash_file(tmp, [algo_for(etag)]).digests.get(algo_for(etag)) != etag:
        os.unlink(tmp)
        raise Skip("the copied bytes did not verify; nothing changed")
    parked = install_blob(plan, a, etag, tmp, known)
    fsops.replace_with_link(a.path, blob)
    detail = f"kept the verified copy as blobs/{etag} and linked to it"
    return Outcome(a, "done", detail, parked, effect="kept")


def _run(plan: Plan, a: Action, known: Verification, lock_timeout: float) -> Outcome:
    if a.step is Step.REF:
        assert a.commit is not None
        fsops.write_atomic(a.path, a.commit.encode("ascii"))
        return Outcome(a, "done", f"wrote {a.commit}")
    if a.step is Step.QUARANTINE_LEFTOVER:
        return leftovers.park(plan, a, lock_timeout)
    if a.step is Step.PARK:
        return leftovers.park_in_the_way(plan, a)
    if a.step is Step.QUARANTINE_LISTING:
        return leftovers.park_listing(plan, a)
    assert a.repo is not None
    root = repo_path(plan, a)
    if a.step is Step.QUARANTINE_BLOB:
        with fsops.hf_lock(layout.lock_path(plan.cache_root, a.repo, a.etag or "unknown"), lock_timeout):
            dest = fsops.quarantine(a.path, layout.quarantine_root(root), os.path.relpath(a.path, root))
            links = leftovers.park_links_to(root, a.path, os.path.dirname(os.path.dirname(dest)))
        return Outcome(a, "done", "parked in quarantine", (dest, *links))
    etag = a.etag or _choose_etag(plan, a, known)
    with fsops.hf_lock(layout.lock_path(plan.cache_root, a.repo, etag), lock_timeout):
        if a.step is Step.ADOPT:
            return _adopt(plan, a, known)
        if a.step is Step.RESTORE:
            return restore.restore(plan, a, known)
        return Outcome(a, "done", f"linked to blobs/{etag}", link_entry(plan, a, etag))


def apply(
    plan: Plan,
    *,
    known: Verification | None = None,
    progress: Progress = NO_PROGRESS,
    lock_timeout: float = 10.0,
) -> tuple[list[Outcome], Verification]:
    """Carry out every action of ``plan``; one failure never stops the others.

    ``known`` holds digests already computed (by ``--verify``); they are reused only for files
    unchanged since. Returns the outcomes and every digest known at the end.
    """
    learned = known.copy() if known is not None else Verification()
    prehash(plan, learned, progress)
    outcomes: list[Outcome] = []
    for a in plan.actions:
        resolves = plan.resolves.get(a, ())
        try:
            outcome = _run(plan, a, learned, lock_timeout)
        except Skip as e:
            outcome = Outcome(a, "skipped", str(e))
        except fsops.Timeout:
            outcome = Outcome(a, "skipped", f"a download holds the lock for {a.etag}; try again later")
        except OSError as e:
            outcome = Outcome(a, "failed", f"{e.strerror or e} ({e.filename or a.path})")
        outcomes.append(replace(outcome, resolves=resolves))
    return outcomes, learned


def reclaimed(outcomes: Iterable[Outcome]) -> int:
    """Bytes freed by deduplication."""
    return sum(o.reclaimed for o in outcomes)
