"""Every private huggingface_hub name hfcache uses, behind one guard.

Users install hfcache beside transformers 4.x, which pins ``huggingface_hub<1.0``, and
beside the newest 2.x. Private modules move between those releases (``_tree_cache`` and
``_shared_blobs`` exist only from 2.x on), so each one is imported here, once, with a
fallback that says the same thing in hfcache's own words. The rest of hfcache imports
huggingface_hub's public API only, and these names from here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import huggingface_hub
from huggingface_hub import constants

VERSION: str = huggingface_hub.__version__

# The name of the cache-wide shared blob store (Xet downloads) and the marker file that tells
# it from a stray folder: 2.x writes them; older clients never do, but may read caches that hold one.
SHARED_BLOBS_DIR_NAME = "blobs"
SHARED_BLOBS_MARKER_NAME = ".huggingface-shared-blobs"
try:
    from huggingface_hub.utils import _shared_blobs as _sb

    SHARED_BLOBS_DIR_NAME = _sb.SHARED_BLOBS_DIR_NAME
    SHARED_BLOBS_MARKER_NAME = _sb.SHARED_BLOBS_MARKER_NAME
    HAS_SHARED_BLOBS = True
except (ImportError, AttributeError):
    HAS_SHARED_BLOBS = False

# Files huggingface_hub's cache scan skips (Finder and Explorer droppings).
FILES_TO_IGNORE: frozenset[str] = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
try:
    from huggingface_hub.utils._cache_manager import FILES_TO_IGNORE as _IGNORED

    FILES_TO_IGNORE = FILES_TO_IGNORE | frozenset(_IGNORED)
except (ImportError, AttributeError):  # pragma: no cover - every release so far has it
    pass

# ``trees/<commit>.json``: the offline tree listing 2.x writes per commit.
TREE_CACHE_FORMAT_VERSION = 1
try:
    from huggingface_hub import _tree_cache as _tc

    TREE_CACHE_FORMAT_VERSION = _tc.TREE_CACHE_FORMAT_VERSION
    HAS_TREE_CACHE = True
except (ImportError, AttributeError):
    HAS_TREE_CACHE = False

# The client ignores a whole tree listing if one of its Xet hashes is not a real one (a "masked"
# ``*****`` hash, say): 2.x's ``is_valid_xet_hash``, 64 hex digits of either case. Releases
# without it read no listings at all, so its rule is the one any listing is judged by.
_XET_HASH_RE = re.compile(r"[0-9a-fA-F]{64}")


def _is_valid_xet_hash(xet_hash: str) -> bool:
    return _XET_HASH_RE.fullmatch(xet_hash) is not None


is_valid_xet_hash: Callable[[str], bool] = _is_valid_xet_hash
try:
    from huggingface_hub.utils._xet import is_valid_xet_hash as _client_rule

    is_valid_xet_hash = _client_rule
except (ImportError, AttributeError):
    pass


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
