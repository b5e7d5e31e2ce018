"""Undo a text transfer's rewrite of a blob or a full copy, and install the original bytes.

The doctor already found a rewrite whose undo hashes to the blob's name
(:mod:`hfcache.formats.textforms`); this reads the file again, undoes it again and hashes
again before anything is written, since the file may have changed since the report.
"""

from __future__ import annotations

import os
import stat

from hfcache import layout
from hfcache.actions import Action, Plan
from hfcache.doctor.verify import Verification
from hfcache.formats import textforms
from hfcache.fs import fsops
from hfcache.fs.hashing import algo_for, hash_bytes
from hfcache.repair.steps import Outcome, Skip, digest, install_blob, link_entry, repo_path
from hfcache.scan.entries import read_small


def restore(plan: Plan, a: Action, known: Verification) -> Outcome:
    """Carry out a :attr:`~hfcache.actions.Step.RESTORE` action (the caller holds the blob's lock)."""
    assert a.etag is not None and a.rewrite is not None
    st = fsops.lstat_or_none(a.path)
    if st is None or not stat.S_ISREG(st.st_mode) or st.st_size > textforms.MAX_TEXT_SIZE:
        raise Skip("the file is gone, no longer a regular file, or too large to be text")
    data = read_small(a.path, textforms.MAX_TEXT_SIZE + 1)
    if data is None:
        raise Skip(f"cannot read {a.path}")
    original = textforms.undo(a.rewrite, data)
    if hash_bytes(original, algo_for(a.etag)) != a.etag:
        raise Skip(f"undoing the {a.rewrite} rewrite no longer gives blobs/{a.etag}; nothing changed")
    root = repo_path(plan, a)
    blob = os.path.join(root, layout.BLOBS, a.etag)
    detail = f"undid the {a.rewrite} rewrite: blobs/{a.etag} holds the original bytes"
    if a.path == blob:
        tmp = fsops.stage_bytes(blob, original)
        return Outcome(a, "done", detail, install_blob(plan, a, a.etag, tmp, known))
    parked: tuple[str, ...] = ()
    content = fsops.blob_file(plan.cache_root, root, a.etag)
    if content is None or digest(known, content, algo_for(a.etag)) != a.etag:
        os.makedirs(os.path.dirname(blob), exist_ok=True)
        parked = install_blob(plan, a, a.etag, fsops.stage_bytes(blob, original), known)
    return Outcome(a, "done", f"{detail}, linked to it", parked + link_entry(plan, a, a.etag))
