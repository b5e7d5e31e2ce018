"""Findings about blobs, the shared Xet store, partial downloads and lock files.

Partial downloads and lock files left by finished or crashed downloads are *leftovers*: once
huggingface_hub's lock for them can be taken and they have not changed for
:data:`STALE_AFTER` seconds, ``--fix`` moves them into the quarantine (nothing is deleted).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

from hfcache import layout
from hfcache.doctor.content import content_node, store_target, used_blobs
from hfcache.doctor.context import Context
from hfcache.doctor.hints import blob_label, blob_users, fetch_blob_again, link_text, sentence, short
from hfcache.findings import Finding, Severity, finding
from hfcache.fs.locks import is_held
from hfcache.model import Cache, Kind, Node, Repo
from hfcache.scan.entries import EntryDiag
from hfcache.units import human_size

STALE_AFTER = 3600.0
"""A leftover untouched for this long (seconds), with no download holding its lock, is stale."""


def _blob_link_finding(cache: Cache, repo: Repo, node: Node) -> Finding | None:
    target = store_target(cache, node)
    if target is None:
        resolved = layout.resolve_lexically(node.path, node.target or "")
        inside = "\\" not in (node.target or "") and layout.is_within(resolved, cache.root)
        code = "link-bad-target" if inside else "link-outside-cache"
        return finding(
            code,
            node.path,
            f"blob {short(os.path.basename(node.path))} is a link to {link_text(node.target)}, which is not "
            "an entry of the shared blob store; hfcache did not follow it",
            advice="Download the file again.",
            at=repo.place,
        )
    if cache.store is None or os.path.basename(target) not in cache.store.entries:
        return finding(
            "store-missing",
            node.path,
            f"blob {short(os.path.basename(node.path))} links to the shared store entry {target}, "
            "which is not there (the store was not copied along?)",
            advice="Copy <cache>/blobs/ too, or download again.",
            at=repo.place,
        )
    return None


def is_stale(node: Node, now: float | None = None) -> bool:
    """Has a leftover gone unchanged long enough that no download is still writing it?"""
    return (now if now is not None else time.time()) - node.mtime >= float(STALE_AFTER)


def blob_findings(ctx: Context) -> Iterator[Finding]:
    """Blob-level findings of every repo: broken store links, sizes, names, orphans, partial downloads."""
    for repo in ctx.cache.repos:
        yield from _repo_blobs(ctx, repo, ctx.by_repo.get(repo.folder, []))


def _repo_blobs(ctx: Context, repo: Repo, diags: list[EntryDiag]) -> Iterator[Finding]:
    cache = ctx.cache
    used = used_blobs(cache, repo, diags)
    if repo.snapshots_lost:  # no snapshot left to use them: repo-no-snapshots counts and keeps them
        used |= set(repo.blobs)
    stranded = {e for s in ctx.strands if s.repo is repo for e in s.unknown}  # reported with their revision
    sizes = repo.listed_sizes
    users: dict[tuple[str, str], list[EntryDiag]] | None = None  # built for the first size mismatch
    file, link = Kind.FILE, Kind.LINK  # looked up once, not per blob
    for etag, node in repo.blobs.items():
        # The name decides first, so one name gets one code whether it is a file or a link.
        named = layout.is_etag(etag)
        kind = node.kind
        if named and kind is link:
            link_problem = _blob_link_finding(cache, repo, node)
            if link_problem is not None:
                yield link_problem
                continue
        elif kind is not file or not named:
            yield finding(
                "blob-bad-name",
                node.path,
                f"{node.path} is not a blob huggingface_hub would write (blobs are files named by a "
                "sha256 or git sha1); it is ignored",
                advice="Move it out of blobs/ if you put it there.",
                at=repo.place,
            )
            continue
        content = node if kind is file else content_node(cache, repo, etag)
        actual = content.size if content is not None else None
        expected = sizes.get(etag)
        if expected is not None and actual is not None and actual != expected:
            fix = ctx.content_for(repo.folder, etag)
            if fix is None and node.kind is Kind.FILE:
                fix = ctx.restore(repo.folder, node.path, etag, actual)
            if users is None:
                users = blob_users(diags)
            holders = users.get((repo.folder, etag), [])
            yield finding(
                "blob-size-mismatch",
                node.path,
                f"{blob_label(etag, holders)} holds {human_size(actual)}, but the tree listing says "
                f"{human_size(sizes[etag])}: it was truncated or overwritten",
                advice="" if fix is not None else sentence(fetch_blob_again(holders)),
                fix=fix,
                at=repo.place,
            )
        if etag not in used and etag not in stranded:
            size = actual if node.kind is Kind.FILE and actual is not None else 0
            what = f"({human_size(size)})"
            if node.kind is Kind.LINK:  # a link into the shared store: the entry holds the bytes
                what = f"(a link to the shared store entry of {human_size(actual or 0)})"
            yield finding(
                "blob-orphan",
                node.path,
                f"blob {short(etag)} is not used by any snapshot {what}",
                advice=_orphan_advice(repo),
                at=repo.place,
                reclaimable=size if not _unlisted(repo) else 0,
            )
    now = time.time()
    for node in repo.incomplete:
        etag = os.path.basename(node.path).split(".", 1)[0]
        if is_held(layout.lock_path(cache.root, repo.folder, etag)):
            continue  # a download is writing it right now
        if not is_stale(node, now):
            yield finding(
                "blob-incomplete",
                node.path,
                f"{node.path} is a partial download ({human_size(node.size)}) changed in the last "
                f"{int(STALE_AFTER // 60)} minutes; a download may still resume it.",
                at=repo.place,
                severity=Severity.INFO,
            )
            continue
        yield finding(
            "blob-incomplete",
            node.path,
            f"{node.path} is a leftover partial download ({human_size(node.size)}), untouched for over "
            f"{int(STALE_AFTER // 60)} minutes and not locked by any download.",
            fix=ctx.leftover(repo.folder, node.path, etag),
            at=repo.place,
            reclaimable=node.size,
        )


def _unlisted(repo: Repo) -> bool:
    """Does some revision of the repo have no tree listing to prove its snapshot complete?"""
    return any(r.tree is None for r in repo.revisions.values())


def _orphan_advice(repo: Repo) -> str:
    """Prune advice only where every revision's tree listing proves the blob belongs to none."""
    if not _unlisted(repo):
        return "`hf cache prune` or deleting the file reclaims it."
    return (
        "Keep it unless you know its revision is gone: no tree listing here proves that no snapshot "
        "lost the link to it, and it may be the only copy of a file (`hf cache prune` would delete it)."
    )


