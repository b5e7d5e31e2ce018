"""What ``hfcache inspect TARGET`` (and ``fit``) names: a cached repo revision, a folder, or a file.

A repo id, a repo folder, a snapshot folder or a file inside one (the paths transformers' errors
print) is a revision of a cache, read through :class:`hfcache.sources.CacheView`: its files'
bytes are found through the links the scan saw (never by following a link on disk), and it comes
judged by the doctor's checks. A plain model folder (``hf download --local-dir``, a
``save_pretrained`` output) is read through the same view, as one revision; its links are
followed, as ``from_pretrained`` follows them. A single file outside a cache is read as it stands.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from hfcache import layout
from hfcache.errors import BadInputError
from hfcache.inspect.checkpoint import WEIGHT_SUFFIXES
from hfcache.layout import Location, PathKind
from hfcache.repoid import RepoName, looks_like_repo_id, parse_repo_ref
from hfcache.sources import CacheView
from hfcache.view import Extent, RevisionView, Trust, ViewFile, repo_not_found

_SKIP_DIRS = frozenset({".cache", ".git", ".hfcache"})
MAX_FILES = 100_000


@dataclass(frozen=True)
class Target:
    """A resolved target. ``single`` names the one file to inspect when TARGET was a file.

    ``files`` are the revision's (or folder's) files by name; ``revision`` is the judged revision
    when the target is one (a cached repo or a plain model folder), with the doctor's findings.
    """

    kind: str  # "repo", "folder" or "file"
    path: str
    files: dict[str, ViewFile] = field(default_factory=dict)
    single: str | None = None
    repo_id: str | None = None
    repo_type: str | None = None
    commit: str | None = None
    revision: str | None = None
    cache_dir: str | None = None
    repo_folder: str | None = None
    judged: RevisionView | None = None


def resolve_target(target: str, *, revision: str | None = None, cache_dir: str | None = None) -> Target:
    """Work out what ``target`` is. Raises :class:`BadInputError` when it is none of the above."""
    full = os.path.abspath(os.path.expanduser(target))
    snapshot = layout.in_snapshot(full)
    if snapshot is not None:
        if revision is not None:
            raise BadInputError("--revision applies to a repo id or repo folder, not to a snapshot folder")
        named = snapshot.file or ""
        # One checkpoint file (or index) of the revision; any other path in it: the whole revision.
        single = named if named.endswith((*WEIGHT_SUFFIXES, ".index.json")) else None
        return _cached(snapshot, snapshot.commit or "", full, single=single)
    if os.path.lexists(full):
        return _path(target, full, revision)
    if not looks_like_repo_id(target):
        raise BadInputError(f"no such path, and not a repo id (org/name): {target}")
    ref = parse_repo_ref(target)
    if ref.revision is not None and revision is not None:
        raise BadInputError(f"{target} names its revision; --revision {revision} contradicts it")
    loc = layout.locate(cache_dir)
    if loc.kind is PathKind.LOCAL_DIR:
        raise BadInputError(f"{loc.path} is a plain model folder, not a cache: give the folder itself")
    folder = layout.repo_folder(ref.repo_id, ref.repo_type)
    if not os.path.isdir(os.path.join(loc.cache_root, folder)):
        raise repo_not_found(ref.name, _held(loc.cache_root), f"the cache {loc.cache_root}")
    scope = Location(PathKind.REPO, os.path.join(loc.cache_root, folder), loc.cache_root, folder)
    return _cached(scope, ref.revision or revision or "main", None, name=ref.name)


def _held(cache_root: str) -> list[RepoName]:
    """The repos a cache folder holds, by their folder names alone (for a "did you mean")."""
    try:
        names = os.listdir(cache_root)
    except OSError:
        return []
    return [RepoName(*parsed) for n in names if (parsed := layout.parse_repo_folder(n)) is not None]


def _path(target: str, full: str, revision: str | None) -> Target:
    """An existing path outside any snapshot: a repo folder, a plain model folder, or one file."""
    if os.path.isdir(full):
        loc = layout.locate(full)
        if loc.kind is PathKind.REPO:
            return _cached(loc, revision or "main", full)
        if revision is not None:
            raise BadInputError("--revision applies to a repo id or repo folder, not to a plain folder")
        if loc.kind is PathKind.LOCAL_DIR:
            return _folder(loc)
        raise BadInputError(f"{target} is a whole cache: name one repo in it (org/name) or its folder")
    if revision is not None:
        raise BadInputError("--revision applies to a repo id or repo folder, not to a file")
    if not os.path.isfile(full):
        raise BadInputError(f"not a file or folder hfcache can read: {target}")
    folder = os.path.dirname(full)
    files = dict(_walk(folder, depth=0))
    name = os.path.basename(full)
    files[name] = _plain(folder, name)
    return Target("file", full, files, single=name)


def _cached(
    loc: Location,
    revision: str,
    given: str | None,
    *,
    name: RepoName | None = None,
    single: str | None = None,
) -> Target:
    """A revision of a cache, through the judged view; ``loc`` is the repo's folder (or a path in it)."""
    view = CacheView.open(loc)
    if name is None:
        held = view.repos()
        if len(held) != 1:
            raise BadInputError(f"{given} is not in a repo folder hfcache can read")
        name = held[0]
    judged = view.revision(name, revision)
    folder = layout.repo_folder(name.repo_id, name.repo_type)
    snapshot = os.path.join(view.cache.root, folder, layout.SNAPSHOTS, judged.commit)
    files = dict(judged.files)
    if single is not None and single not in files:
        raise BadInputError(f"{single} is not a file of {name} at {judged.commit[:8]}")
    return Target(
        "repo",
        given or snapshot,
        files,
        single=single,
        repo_id=name.repo_id,
        repo_type=name.repo_type,
        commit=judged.commit,
        revision=revision if given is None or single is None else judged.commit,
        cache_dir=view.cache.root,
        repo_folder=folder,
        judged=judged,
    )


def _folder(loc: Location) -> Target:
    """A plain model folder: one revision of the view, its links followed as loaders follow them."""
    view = CacheView.open(loc)
    (name,) = view.repos()
    commit = view.commits(name)[0]
    judged = view.revision(name, commit)
    if len(judged.files) > MAX_FILES:
        raise BadInputError(f"{loc.path} holds more than {MAX_FILES} files: give the model folder")
    return Target("folder", loc.path, dict(judged.files), judged=judged)


def _plain(folder: str, name: str) -> ViewFile:
    path = os.path.join(folder, *name.split("/"))
    try:
        size = os.stat(path).st_size
    except OSError:
        return ViewFile(name, None, None, False, (), Trust.UNKNOWN, path)
    return ViewFile(name, None, size, False, (Extent(path, 0, size),), Trust.UNKNOWN, path)


def _walk(folder: str, depth: int = 8) -> dict[str, ViewFile]:
    """Every file under ``folder`` (hidden and tool folders skipped), as the names a repo would use."""
    found: dict[str, ViewFile] = {}
    for root, dirs, names in os.walk(folder):
        rel = os.path.relpath(root, folder)
        level = 0 if rel == "." else rel.count(os.sep) + 1
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and level < depth)
        for n in sorted(names):
            name = n if rel == "." else "/".join([*rel.split(os.sep), n])
            found[name] = _plain(folder, name)
            if len(found) > MAX_FILES:
                raise BadInputError(f"{folder} holds more than {MAX_FILES} files: give the model folder")
    return found
