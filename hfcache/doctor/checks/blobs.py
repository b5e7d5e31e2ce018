"""Findings about blobs, the shared Xet store, partial downloads and lock files.

Also decides which blobs are *usable*: present, of the size the tree listing gives, reachable
without leaving the cache, and (after ``--verify``) hashing to their name. Only usable blobs
may become link targets in a repair.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator

from hfcache import layout
from hfcache.findings import Finding, finding
from hfcache.model import Cache, Kind, Node, Repo
from hfcache.scan.entries import EntryDiag
from hfcache.units import human_size


def store_target(cache: Cache, node: Node) -> str | None:
    """The shared-store path a repo blob link leads to, if it leads into the store at all."""
    if node.kind is not Kind.LINK or node.target is None or "\\" in node.target:
        return None
    resolved = layout.resolve_lexically(node.path, node.target)
    name = os.path.basename(resolved)
    if layout.XET_RE.fullmatch(name) and resolved == layout.store_entry_path(cache.root, name):
        return resolved
    return None


def content_node(cache: Cache, repo: Repo, etag: str) -> Node | None:
    """The regular file holding blob ``etag`` of ``repo``, through the shared store if need be.

    Only links the scan saw and resolved lexically are crossed: nothing is followed on disk.
    """
    node = repo.blobs.get(etag)
    if node is None or node.kind is Kind.FILE:
        return node
    target = store_target(cache, node)
    if target is None or cache.store is None:
        return None
    entry = cache.store.entries.get(os.path.basename(target))
    return entry if entry is not None and entry.kind is Kind.FILE else None


def blob_content_path(cache: Cache, repo: Repo, etag: str) -> str | None:
    """Path of the regular file holding blob ``etag`` (see :func:`content_node`)."""
    node = content_node(cache, repo, etag)
    return node.path if node is not None else None


def blob_size(cache: Cache, repo: Repo, etag: str) -> int | None:
    """Size of the content behind blob ``etag``, from the scan."""
    node = content_node(cache, repo, etag)
    return node.size if node is not None else None


def expected_sizes(repo: Repo) -> dict[str, int]:
    """etag → size, from every tree listing of the repo."""
    sizes: dict[str, int] = {}
    for rev in repo.revisions.values():
        for entry in (rev.tree or {}).values():
            if entry.lfs_sha256:
                sizes[entry.lfs_sha256.lower()] = entry.lfs_size if entry.lfs_size is not None else entry.size
            else:
                sizes[entry.blob_id.lower()] = entry.size
    return sizes


def usable_blobs(cache: Cache, corrupt: set[str]) -> set[tuple[str, str]]:
    """(repo folder, etag) pairs whose content can serve as a link target.

    ``corrupt`` holds content paths that failed verification.
    """
    usable: set[tuple[str, str]] = set()
    for repo in cache.repos:
        sizes = expected_sizes(repo)
        for etag in repo.blobs:
            content = blob_content_path(cache, repo, etag)
            if content is None or content in corrupt:
                continue
            if etag in sizes and blob_size(cache, repo, etag) != sizes[etag]:
                continue
            usable.add((repo.folder, etag))
    return usable


try:
    import fcntl
except ImportError:  # Windows: no flock; a partial download is then always reported
    fcntl = None  # type: ignore[assignment]


def _is_held(lock: str) -> bool:
    """Is a download holding this huggingface_hub lock right now? Opens read-only; creates nothing."""
    if fcntl is None:
        return False
    try:
        fd = os.open(lock, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _blob_link_finding(cache: Cache, repo: Repo, node: Node) -> Finding | None:
    target = store_target(cache, node)
    if target is None:
        resolved = layout.resolve_lexically(node.path, node.target or "")
        inside = "\\" not in (node.target or "") and layout.is_within(resolved, cache.root)
        code = "link-bad-target" if inside else "link-outside-cache"
        return finding(
            code,
            node.path,
            f"blob {os.path.basename(node.path)} of {repo.folder} is a link to {node.target!r}, which is not "
            "an entry of the shared blob store; hfcache did not follow it. Download the file again.",
            repo=repo.folder,
        )
    if cache.store is None or os.path.basename(target) not in cache.store.entries:
        return finding(
            "store-missing",
            node.path,
            f"blob {os.path.basename(node.path)} of {repo.folder} links to the shared store entry {target}, "
            "which is not there (the store was not copied along?). Copy <cache>/blobs/ too, "
            "or download again.",
            repo=repo.folder,
        )
    return None


def blob_findings(cache: Cache, repo: Repo, diags: Iterable[EntryDiag]) -> Iterator[Finding]:
    """Blob-level findings for one repo: broken store links, sizes, names, orphans, partial downloads."""
    used = {d.etag for d in diags if d.etag} | {b for d in diags if (b := d.linked_blob)}
    sizes = expected_sizes(repo)
    for etag, node in repo.blobs.items():
        if node.kind is Kind.LINK:
            link_problem = _blob_link_finding(cache, repo, node)
            if link_problem is not None:
                yield link_problem
                continue
        elif node.kind is not Kind.FILE or not layout.is_etag(etag):
            yield finding(
                "blob-bad-name",
                node.path,
                f"{node.path} is not a blob huggingface_hub would write (blobs are files named by a "
                "sha256 or git sha1); it is ignored. Move it out of blobs/ if you put it there.",
                repo=repo.folder,
            )
            continue
        actual = blob_size(cache, repo, etag)
        if etag in sizes and actual is not None and actual != sizes[etag]:
            yield finding(
                "blob-size-mismatch",
                node.path,
                f"blob {etag} of {repo.folder} holds {human_size(actual)}, but the tree listing says "
                f"{human_size(sizes[etag])}: it was truncated or overwritten. Download it again.",
                repo=repo.folder,
            )
        if etag not in used:
            size = actual if node.kind is Kind.FILE and actual is not None else 0
            yield finding(
                "blob-orphan",
                node.path,
                f"blob {etag} of {repo.folder} is not used by any snapshot ({human_size(size)}); "
                "`hf cache prune` or deleting the file reclaims it.",
                repo=repo.folder,
                reclaimable=size,
            )
    for node in repo.incomplete:
        etag = os.path.basename(node.path).split(".", 1)[0]
        if _is_held(layout.lock_path(cache.root, repo.folder, etag)):
            continue  # a download is writing it right now
        yield finding(
            "blob-incomplete",
            node.path,
            f"{node.path} is a leftover partial download ({human_size(node.size)}); huggingface_hub never "
            "resumes it. Delete it when no download is running.",
            repo=repo.folder,
            reclaimable=node.size,
        )


def store_findings(cache: Cache) -> Iterator[Finding]:
    """Shared-store entries no repo blob links to."""
    if cache.store is None or cache.partial:
        return
    used = set()
    for repo in cache.repos:
        for node in repo.blobs.values():
            target = store_target(cache, node)
            if target is not None:
                used.add(os.path.basename(target))
    for name, node in cache.store.entries.items():
        if name not in used:
            yield finding(
                "store-orphan",
                node.path,
                f"shared store entry {name} is used by no repo ({human_size(node.size)}); `hf cache prune` "
                "reclaims it.",
                reclaimable=node.size,
            )


def lock_findings(cache: Cache) -> Iterator[Finding]:
    """Lock folders left behind by repos that are no longer in the cache."""
    folders = {r.folder for r in cache.repos}
    leftovers: dict[str, list[Node]] = {}
    for node in cache.locks:
        rel = os.path.relpath(node.path, os.path.join(cache.root, layout.LOCKS_DIR))
        folder = rel.split(os.sep, 1)[0]
        if layout.parse_repo_folder(folder) is not None and folder not in folders:
            leftovers.setdefault(folder, []).append(node)
    for folder, nodes in sorted(leftovers.items()):
        with contextlib.suppress(OSError):
            if any(_is_held(n.path) for n in nodes):
                continue
        yield finding(
            "lock-stale",
            os.path.join(cache.root, layout.LOCKS_DIR, folder),
            f"{len(nodes)} lock file(s) of {folder}, which is no longer in the cache; they are harmless "
            "and may be deleted.",
        )