def store_users(cache: Cache) -> set[str]:
    """The shared-store entries the repos of ``cache`` need: those their blobs link to, and those
    their tree listings name for a file whose blob was lost (the entry may be its only copy)."""
    used = set()
    for repo in cache.repos:
        for node in repo.blobs.values():
            target = store_target(cache, node)
            if target is not None:
                used.add(os.path.basename(target))
        listed = (e for r in repo.revisions.values() for e in (r.tree or {}).values())
        used |= {e.xet_hash for e in listed if e.xet_hash and e.etag not in repo.blobs}
    return used


def store_findings(ctx: Context) -> Iterator[Finding]:
    """Shared-store entries no repo needs (judged only when every repo was scanned)."""
    cache = ctx.cache
    if cache.store is None or cache.partial:
        return
    used = ctx.wide.store_used if ctx.wide is not None else store_users(cache)
    for name, node in cache.store.entries.items():
        if name not in used:
            yield finding(
                "store-orphan",
                node.path,
                f"shared store entry {short(name)} is used by no repo ({human_size(node.size)})",
                advice="`hf cache prune` reclaims it."
                if cache.store.marked
                else "huggingface_hub does not own an unmarked store, so `hf cache prune` leaves it; "
                "delete it by hand if no other cache links to it.",
                reclaimable=node.size if cache.store.marked else 0,
            )


def lock_findings(ctx: Context) -> Iterator[Finding]:
    """Lock folders left behind by repos that are no longer in the cache, and stale soft locks of
    the shared store (a soft lock is held by existing: one left by a crash makes every later
    publication of that entry time out)."""
    cache = ctx.cache
    now = time.time()
    for node in cache.store.soft_locks if cache.store is not None else ():
        if is_stale(node, now):
            yield finding(
                "lock-stale",
                node.path,
                f"{os.path.basename(node.path)} is a soft lock of the shared store left by a download that "
                f"ended over {int(STALE_AFTER // 60)} minutes ago; while it exists, huggingface_hub cannot "
                "publish that entry where file locks are unsupported",
                fix=ctx.leftover(None, node.path),
            )
    folders = ctx.wide.folders if ctx.wide is not None else {r.folder for r in cache.repos}
    leftovers: dict[str, list[Node]] = {}
    for node in cache.locks:
        rel = os.path.relpath(node.path, os.path.join(cache.root, layout.LOCKS_DIR))
        folder = rel.split(os.sep, 1)[0]
        if layout.parse_repo_folder(folder) is not None and folder not in folders:
            leftovers.setdefault(folder, []).append(node)
    for folder, nodes in sorted(leftovers.items()):
        with contextlib.suppress(OSError):
            if any(is_held(n.path) for n in nodes):
                continue
        path = os.path.join(cache.root, layout.LOCKS_DIR, folder)
        yield finding(
            "lock-stale",
            path,
            f"{len(nodes)} lock file(s) of {folder}, which is no longer in the cache; they are harmless",
            fix=ctx.leftover(None, path) if all(is_stale(n) for n in nodes) else None,
        )
