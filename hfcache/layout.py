"""The path grammar of a Hugging Face cache, and where a user-given path points.

Names and rules come from huggingface_hub itself (``constants``, ``repo_folder_name``, the
shared-store module) so hfcache never disagrees with the client about what a cache looks like.
Apart from :func:`locate`, nothing here touches the file system.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from enum import Enum

from hfcache import _hf
from hfcache.errors import BadInputError

COMMIT_RE = re.compile(r"[0-9a-f]{40}")
SHA256_RE = re.compile(r"[0-9a-f]{64}")
GIT_SHA1_RE = re.compile(r"[0-9a-f]{40}")
XET_RE = re.compile(r"[0-9a-f]{64}")

BLOBS, REFS, SNAPSHOTS, TREES, NO_EXIST = "blobs", "refs", "snapshots", "trees", ".no_exist"
LOCKS_DIR = ".locks"
CACHEDIR_TAG = "CACHEDIR.TAG"
INCOMPLETE_SUFFIX = ".incomplete"
SHARED_STORE_DIR = _hf.SHARED_BLOBS_DIR_NAME
SHARED_STORE_MARKER = _hf.SHARED_BLOBS_MARKER_NAME
FILES_TO_IGNORE = _hf.FILES_TO_IGNORE
# hfcache's own folder inside a repo folder: huggingface_hub's scanner only looks at refs/ and
# snapshots/ there, so quarantined bytes never make `scan_cache_dir` warn.
HFCACHE_DIR = ".hfcache"
QUARANTINE_DIR = "quarantine"

# Weight files: what the Hub's default .gitattributes stores with LFS, and what must never be empty.
WEIGHT_SUFFIXES = (
    ".safetensors",
    ".bin",
    ".pt",
    ".pth",
    ".ckpt",
    ".h5",
    ".msgpack",
    ".onnx",
    ".gguf",
    ".model",
)

# Files that mark a plain model folder (``hf download --local-dir``, ``git clone``, a copied snapshot).
_MODEL_FILE_RE = re.compile(
    r"(config\.json|.*\.index\.json|tokenizer(_config)?\.json|.*("
    + "|".join(re.escape(suffix) for suffix in WEIGHT_SUFFIXES)
    + "))"
)


_LOWER_HEX = "0123456789abcdef"


def is_etag(name: str) -> bool:
    """True for names huggingface_hub uses for blobs: a git sha1 or a sha256, lowercase hex.

    The same test as ``GIT_SHA1_RE`` or ``SHA256_RE`` matching the whole name, by length and
    character set (the scan asks it of every blob).
    """
    return (len(name) == 40 or len(name) == 64) and not name.strip(_LOWER_HEX)


def clean_ref(raw: bytes) -> str | None:
    """The commit a ref file means, if that is certain: 40 hex once whitespace and a BOM are gone.

    huggingface_hub reads a ref with ``f.read()`` and no strip; the doctor reports any difference
    (``ref-malformed``) and repairs it, but what the ref means is never in doubt.
    """
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff").strip().lower()
    return text if COMMIT_RE.fullmatch(text) else None


def parse_repo_folder(name: str) -> tuple[str, str] | None:
    """``models--org--name`` → ``("model", "org/name")``; ``None`` if not a repo folder name."""
    prefix, sep, rest = name.partition(_hf.REPO_ID_SEPARATOR)
    if not sep or not rest or prefix not in _hf.REPO_TYPES_MAPPING:
        return None
    return _hf.REPO_TYPES_MAPPING[prefix], rest.replace(_hf.REPO_ID_SEPARATOR, "/")


def repo_folder(repo_id: str, repo_type: str = "model") -> str:
    """The folder name huggingface_hub uses for a repo (``models--org--name``)."""
    return _hf.repo_folder_name(repo_id=repo_id, repo_type=repo_type)


def lock_path(cache_root: str, folder: str, etag: str) -> str:
    """The lock file huggingface_hub takes while it writes ``blobs/<etag>`` of a repo."""
    return os.path.join(cache_root, LOCKS_DIR, folder, f"{etag}.lock")


def default_cache_dir() -> str:
    """The hub cache huggingface_hub would use, honouring HF_HOME / HF_HUB_CACHE exactly as it does."""
    return _hf.hub_cache_dir()


class PathKind(str, Enum):
    """What a path given on the command line turned out to be."""

    HF_HOME = "hf-home"
    HUB_CACHE = "hub-cache"
    REPO = "repo"
    SNAPSHOT = "snapshot"
    LOCAL_DIR = "local-dir"


@dataclass(frozen=True)
class Location:
    """A resolved doctor target.

    ``cache_root`` is the hub cache folder (the one holding ``models--*``); for a single repo
    folder it is that folder's parent, and for a plain model folder it is the folder itself.
    ``only_repo`` restricts the scan to one repo folder name. A snapshot folder, or a file in
    one (the paths transformers' errors print), is its repo at ``commit``, ``file`` the Hub path.
    """

    kind: PathKind
    path: str
    cache_root: str
    only_repo: str | None = None
    commit: str | None = None
    file: str | None = None


def _looks_like_hub_cache(path: str, entries: list[str]) -> bool:
    if any(parse_repo_folder(n) is not None or n in (LOCKS_DIR, CACHEDIR_TAG) for n in entries):
        return True
    return SHARED_STORE_DIR in entries and _looks_like_store(path, entries)


def _looks_like_store(path: str, entries: list[str]) -> bool:
    """A cache that holds only the shared Xet store (its repos deleted, the payloads kept) is still a
    cache: huggingface_hub scans it and ``hf cache prune`` reclaims it. Its ``blobs/`` folder carries
    the store's marker (or the temp file of a marker being written), or is all the folder holds."""
    store = os.path.join(path, SHARED_STORE_DIR)
    if not os.path.isdir(store) or os.path.islink(store):
        return False
    try:
        names = os.listdir(store)
    except OSError:
        return False
    if any(n.startswith(SHARED_STORE_MARKER) for n in names):
        return True
    return all(n == SHARED_STORE_DIR or n in FILES_TO_IGNORE for n in entries)


def _looks_like_repo(path: str, entries: list[str]) -> bool:
    return parse_repo_folder(os.path.basename(path)) is not None and any(
        n in (BLOBS, SNAPSHOTS, REFS) for n in entries
    )


def _looks_like_local_dir(path: str, entries: list[str]) -> bool:
    if os.path.isdir(os.path.join(path, ".cache", "huggingface")):
        return True
    return any(_MODEL_FILE_RE.fullmatch(n) for n in entries)


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except PermissionError as e:
        raise BadInputError(f"cannot read {path}: permission denied") from e
    except OSError as e:
        raise BadInputError(f"cannot read {path}: {e.strerror or e}") from e


def in_snapshot(path: str) -> Location | None:
    """The repo revision a path lies in, when it is ``<cache>/<repo folder>/snapshots/<commit>``
    or something inside that folder (judged by the path alone, and by the repo folder existing)."""
    parts = os.path.abspath(path).split(os.sep)
    for i in range(len(parts) - 2, 0, -1):
        if parts[i] != SNAPSHOTS or parse_repo_folder(parts[i - 1]) is None:
            continue
        repo_path = os.sep.join(parts[:i])
        if not os.path.isdir(os.path.join(repo_path, SNAPSHOTS)):
            return None
        inside = "/".join(parts[i + 2 :]) or None
        root = os.path.dirname(repo_path)
        return Location(PathKind.SNAPSHOT, os.path.abspath(path), root, parts[i - 1], parts[i + 1], inside)
    return None


def locate(path: str | os.PathLike[str] | None = None) -> Location:
    """Work out what ``path`` is: an HF_HOME folder, a hub cache, one repo folder, a snapshot
    folder or a file in one (that repo's revision), or a model folder.

    With no path, use the cache huggingface_hub itself would use (not there yet: an empty cache).
    An empty folder is an empty hub cache. Raises :class:`BadInputError` for a path that does not
    exist, cannot be read, or is none of these.
    """
    default = path is None
    if path is None:
        path = default_cache_dir()
    raw = os.fspath(path)
    full = os.path.abspath(os.path.expanduser(raw))
    snapshot = in_snapshot(full)
    if snapshot is not None:  # even a link to nothing there: the revision is judged, the file named
        return snapshot
    try:
        st = os.stat(full)
    except FileNotFoundError as e:
        if default:  # a machine that has not downloaded anything yet: an empty cache, not an error
            return Location(PathKind.HUB_CACHE, full, full)
        raise BadInputError(f"no such path: {raw}") from e
    except OSError as e:
        raise BadInputError(f"cannot read {raw}: {e.strerror or e}") from e
    if not stat.S_ISDIR(st.st_mode):
        raise BadInputError(f"not a folder: {raw}")
    entries = _listdir(full)
    if not entries:
        return Location(PathKind.HUB_CACHE, full, full)  # an empty folder: a cache with nothing in it yet
    if _looks_like_repo(full, entries):
        return Location(PathKind.REPO, full, os.path.dirname(full), os.path.basename(full))
    hub = os.path.join(full, "hub")
    if "hub" in entries and os.path.isdir(hub) and _looks_like_hub_cache(hub, _listdir(hub)):
        return Location(PathKind.HF_HOME, full, hub)
    if _looks_like_hub_cache(full, entries):
        return Location(PathKind.HUB_CACHE, full, full)
    if _looks_like_local_dir(full, entries):
        return Location(PathKind.LOCAL_DIR, full, full)
    if "hub" in entries and os.path.isdir(hub):
        # An HF_HOME whose hub cache is still empty is a cache, just a clean one.
        return Location(PathKind.HF_HOME, full, hub)
    raise BadInputError(
        f"not a Hugging Face cache, repo folder or model folder: {raw} "
        "(expected models--*/datasets--* folders, a hub/ folder, or model files)"
    )


def is_within(path: str, root: str) -> bool:
    """Lexically, is ``path`` inside ``root`` (or equal to it)? Both must be absolute and normalised."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def resolve_lexically(link_path: str, target: str) -> str:
    """Where a relative or absolute link target points, by string rules only.

    hfcache never asks the OS to follow a link it has not checked: a link could lead outside
    the cache, and reading there is exactly what a doctor must not do.
    """
    base = os.path.dirname(link_path)
    return os.path.normpath(target if os.path.isabs(target) else os.path.join(base, target))


def store_entry_path(cache_root: str, xet_hash: str) -> str:
    """``<cache>/blobs/<2 hex>/<xet hash>``: where a shared-store payload lives."""
    return os.path.join(cache_root, SHARED_STORE_DIR, xet_hash[:2], xet_hash)


def quarantine_root(repo_path: str) -> str:
    """Where ``--fix`` parks bytes it must not delete: inside the repo, invisible to huggingface_hub."""
    return os.path.join(repo_path, HFCACHE_DIR, QUARANTINE_DIR)


def cache_quarantine_root(cache_root: str) -> str:
    """Where ``--fix`` parks cache-wide leftovers (lock folders of repos no longer cached).

    Inside ``.locks/``, the one folder of the cache root that every huggingface_hub scan skips.
    """
    return os.path.join(cache_root, LOCKS_DIR, HFCACHE_DIR, QUARANTINE_DIR)


# What an HF_HOME holds besides hub/ (huggingface_hub's token files, other libraries' caches).
_HF_HOME_MARKERS = frozenset({"token", "stored_tokens", "xet", "assets", "accelerate", "modules", "datasets"})


def cache_target(path: str | os.PathLike[str] | None) -> str:
    """The hub cache to write into, by :func:`locate`'s rules: an HF_HOME's ``hub/``, a hub cache
    itself, or a folder that does not exist yet or is empty (it becomes a hub cache).

    Raises :class:`BadInputError` for a plain model folder, one repo's folder, a file, or a
    folder holding something else.
    """
    if path is None:
        return default_cache_dir()
    raw = os.fspath(path)
    full = os.path.abspath(os.path.expanduser(raw))
    if not os.path.lexists(full):
        return full
    if not os.path.isdir(full):
        raise BadInputError(f"not a folder: {raw}")
    entries = _listdir(full)
    if not entries:
        return full
    if "hub" not in entries and _HF_HOME_MARKERS & set(entries) and not _looks_like_hub_cache(full, entries):
        return os.path.join(full, "hub")
    loc = locate(full)
    if loc.kind is PathKind.LOCAL_DIR:
        raise BadInputError(f"{raw} is a plain model folder, not a cache (use --local-dir to write one)")
    if loc.kind in (PathKind.REPO, PathKind.SNAPSHOT):
        raise BadInputError(f"{raw} is in one repo's folder; give the cache that holds it: {loc.cache_root}")
    return loc.cache_root
