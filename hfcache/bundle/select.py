"""Choose what ``pack`` ships, from the doctor's own scan and checks (no second scanner).

For each requested repo: resolve the revision to a commit, pick the files (the tree listing's,
or the snapshot's when there is none) through ``--include``/``--exclude`` with
huggingface_hub's own pattern filter, find where each file's bytes really are (a blob, a
shared-store entry, or a full copy in the snapshot), and collect every reason the result
would not be a complete, correct model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from hfcache import _hf, layout
from hfcache.doctor.checks.blobs import blob_content_path, blob_findings, usable_blobs
from hfcache.doctor.checks.refs import clean_ref
from hfcache.doctor.checks.shards import shard_findings
from hfcache.doctor.checks.snapshots import copy_sources, entry_findings
from hfcache.errors import BadInputError
from hfcache.findings import Finding, Severity, finding
from hfcache.layout import Location, PathKind
from hfcache.model import Cache, Repo
from hfcache.repair.plan import is_lfs, lfs_attributes
from hfcache.scan import scan_location
from hfcache.scan.entries import EntryDiag, Form, diagnose_revision


@dataclass(frozen=True)
class PackFile:
    """One file to ship: ``source`` holds its bytes; ``etag`` is ``None`` until its content is hashed."""

    name: str
    etag: str | None
    size: int
    source: str
    lfs: bool


@dataclass(frozen=True)
class RepoPick:
    """One repo revision to pack, with what is wrong with it (empty when it may leave)."""

    repo: Repo
    requested: str
    commit: str
    refs: dict[str, str]
    files: tuple[PackFile, ...]
    problems: tuple[Finding, ...]
    tree_path: str | None
    include: tuple[str, ...]
    exclude: tuple[str, ...]


def resolve_commit(repo: Repo, revision: str) -> str:
    """A branch, tag, ``refs/pr/N`` or commit hash (or a unique prefix of one) → the cached commit."""
    if revision in repo.refs:
        commit = clean_ref(repo.refs[revision])
        if commit is not None and commit in repo.revisions:
            return commit
    if layout.COMMIT_RE.fullmatch(revision) and revision in repo.revisions:
        return revision
    matches = [c for c in repo.revisions if len(revision) >= 7 and c.startswith(revision.lower())]
    if len(matches) == 1:
        return matches[0]
    known = sorted(repo.refs) or ["(no refs)"]
    raise BadInputError(
        f"revision {revision!r} of {repo.repo_id} is not in the cache (refs: {', '.join(known)}; "
        f"{len(repo.revisions)} snapshot(s))"
    )


def _source(cache: Cache, d: EntryDiag, usable: set[tuple[str, str]]) -> str | None:
    """Where the entry's real bytes are, without following any link the scan did not resolve."""
    if d.form is Form.COPY and d.node is not None and d.expected_size in (None, d.node.size):
        return d.node.path
    if d.wrong_blob is None and d.linked_blob is not None:
        return blob_content_path(cache, d.repo, d.linked_blob)
    if d.etag is not None and (d.repo.folder, d.etag) in usable:
        return blob_content_path(cache, d.repo, d.etag)
    return None


def _missing(d: EntryDiag, explained: dict[str, Finding]) -> Finding:
    known = explained.get(d.path)
    if known is not None:
        return known
    return finding(
        "entry-missing",
        d.path,
        f"{d.name} of {d.repo.repo_id} at {d.revision.commit[:8]} is not in the cache",
        repo=d.repo.folder,
    )


def pick(cache: Cache, repo: Repo, revision: str, include: list[str], exclude: list[str]) -> RepoPick:
    """Everything needed to pack one revision of ``repo``."""
    commit = resolve_commit(repo, revision)
    rev = repo.revisions[commit]
    all_diags = diagnose_revision(cache, repo, rev)
    names = set(_hf.filter_repo_objects([d.name for d in all_diags], include or None, exclude or None))
    diags = [d for d in all_diags if d.name in names]
    usable = usable_blobs(cache, set())
    explained = {f.path: f for f in entry_findings(diags, usable, copy_sources(diags, set()))}
    problems: list[Finding] = []
    files: list[PackFile] = []
    patterns: list[str] | None = None
    for d in diags:
        source = _source(cache, d, usable)
        if source is None:
            problems.append(_missing(d, explained))
            continue
        size = os.lstat(source).st_size
        etag = d.etag
        if etag is None and patterns is None:
            patterns = lfs_attributes(all_diags)
        lfs = layout.SHA256_RE.fullmatch(etag) is not None if etag else is_lfs(d.name, size, patterns or [])
        files.append(PackFile(d.name, etag, size, source, lfs))
    problems += [f for f in shard_findings(cache, diags) if f.severity is not Severity.INFO]
    selected = {f.etag for f in files}
    problems += [
        f
        for f in blob_findings(cache, repo, diags)
        if f.code == "blob-size-mismatch" and os.path.basename(f.path) in selected
    ]
    refs = {name: commit for name, raw in repo.refs.items() if clean_ref(raw) == commit}
    return RepoPick(
        repo,
        revision,
        commit,
        refs,
        tuple(files),
        tuple(problems),
        rev.tree_path,
        tuple(include),
        tuple(exclude),
    )


def select(
    cache_dir: str | None,
    repo_ids: list[str],
    *,
    repo_type: str = "model",
    revision: str = "main",
    include: list[str] | None = None,
    exclude: list[str] | None = None,
) -> tuple[Cache, list[RepoPick]]:
    """Scan the cache once and pick each requested repo. :class:`BadInputError` for unknown repos."""
    root = os.path.abspath(os.path.expanduser(cache_dir or layout.default_cache_dir()))
    if not os.path.isdir(root):
        raise BadInputError(f"no such cache folder: {root}")
    cache = scan_location(Location(PathKind.HUB_CACHE, root, root))
    picks = []
    for repo_id in dict.fromkeys(repo_ids):
        folder = layout.repo_folder(repo_id, repo_type)
        repo = next((r for r in cache.repos if r.folder == folder), None)
        if repo is None:
            raise BadInputError(f"{repo_type} {repo_id} is not in the cache {root} (no {folder}/)")
        picks.append(pick(cache, repo, revision, include or [], exclude or []))
    return cache, picks
