"""Repairs for what ``--verify`` found: content that does not hash to its name.

The hashing itself is :mod:`hfcache.doctor.verify`; this check attaches to each mismatch the
action that repairs it, by the context's rules: a verified copy replaces a corrupt blob, a
reversible transfer rewrite is undone, and a corrupt blob with no good bytes anywhere is parked
so that nothing reads it as good.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace

from hfcache.actions import Action
from hfcache.doctor.context import Context
from hfcache.findings import Finding
from hfcache.fs import fsops
from hfcache.scan.entries import Form


def _blob_fix(ctx: Context, f: Finding) -> Action | None:
    if f.repo is None:
        return None
    etag = os.path.basename(f.path)
    from_copy = ctx.content_for(f.repo, etag)
    if from_copy is not None:
        return from_copy
    st = fsops.lstat_or_none(f.path)
    restored = ctx.restore(f.repo, f.path, etag, st.st_size) if st is not None else None
    return restored or ctx.quarantine_blob(f.repo, f.path, etag)


def hash_findings(ctx: Context) -> Iterator[Finding]:
    """What verification found (content not hashing to its name), with the repairs attached."""
    if ctx.verification is None:
        return
    copies = {d.node.path: d for d in ctx.diags if d.form is Form.COPY and d.node is not None}
    for f in ctx.verification.findings:
        fix: Action | None = None
        if f.code == "blob-hash-mismatch":
            fix = _blob_fix(ctx, f)
        elif f.code == "entry-hash-mismatch" and f.path in copies:
            fix = ctx.replace_copy(copies[f.path])
        yield replace(f, fix=fix) if fix is not None else f
