"""Move stale partial downloads, lock folders of vanished repos, stale soft locks of the shared
store, tree listings the client ignores, and files standing where a folder belongs into the
quarantine.

Nothing is deleted. Each leftover is moved only while huggingface_hub's own lock for it is
held by us (so no download can be writing it), and only if it is still stale then. A tree
listing has no lock (the client replaces it in one rename): it is judged again, just before
it is moved, exactly as the client reads it, and moved only if the client still ignores it.
"""

from __future__ import annotations

import contextlib
import os
import stat

from hfcache import layout
from hfcache.actions import Action, Plan
from hfcache.doctor.checks.blobs import is_stale
from hfcache.fs import fsops
from hfcache.model import Kind, ListingState, Node
from hfcache.repair.steps import Outcome, Skip, repo_path
from hfcache.scan.walk import read_tree


def _node(path: str) -> Node | None:
    st = fsops.lstat_or_none(path)
    return Node(path, Kind.FILE, st.st_size, st.st_mtime) if st is not None else None


def _park_incomplete(plan: Plan, a: Action, lock_timeout: float) -> Outcome:
    assert a.repo is not None and a.etag is not None
    root = repo_path(plan, a)
    with fsops.hf_lock(layout.lock_path(plan.cache_root, a.repo, a.etag), lock_timeout):
        node = _node(a.path)
        if node is None:
            raise Skip("it is gone already")
        if not is_stale(node):
            raise Skip("it changed recently: a download may be resuming it")
        dest = fsops.quarantine(a.path, layout.quarantine_root(root), os.path.relpath(a.path, root))
    return Outcome(a, "done", "moved into the quarantine", (dest,), reclaimed=0)


def _park_lock_folder(plan: Plan, a: Action, lock_timeout: float) -> Outcome:
    locks: list[str] = []
    for dirpath, _, files in os.walk(a.path):
        locks.extend(os.path.join(dirpath, f) for f in files)
    # Judged before taking them: some filelock releases truncate a lock file as they take it.
    if any(not is_stale(n) for n in map(_node, locks) if n is not None):
        raise Skip("a lock file changed recently")
    with contextlib.ExitStack() as held:
        for lock in locks:
            held.enter_context(fsops.hf_lock(lock, lock_timeout))
        rel = os.path.relpath(a.path, os.path.join(plan.cache_root, layout.LOCKS_DIR))
        dest = fsops.quarantine(a.path, layout.cache_quarantine_root(plan.cache_root), rel)
    return Outcome(a, "done", "moved into the quarantine", (dest,))


def _park_soft_lock(plan: Plan, a: Action) -> Outcome:
    # A soft lock is held by existing: only its age says nobody holds it, so judge that again now.
    node = _node(a.path)
    if node is None:
        raise Skip("it is gone already")
    if not is_stale(node):
        raise Skip("it changed recently: a download may hold it")
    rel = os.path.relpath(a.path, plan.cache_root)
    dest = fsops.quarantine(a.path, layout.cache_quarantine_root(plan.cache_root), rel)
    return Outcome(a, "done", "moved into the quarantine", (dest,))


def park(plan: Plan, a: Action, lock_timeout: float) -> Outcome:
    """Carry out a :attr:`~hfcache.actions.Step.QUARANTINE_LEFTOVER` action."""
    if a.repo is not None:
        return _park_incomplete(plan, a, lock_timeout)
    if os.path.isdir(a.path):
        return _park_lock_folder(plan, a, lock_timeout)
    return _park_soft_lock(plan, a)


def park_in_the_way(plan: Plan, a: Action) -> Outcome:
    """Carry out a :attr:`~hfcache.actions.Step.PARK` action: a file where a folder belongs.

    It may hold someone's bytes, so it is moved, never deleted; a folder found there now (the
    user fixed it meanwhile) is left alone.
    """
    st = fsops.lstat_or_none(a.path)
    if st is None:
        raise Skip("it is gone already")
    if stat.S_ISDIR(st.st_mode):
        raise Skip("it is a folder now")
    if a.repo is not None:
        root = repo_path(plan, a)
        dest = fsops.quarantine(a.path, layout.quarantine_root(root), os.path.relpath(a.path, root))
    else:
        rel = os.path.relpath(a.path, plan.cache_root)
        dest = fsops.quarantine(a.path, layout.cache_quarantine_root(plan.cache_root), rel)
    return Outcome(a, "done", "moved into the quarantine", (dest,))


def park_links_to(root: str, blob: str, stamp_dir: str) -> tuple[str, ...]:
    """Move the snapshot links of ``root`` that point at ``blob`` (just parked) beside it, into
    ``stamp_dir/snapshots/<commit>/<path>``.

    A link left pointing at nothing makes huggingface_hub's scan drop the whole repo ("Blob
    missing"); moved, it still names the file, so the doctor keeps reporting it
    (``entry-parked``) with the download that restores it.
    """
    snapshots = os.path.join(root, layout.SNAPSHOTS)
    moved: list[str] = []
    for dirpath, dirnames, names in os.walk(snapshots):  # never follows a link into a folder
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        for name in names:
            path = os.path.join(dirpath, name)
            if os.path.islink(path) and layout.resolve_lexically(path, os.readlink(path)) == blob:
                dest = os.path.join(stamp_dir, os.path.relpath(path, root))
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                os.rename(path, dest)
                fsops.fsync_dir(os.path.dirname(dest))
                moved.append(dest)
    return tuple(moved)


def park_listing(plan: Plan, a: Action) -> Outcome:
    """Carry out a :attr:`~hfcache.actions.Step.QUARANTINE_LISTING` action."""
    if fsops.lstat_or_none(a.path) is None:
        raise Skip("it is gone already")
    now = read_tree(a.path, os.path.basename(a.path).rsplit(".", 1)[0])
    if now.state in (ListingState.OK, ListingState.NEWER):
        raise Skip("the client reads it now (a download rewrote it): left where it is")
    root = repo_path(plan, a)
    dest = fsops.quarantine(a.path, layout.quarantine_root(root), os.path.relpath(a.path, root))
    return Outcome(a, "done", "moved into the quarantine", (dest,))
