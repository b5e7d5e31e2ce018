"""The one grammar of repo ids, revisions and repo-type prefixes; every entry point parses here.

Repo ids follow huggingface_hub's own ``validate_repo_id`` (which mirrors the Hub's): an
optional ``namespace/`` and a name, each 1-96 ASCII letters, digits, ``-``, ``_`` or ``.``,
starting and ending with a letter, digit or ``_``; no ``--`` or ``..`` anywhere (they would
break the ``models--org--name`` folder) and no ``.git`` ending. ``org/_private`` is a repo id;
``org/name-`` is not.

Revisions are commit hashes or ref names as git's ``check-ref-format`` allows them (a branch,
a tag, ``refs/pr/N``): no empty, ``.``-led or ``.lock``-ended component, no ``..``, ``@{``,
control characters, spaces or ``~^:?*[\\``. So a revision is always a safe relative path, and a
mirror can match it against ``refs/`` without ever leaving that folder.

People name repos as ``hf`` and Hub URLs do: ``org/name``, ``datasets/org/name``,
``spaces/org/name``, each optionally ``@revision``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hfcache.errors import BadInputError

REPO_TYPES = ("model", "dataset", "space")
TYPE_PREFIXES = {"models": "model", "datasets": "dataset", "spaces": "space"}
"""The plural a Hub URL (``/api/datasets/...``) or a typed id (``datasets/org/name``) uses."""
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
"""What comes before the repo id in a resolve URL of each type."""

_PART = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?")
_COMMIT = re.compile(r"[0-9a-f]{40}")
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
MAX_REVISION = 255

# The OCI distribution spec's grammar for repository names and tags (v1.1), which hfcache maps
# repo ids and refs onto (hfcache.oci.names): kept here, beside the Hub's own grammar.
OCI_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*")
OCI_NAME = re.compile(rf"{OCI_COMPONENT.pattern}(?:/{OCI_COMPONENT.pattern})*")
OCI_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True, order=True)
class RepoName:
    """A repo as a source holds it: its type and id (``org/name``, original case)."""

    repo_type: str
    repo_id: str

    def __str__(self) -> str:
        return f"{URL_PREFIX[self.repo_type]}{self.repo_id}"


@dataclass(frozen=True)
class RepoRef:
    """One repo the user named: its type, id, and the revision given with ``@`` (else ``None``)."""

    repo_type: str
    repo_id: str
    revision: str | None = None

    @property
    def name(self) -> RepoName:
        return RepoName(self.repo_type, self.repo_id)

    def __str__(self) -> str:
        rev = f"@{self.revision}" if self.revision else ""
        return f"{self.name}{rev}"


def repo_id_problem(repo_id: str) -> str | None:
    """Why ``repo_id`` is not a repo id the Hub accepts, or ``None`` when it is one."""
    parts = repo_id.split("/")
    if not repo_id or len(parts) > 2:
        return "at most one '/' between owner and name"
    for part in parts:
        if not _PART.fullmatch(part):
            return (
                f"{part!r} must be 1-96 letters, digits, '-', '_' or '.', starting and ending with a "
                "letter, digit or '_'"
            )
    if "--" in repo_id or ".." in repo_id:
        return "it must not contain '--' or '..'"
    if repo_id.endswith(".git"):
        return "it must not end with .git"
    return None


def is_repo_id(repo_id: str) -> bool:
    return repo_id_problem(repo_id) is None


def check_repo_id(repo_id: str, text: str | None = None) -> str:
    """``repo_id`` if it is a valid Hub repo id, else :class:`BadInputError` saying why."""
    why = repo_id_problem(repo_id)
    if why is not None:
        shown = text if text is not None else repo_id
        raise BadInputError(f"{shown!r} is not a repo id: {why} (expected org/name, e.g. hfl/rbt3)")
    return repo_id


def is_commit(revision: str) -> bool:
    """A full commit hash (40 lowercase hex)."""
    return _COMMIT.fullmatch(revision) is not None


def revision_problem(revision: str) -> str | None:
    """Why ``revision`` cannot be a branch, tag, ``refs/pr/N`` or commit, or ``None``."""
    if not revision:
        return "it is empty"
    if len(revision) > MAX_REVISION:
        return f"it is longer than {MAX_REVISION} characters"
    if _REF_FORBIDDEN.search(revision):
        return "it holds a space, a control character or one of ~^:?*[\\"
    if ".." in revision or "@{" in revision or revision == "@":
        return "it holds '..' or '@{'"
    if revision.endswith(".") or revision.startswith("-"):
        return "it starts with '-' or ends with '.'"
    for part in revision.split("/"):
        if not part:
            return "it has an empty part ('/' at an end, or '//')"
        if part.startswith(".") or part.endswith(".lock"):
            return "a part starts with '.' or ends with '.lock'"
    return None


MAX_PATH_IN_REPO = 4096


def path_in_repo_problem(path: str) -> str | None:
    """Why ``path`` cannot be a file's path in a repo (``dir/file.txt``, POSIX, relative, staying
    inside), or ``None``: the rule for every path an untrusted source names."""
    if not path or len(path) > MAX_PATH_IN_REPO:
        return "it is empty or too long"
    if "\\" in path or any(ord(c) < 0x20 or c == "\x7f" for c in path):
        return "it holds a backslash or a control character"
    if path.startswith("/"):
        return "it is absolute"
    if any(p in ("", ".", "..") for p in path.split("/")):
        return "it has a '..', '.' or empty part"
    if path.split("/")[0] in (".git", ".hfcache"):
        return "it is inside .git/ or .hfcache/"
    return None


def check_revision(revision: str) -> str:
    """A branch, tag, ``refs/pr/N`` or commit as typed; :class:`BadInputError` when it cannot be one."""
    why = revision_problem(revision)
    if why is not None:
        raise BadInputError(f"{revision!r} is not a revision (a branch, tag or commit hash): {why}")
    return revision


def parse_repo_ref(text: str, repo_type: str = "model") -> RepoRef:
    """``[datasets/|spaces/|models/]org/name[@revision]`` → :class:`RepoRef`.

    A type prefix wins over ``repo_type`` (the ``--repo-type`` default); a prefix that disagrees
    with an explicit non-model ``repo_type`` is refused rather than guessed.
    """
    if repo_type not in REPO_TYPES:
        raise BadInputError(f"--repo-type must be one of {', '.join(REPO_TYPES)}, not {repo_type!r}")
    body, _, revision = text.partition("@")
    first, _, rest = body.partition("/")
    kind = repo_type
    if first in TYPE_PREFIXES and rest:
        kind = TYPE_PREFIXES[first]
        if repo_type != "model" and kind != repo_type:
            raise BadInputError(f"{text!r} names a {kind}, but --repo-type says {repo_type}")
        body = rest
    if "@" in text and not revision:
        raise BadInputError(f"{text!r}: nothing after '@' (expected org/name@revision)")
    return RepoRef(kind, check_repo_id(body, text), check_revision(revision) if revision else None)


def looks_like_repo_id(text: str) -> bool:
    """Could ``text`` (not a path that exists) be meant as a repo id, typed prefix and ``@`` included?"""
    body = text.partition("@")[0]
    first, _, rest = body.partition("/")
    if first in TYPE_PREFIXES and rest:
        body = rest
    return is_repo_id(body)
