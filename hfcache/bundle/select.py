"""Choose what ``pack`` ships, from the doctor's own scan and checks (no second scanner).

For each requested repo: resolve the revision to a commit, pick the files (the tree listing's,
or the snapshot's when there is none) through ``--include``/``--exclude`` with
huggingface_hub's own pattern filter, find where each file's bytes really are (a blob, a
shared-store entry, or a full copy in the snapshot), and collect every reason the result
would not be a complete, correct model.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass

from hfcache import _hf, layout
from hfcache.doctor.checks.blobs import blob_findings
from hfcache.doctor.checks.shards import shard_findings
from hfcache.doctor.checks.snapshots import entry_findings
from hfcache.doctor.context import Context
from hfcache.errors import BadInputError
from hfcache.findings import Finding, Severity, finding
from hfcache.layout import Location, PathKind
from hfcache.model import Cache, Repo
from hfcache.repoid import RepoRef
from hfcache.scan import scan_location
from hfcache.scan.entries import EntryDiag, diagnose_revision
from hfcache.view import CacheView, clean_ref, resolve_commit, view_files


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


def _missing(d: EntryDiag, explained: dict[str, Finding]) -> Finding:
    known = explained.get(d.path)
    if known is not None:
        return known
    return finding(
        "entry-missing",
        d.path,
        f"{d.name} of {d.repo.repo_id} at {d.revision.commit[:8]} is not in the cache",
        at=d.place,
    )


def _patterns(include: list[str] | None, exclude: list[str] | None) -> str:
    shown = [
        *(f"--include {shlex.quote(p)}" for p in include or ()),
        *(f"--exclude {shlex.quote(p)}" for p in exclude or ()),
    ]
    return " ".join(shown) or "the selection"


def _path_in_revision(f: Finding, revision_path: str) -> str:
    """The Hub path of a finding's file inside a revision folder."""
    return os.path.relpath(f.path, revision_path).replace(os.sep, "/")


def _excluded(f: Finding, shard: str, include: list[str], exclude: list[str]) -> Finding:
    """A shard the index needs, left out on purpose by the user's patterns: say so, and the ways out."""
    return finding(
        "shard-missing",
        f.path,
        f"{shard} is named by the checkpoint index but {_patterns(include, exclude)} leaves it out, so the "
        "packed checkpoint would not load. Also exclude the index (--exclude '*.index.json'), include the "
        "shard, or pass --allow-incomplete to pack it anyway.",
        at=f.place,
    )


def pick(cache: Cache, repo: Repo, revision: str, include: list[str], exclude: list[str]) -> RepoPick:
    """Everything needed to pack one revision of ``repo``."""
    commit = resolve_commit(repo, revision)
    rev = repo.revisions[commit]
    all_diags = diagnose_revision(cache, repo, rev)
    names = set(_hf.filter_repo_objects([d.name for d in all_diags], include or None, exclude or None))
    diags = [d for d in all_diags if d.name in names]
    ctx = Context(cache, diags)
    explained = {f.path: f for f in entry_findings(ctx)}
    problems: list[Finding] = []
    files: list[PackFile] = []
    viewed = view_files(cache, all_diags)
    for d in diags:
        vf = viewed[d.name]
        if not vf.available:
            problems.append(_missing(d, explained))
            continue
        extent = vf.extents[0]
        files.append(PackFile(d.name, vf.blob_id, extent.length, extent.path, vf.lfs))
    left_out = {d.path for d in all_diags if d.name not in names}
    problems += [
        _excluded(f, _path_in_revision(f, rev.path), include, exclude)
        if f.code == "shard-missing" and f.path in left_out
        else f
        for f in shard_findings(cache, diags)
        if f.severity is not Severity.INFO
    ]
    selected = {f.etag for f in files}
    problems += [
        f
        for f in blob_findings(ctx, repo, diags)
        if f.code == "blob-size-mismatch" and os.path.basename(f.path) in selected
    ]
    unread = [f for f in cache.findings if f.code == "unreadable" and f.repo in (None, repo.folder)]
    if unread:  # what could not be read is a permission problem, not a missing file to download
        problems = unread
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
    repos: list[RepoRef],
    *,
    revision: str = "main",
    include: list[str] | None = None,
    exclude: list[str] | None = None,
) -> tuple[Cache, list[RepoPick]]:
    """Scan the cache once and pick each requested repo (at its ``@revision``, else ``revision``).

    :class:`BadInputError` for unknown repos and revisions, and for a selection with no file.
    """
    loc = layout.locate(cache_dir)
    if loc.kind is PathKind.LOCAL_DIR:
        raise BadInputError(f"{loc.path} is a plain model folder, not a cache: nothing to pack from it")
    cache = scan_location(Location(PathKind.HUB_CACHE, loc.cache_root, loc.cache_root))
    view = CacheView(cache)
    picks = []
    for ref in dict.fromkeys(repos):
        chosen = pick(
            cache,
            view.repo(ref.repo_id, ref.repo_type),
            ref.revision or revision,
            include or [],
            exclude or [],
        )
        if not chosen.files and not chosen.problems:
            raise BadInputError(f"no file of {ref} matches {_patterns(include, exclude)}: nothing to pack")
        picks.append(chosen)
    return cache, picks
