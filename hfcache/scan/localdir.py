"""Scan a plain model folder (``hf download --local-dir``, a ``git clone``, a copied snapshot).

Such a folder holds real files, so it is modelled as one repo with one revision whose entries
are those files. What huggingface_hub recorded at download time, in
``.cache/huggingface/download/<path>.metadata`` (commit, etag) and
``.cache/huggingface/trees/<commit>.json``, stands in for the tree listing of a cache.
"""

from __future__ import annotations

import os

from hfcache import _hf, layout
from hfcache.findings import Place
from hfcache.model import Cache, Kind, Node, Repo, Revision, TreeEntry
from hfcache.scan.walk import Walk, read_tree

_SKIP_TOP = frozenset({".cache", ".git"})
LOCAL_REVISION = "local"


def _read_metadata(w: Walk, meta_dir: str) -> tuple[str | None, dict[str, str]]:
    """Commit and per-file etags from huggingface_hub's local-dir download metadata."""
    commit: str | None = None
    etags: dict[str, str] = {}
    if not os.path.isdir(meta_dir):
        return None, etags
    for rel, node in w.walk_files(meta_dir):
        if node.kind is not Kind.FILE or not rel.endswith(".metadata"):
            continue
        try:
            with open(node.path, encoding="utf-8") as f:
                lines = f.read(1024).splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        if len(lines) >= 2 and layout.COMMIT_RE.fullmatch(lines[0].strip()):
            commit = commit or lines[0].strip()
            etags[rel[: -len(".metadata")]] = lines[1].strip()
    return commit, etags


def scan_local_dir(path: str) -> Cache:
    """Model a plain folder of files as a one-revision cache. Never raises on bad content."""
    w = Walk()
    name = os.path.basename(path.rstrip(os.sep)) or path
    w.place = Place(name)
    entries: dict[str, Node] = {}
    for entry in w.scandir(path):
        if entry.name in _SKIP_TOP or entry.name in layout.FILES_TO_IGNORE:
            continue
        node = w.node(entry)
        if node is None:
            continue
        if node.kind is Kind.DIR:
            for rel, child in w.walk_files(entry.path, f"{entry.name}/"):
                entries[rel] = child
        else:
            entries[entry.name] = node
    tree_folder = _hf.tree_cache_folder_for_local_dir(path)
    commit, etags = _read_metadata(w, os.path.join(tree_folder, "download"))
    tree: dict[str, TreeEntry] | None = None
    tree_path: str | None = None
    if commit is not None:
        candidate = os.path.join(tree_folder, layout.TREES, f"{commit}.json")
        if os.path.isfile(candidate):
            tree = read_tree(candidate, commit).tree
            tree_path = candidate if tree is not None else None
    revision = Revision(commit or LOCAL_REVISION, path, entries, tree, tree_path, etags)
    repo = Repo(path, name, "model", name, {}, {revision.commit: revision}, plain=True)
    return Cache(path, (repo,), None, (), tuple(w.findings), local_dir=True)
