"""Checks: each reads the scan (and the entry classification) and yields findings.

Every check has one signature, :data:`Check`, and is listed once in :data:`CHECKS`; the doctor
runs them all, and every command that judges a revision (``pack``, ``inspect``, ``fit``,
``serve``) gets its findings from the same run through the cache view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from hfcache.doctor.checks.blobs import blob_findings, lock_findings, store_findings
from hfcache.doctor.checks.hashes import hash_findings
from hfcache.doctor.checks.parked import parked_findings
from hfcache.doctor.checks.refs import ref_findings
from hfcache.doctor.checks.shards import shard_findings
from hfcache.doctor.checks.snapshots import entry_findings
from hfcache.doctor.checks.stranded import stranded_findings
from hfcache.doctor.checks.trees import no_snapshot_findings, tree_findings
from hfcache.doctor.context import Context
from hfcache.findings import Finding

Check = Callable[[Context], Iterable[Finding]]


def scanned(ctx: Context) -> Iterator[Finding]:
    """What the scan met on its way: unreadable folders, links where folders belong, stray files."""
    yield from ctx.cache.findings


CHECKS: tuple[Check, ...] = (
    scanned,
    entry_findings,
    stranded_findings,
    parked_findings,
    no_snapshot_findings,
    tree_findings,
    ref_findings,
    blob_findings,
    shard_findings,
    store_findings,
    lock_findings,
    hash_findings,
)
"""Every check, in the order their findings are listed before sorting."""
