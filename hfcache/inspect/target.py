"""What ``hfcache inspect TARGET`` names: a cached repo revision, a folder, or one file.

A repo id is resolved in the cache the way ``pack`` resolves it (the doctor's scan and
:class:`hfcache.view.CacheView`), so a file's bytes are found through the links the scan saw,
never by following a link on disk. A snapshot folder given as a path is recognised as that
cached revision and read the same way. A plain folder (``hf download --local-dir``, a
``save_pretrained`` output) or a single file is read as it stands, symlinks followed, as
``from_pretrained`` would.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from hfcache import layout
from hfcache.errors import BadInputError
from hfcache.layout import Location, PathKind
from hfcache.repoid import looks_like_repo_id, parse_repo_ref
from hfcache.scan import scan_location
from hfcache.view import CacheView

_SKIP_DIRS = frozenset({".cache", ".git", ".hfcache"})
MAX_FILES = 100_000


@dataclass(frozen=True)
class SourceFile:
    """One file of the target: ``name`` relative to the model folder (``/``-separated).

    ``path`` is what findings name (the snapshot entry, or the file itself); ``content`` is the
    regular file holding its bytes, ``None`` when they are not here (a broken link, a lost blob).
    """

    name: str
    path: str
    content: str | None
    size: int | None


@dataclass(frozen=True)
class Target:
    """A resolved target. ``single`` names the one file to inspect when TARGET was a file."""

    kind: str  # "repo", "folder" or "file"
    path: str
    files: dict[str, SourceFile] = field(default_factory=dict)
    single: str | None = None
    repo_id: str | None = None
    repo_type: str | None = None
    commit: str | None = None
    revision: str | None = None
    cache_dir: str | None = None
    repo_folder: str | None = None


def resolve_target(target: str, *, revision: str | None = None, cache_dir: str | None = None) -> Target:
    """Work out what ``target`` is. Raises :class:`BadInputError` when it is none of the above."""
    full = os.path.abspath(os.path.expanduser(target))
    if os.path.lexists(full):
        snapshot = _snapshot_of(full)
        if snapshot is not None:
            if revision is not None:
                raise BadInputError("--revision applies to a repo id, not to a snapshot folder")
            return _cached(snapshot[0], snapshot[1], snapshot[2], full)
        if revision is not None:
            raise BadInputError("--revision applies to a repo id, not to a path")
        if os.path.isdir(full):
            return Target("folder", full, _walk(full))
        if not os.path.isfile(full):
            raise BadInputError(f"not a file or folder hfcache can read: {target}")
        folder = os.path.dirname(full)
        files = {n: f for n, f in _walk(folder, depth=0).items()}
        name = os.path.basename(full)
        files[name] = _plain(folder, name)
        return Target("file", full, files, single=name)
    if not looks_like_repo_id(target):
        raise BadInputError(f"no such path, and not a repo id (org/name): {target}")
    ref = parse_repo_ref(target)
    if ref.revision is not None and revision is not None:
        raise BadInputError(f"{target} names its revision; --revision {revision} contradicts it")
    loc = layout.locate(cache_dir)
    if loc.kind is PathKind.LOCAL_DIR:
        raise BadInputError(f"{loc.path} is a plain model folder, not a cache: give the folder itself")
    return _cached(loc.cache_root, ref.repo_id, ref.revision or revision or "main", None)


def _snapshot_of(path: str) -> tuple[str, str, str] | None:
    """(cache root, repo id, commit) when ``path`` is ``<cache>/models--org--name/snapshots/<commit>``."""
    commit = os.path.basename(path)
    snapshots = os.path.dirname(path)
    repo_path = os.path.dirname(snapshots)
    parsed = layout.parse_repo_folder(os.path.basename(repo_path))
    if os.path.basename(snapshots) != "snapshots" or parsed is None or parsed[0] != "model":
        return None
    if not layout.COMMIT_RE.fullmatch(commit) or not os.path.isdir(path):
        return None
    return os.path.dirname(repo_path), parsed[1], commit


def _cached(cache_root: str, repo_id: str, revision: str, given: str | None) -> Target:
    folder = layout.repo_folder(repo_id)
    repo_path = os.path.join(cache_root, folder)
    if not os.path.isdir(repo_path):
        raise BadInputError(f"{repo_id} is not in the cache {cache_root} (no {folder}/)")
    cache = scan_location(Location(PathKind.REPO, repo_path, cache_root, folder))
    view = CacheView(cache).revision(repo_id, revision)
    snapshot = os.path.join(repo_path, layout.SNAPSHOTS, view.commit)
    files = {
        name: SourceFile(
            name,
            os.path.join(snapshot, *name.split("/")),
            vf.extents[0].path if vf.available else None,
            vf.size,
        )
        for name, vf in view.files.items()
    }
    return Target(
        "repo",
        given or snapshot,
        files,
        repo_id=repo_id,
        repo_type="model",
        commit=view.commit,
        revision=revision,
        cache_dir=cache_root,
        repo_folder=folder,
    )


def _plain(folder: str, name: str) -> SourceFile:
    path = os.path.join(folder, *name.split("/"))
    try:
        size: int | None = os.stat(path).st_size
        content: str | None = path
    except OSError:
        size = content = None
    return SourceFile(name, path, content, size)


def _walk(folder: str, depth: int = 8) -> dict[str, SourceFile]:
    """Every file under ``folder`` (hidden and tool folders skipped), as the names a repo would use."""
    found: dict[str, SourceFile] = {}
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
