"""The Hub's HTTP contract, as pure functions: URL parts checked; views in, JSON and headers out.

Every URL part is checked here before anything touches a file: the repo id by the Hub's
grammar (:mod:`hfcache.repoid`), the revision as 40 hex or a ref name of safe parts, each path
segment without ``.``/``..``/backslash/NUL/empty parts. The raw (still percent-encoded) path is
split on ``/`` first and each segment decoded after, so ``refs%2Fpr%2F1`` is one revision and an
encoded ``..`` is caught like a plain one. Which paths exist is :mod:`hfcache.serve.routes`'s
table; what clients read is documented in ``docs/serve.md``.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote, unquote

from hfcache.repoid import URL_PREFIX, is_repo_id, revision_problem
from hfcache.view import RevisionView, ViewFile

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT_LIVED = "public, max-age=10, must-revalidate"


class BadRequest(Exception):
    """A request the mirror refuses before looking anything up: ``status`` and the Hub's error code."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def segments(raw: str) -> list[str]:
    """Split the raw path (query dropped) on ``/``, then decode each segment; refuse NUL and bad UTF-8."""
    parts = raw.split("?", 1)[0].split("/")[1:]
    try:
        decoded = [unquote(p, errors="strict") for p in parts]
    except UnicodeDecodeError:
        raise BadRequest(400, "the URL is not valid UTF-8") from None
    if any("\0" in p for p in decoded):
        raise BadRequest(400, "the URL holds a NUL byte")
    return decoded


def check_path(parts: list[str]) -> str:
    """A Hub path from decoded segments (each may hold ``/`` from ``%2F``); refuses anything unsafe."""
    pieces = [piece for part in parts for piece in part.split("/")]
    if pieces == [""]:
        return ""
    for piece in pieces:
        if piece in ("", ".", "..") or "\\" in piece or "\0" in piece:
            raise BadRequest(400, f"invalid path segment {piece!r}")
    return "/".join(pieces)


def check_revision(rev: str) -> str:
    """A commit, or a ref name by the one grammar (:mod:`hfcache.repoid`): safe parts only."""
    if revision_problem(rev) is not None:
        raise BadRequest(400, f"invalid revision {rev!r}", "RevisionNotFound")
    return rev


def check_repo_id(parts: list[str]) -> str:
    """A repo id by the one grammar; anything else is a repo the Hub could not have."""
    repo_id = "/".join(parts)
    if not 1 <= len(parts) <= 2 or not is_repo_id(repo_id):
        raise BadRequest(404, "Repository not found", "RepoNotFound")
    return repo_id


# --- what the mirror answers ---------------------------------------------------------------------


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The Git LFS pointer the Hub stores in git for an LFS file (its blob id is the file's ``oid``)."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def git_oid(f: ViewFile) -> str:
    """The git blob id of a file: its etag, or for an LFS file the sha1 of its pointer."""
    assert f.blob_id is not None
    if not f.lfs:
        return f.blob_id
    pointer = lfs_pointer(f.blob_id, f.size or 0)
    return hashlib.sha1(b"blob %d\0" % len(pointer) + pointer, usedforsecurity=False).hexdigest()


def _lfs(f: ViewFile) -> dict[str, Any] | None:
    if not f.lfs or f.blob_id is None:
        return None
    return {
        "oid": f.blob_id,
        "sha256": f.blob_id,
        "size": f.size,
        "pointerSize": len(lfs_pointer(f.blob_id, f.size or 0)),
    }


def repo_info(view: RevisionView) -> dict[str, Any]:
    """``/api/{type}s/{repo}[/revision/{rev}]``: with the fields every client from 0.20 on reads."""
    siblings = []
    for f in sorted(view.files.values(), key=lambda f: f.name):
        if f.blob_id is None:
            continue
        item: dict[str, Any] = {"rfilename": f.name, "size": f.size, "blobId": git_oid(f)}
        lfs = _lfs(f)
        if lfs is not None:
            item["lfs"] = {"size": lfs["size"], "sha256": lfs["sha256"], "pointerSize": lfs["pointerSize"]}
        siblings.append(item)
    author = view.repo_id.split("/")[0] if "/" in view.repo_id else None
    info: dict[str, Any] = {
        "_id": view.commit[:24],
        "id": view.repo_id,
        "author": author,
        "sha": view.commit,
        "private": False,
        "disabled": False,
        "gated": False,
        "downloads": 0,
        "likes": 0,
        "tags": [],
        "cardData": {},
        "siblings": siblings,
    }
    if view.repo_type == "model":
        info["modelId"] = view.repo_id
    return info


def _tree_file(f: ViewFile) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "file", "oid": git_oid(f), "size": f.size, "path": f.name}
    lfs = _lfs(f)
    if lfs is not None:
        entry["lfs"] = {"oid": lfs["oid"], "size": lfs["size"], "pointerSize": lfs["pointerSize"]}
    return entry


