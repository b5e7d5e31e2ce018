"""Every private huggingface_hub name hfcache uses, behind one guard.

Users install hfcache beside transformers 4.x, which pins ``huggingface_hub<1.0``, and
beside the newest 2.x. Private modules move between those releases (``_tree_cache`` and
``_shared_blobs`` exist only from 2.x on), so each one is imported here, once, with a
fallback that says the same thing in hfcache's own words. The rest of hfcache imports
huggingface_hub's public API only, and these names from here.

Plain constants (folder names, the ignored files, a format version) are read from the module's
source, not by running it: those modules import huggingface_hub's HTTP stack (``errors`` pulls
in httpx), ~50 ms of every command's start-up for four literals.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
import re
from collections.abc import Callable
from typing import Any

import huggingface_hub
from huggingface_hub import constants

VERSION: str = huggingface_hub.__version__


def _has_module(module: str) -> bool:
    """Whether the installed huggingface_hub has ``module`` (found, not imported)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _literal(module: str, name: str) -> object:
    """What a top-level ``name = <literal>`` of ``module`` assigns, read from its source without
    running it; None without a source, such an assignment, or a literal value."""
    try:
        spec = importlib.util.find_spec(module)
        get_source = getattr(spec.loader if spec is not None else None, "get_source", None)
        source = get_source(module) if get_source is not None else None
    except (ImportError, ValueError, OSError):
        return None
    found = re.search(rf"^{name}\b[^=\n]*=", source or "", re.MULTILINE)
    if source is None or found is None:
        return None
    lines = source[found.start() :].splitlines()
    for end in range(1, min(len(lines), 30) + 1):  # the statement may span lines
        try:
            statement = ast.parse("\n".join(lines[:end])).body[0]
        except SyntaxError:
            continue
        value = statement.value if isinstance(statement, (ast.Assign, ast.AnnAssign)) else None
        try:
            return ast.literal_eval(value) if value is not None else None
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return None
    return None


def _constant(module: str, name: str, kind: type, default: Any) -> Any:
    """``module.name`` if it is a ``kind``, read from the source, else imported; else ``default``."""
    if not _has_module(module):
        return default
    value = _literal(module, name)
    if not isinstance(value, kind):
        try:
            value = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            return default
    return value if isinstance(value, kind) else default


# The name of the cache-wide shared blob store (Xet downloads) and the marker file that tells
# it from a stray folder: 2.x writes them; older clients never do, but may read caches that hold one.
_SHARED_BLOBS = "huggingface_hub.utils._shared_blobs"
HAS_SHARED_BLOBS = _has_module(_SHARED_BLOBS)
SHARED_BLOBS_DIR_NAME: str = _constant(_SHARED_BLOBS, "SHARED_BLOBS_DIR_NAME", str, "blobs")
SHARED_BLOBS_MARKER_NAME: str = _constant(
    _SHARED_BLOBS, "SHARED_BLOBS_MARKER_NAME", str, ".huggingface-shared-blobs"
)

# Files huggingface_hub's cache scan skips (Finder and Explorer droppings).
FILES_TO_IGNORE: frozenset[str] = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"}) | frozenset(
    _constant("huggingface_hub.utils._cache_manager", "FILES_TO_IGNORE", list, [])
)

# ``trees/<commit>.json``: the offline tree listing 2.x writes per commit.
_TREE_CACHE = "huggingface_hub._tree_cache"
HAS_TREE_CACHE = _has_module(_TREE_CACHE)
TREE_CACHE_FORMAT_VERSION: int = _constant(_TREE_CACHE, "TREE_CACHE_FORMAT_VERSION", int, 1)

# The client ignores a whole tree listing if one of its Xet hashes is not a real one (a "masked"
# ``*****`` hash, say): 2.x's ``is_valid_xet_hash``, 64 hex digits of either case. Releases
# without it read no listings at all, so its rule is the one any listing is judged by.
_XET_HASH_RE = re.compile(r"[0-9a-fA-F]{64}")


def _is_valid_xet_hash(xet_hash: str) -> bool:
    return _XET_HASH_RE.fullmatch(xet_hash) is not None


@functools.cache
def _xet_rule() -> Callable[[str], bool]:
    """The client's own rule, imported on first use: its module imports the HTTP stack (~50 ms),
    which only a listing that holds Xet hashes needs."""
    try:
        from huggingface_hub.utils._xet import is_valid_xet_hash as client_rule
    except (ImportError, AttributeError):
        return _is_valid_xet_hash
    return client_rule


def is_valid_xet_hash(xet_hash: str) -> bool:
    """Whether huggingface_hub takes ``xet_hash`` as a real Xet hash (its rule where it has one)."""
    return _xet_rule()(xet_hash)


def tree_cache_folder_for_local_dir(local_dir: str) -> str:
    """Where huggingface_hub keeps a ``--local-dir`` download's metadata and tree listings."""
    return os.path.join(local_dir, ".cache", "huggingface")


def repo_folder_name(*, repo_id: str, repo_type: str) -> str:
    """``models--org--name``, exactly as huggingface_hub names a repo's cache folder."""
    from huggingface_hub.file_download import repo_folder_name as _name

    return _name(repo_id=repo_id, repo_type=repo_type)


def filter_repo_objects(
    names: list[str], allow_patterns: list[str] | None, ignore_patterns: list[str] | None
) -> list[str]:
    """huggingface_hub's own ``allow_patterns``/``ignore_patterns`` filter (public in every release)."""
    from huggingface_hub.utils import filter_repo_objects as _filter  # type: ignore[attr-defined]

    return list(_filter(names, allow_patterns=allow_patterns, ignore_patterns=ignore_patterns))


REPO_ID_SEPARATOR: str = getattr(constants, "REPO_ID_SEPARATOR", "--")
REPO_TYPES_MAPPING: dict[str, str] = dict(
    getattr(constants, "REPO_TYPES_MAPPING", {"models": "model", "datasets": "dataset", "spaces": "space"})
)


def hub_cache_dir() -> str:
    """The hub cache huggingface_hub would use, honouring HF_HOME / HF_HUB_CACHE as it does."""
    return str(constants.HF_HUB_CACHE)


def describe() -> dict[str, Any]:
    """What this huggingface_hub offers, for ``--version`` and bug reports."""
    return {"version": VERSION, "tree_cache": HAS_TREE_CACHE, "shared_blobs": HAS_SHARED_BLOBS}