def _tree_dir(path: str, view: RevisionView) -> dict[str, Any]:
    inside = sorted(
        git_oid(f) + f.name for f in view.files.values() if f.name.startswith(path + "/") and f.blob_id
    )
    oid = hashlib.sha1("\n".join(inside).encode(), usedforsecurity=False).hexdigest()
    return {"type": "directory", "oid": oid, "size": 0, "path": path}


def directories(view: RevisionView) -> set[str]:
    return {name.rsplit("/", i)[0] for name in view.files for i in range(1, name.count("/") + 1)}


def tree(view: RevisionView, path: str, recursive: bool) -> list[dict[str, Any]] | None:
    """``/tree/{rev}/{path}``: direct children (with directories), or everything below when recursive.

    ``None`` when ``path`` is neither the root nor a directory of the revision.
    """
    dirs = directories(view)
    if path and path not in dirs:
        return None
    prefix = f"{path}/" if path else ""

    def wanted(name: str) -> bool:
        return name.startswith(prefix) and (recursive or "/" not in name[len(prefix) :])

    entries = [_tree_dir(d, view) for d in sorted(dirs) if wanted(d)]
    entries += [
        _tree_file(f)
        for f in sorted(view.files.values(), key=lambda f: f.name)
        if f.blob_id and wanted(f.name)
    ]
    return entries


def paths_info(view: RevisionView, paths: list[str]) -> list[dict[str, Any]]:
    """``POST /paths-info/{rev}``: an entry for each path that exists; the others are left out."""
    dirs = directories(view)
    out: list[dict[str, Any]] = []
    for p in paths:
        f = view.files.get(p)
        if f is not None and f.blob_id:
            out.append(_tree_file(f))
        elif p in dirs:
            out.append(_tree_dir(p, view))
    return out


def refs(refs_to_commits: dict[str, str], include_prs: bool) -> dict[str, Any]:
    """``/refs``: branches (every ref that is not a PR: the cache cannot tell tags from branches)."""
    branches, prs = [], []
    for name, commit in sorted(refs_to_commits.items()):
        if name.startswith("refs/pr/"):
            prs.append({"name": name[len("refs/pr/") :], "ref": name, "targetCommit": commit})
        else:
            branches.append({"name": name, "ref": f"refs/heads/{name}", "targetCommit": commit})
    out: dict[str, Any] = {"branches": branches, "converts": [], "tags": []}
    if include_prs:
        out["pullRequests"] = prs
    return out


def commits(view: RevisionView) -> list[dict[str, Any]]:
    """``/commits/{rev}``: the one commit the mirror holds for it (it has no history)."""
    title = f"Revision {view.commit[:8]} as mirrored"
    date = "1970-01-01T00:00:00.000Z"
    return [
        {"id": view.commit, "authors": [{"user": "hfcache"}], "date": date, "title": title, "message": ""}
    ]


def resolve_url(repo_type: str, repo_id: str, commit: str, path: str) -> str:
    """The by-commit resolve URL, path-only (what a branch URL redirects to, as the Hub does)."""
    return f"/{URL_PREFIX[repo_type]}{repo_id}/resolve/{commit}/{quote(path)}"


def file_headers(view: RevisionView, f: ViewFile, by_commit: bool) -> dict[str, str]:
    """The metadata headers clients read from a resolve answer."""
    assert f.blob_id is not None
    return {
        "X-Repo-Commit": view.commit,
        "ETag": f'"{f.blob_id}"',
        "X-Linked-Etag": f'"{f.blob_id}"',
        "X-Linked-Size": str(f.size),
        "Accept-Ranges": "bytes",
        "Cache-Control": IMMUTABLE if by_commit else SHORT_LIVED,
    }


def error_headers(code: str | None, message: str, commit: str | None = None) -> dict[str, str]:
    """``X-Error-Code``/``X-Error-Message`` as the Hub sends them, so clients raise their own errors."""
    headers = {"X-Error-Message": message, "Cache-Control": "no-cache"}
    if code is not None:
        headers["X-Error-Code"] = code
    if commit is not None:
        headers["X-Repo-Commit"] = commit
    return headers
