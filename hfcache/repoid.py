"""Repo ids as people type them, checked by hfcache's own grammar before anything else runs.

``org/name``, ``name``, ``datasets/org/name`` and ``spaces/org/name`` (how ``hf`` and Hub URLs
name them), each optionally ``@revision``. The grammar is the Hub's: names of letters, digits,
``-``, ``_`` and ``.``, at most 96 characters, not starting or ending with ``-`` or ``.``, no
``--`` or ``..`` (they would break the ``models--org--name`` folder), no ``.git`` ending.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hfcache.errors import BadInputError

REPO_TYPES = ("model", "dataset", "space")
_PREFIXES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_PART = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?")
_REVISION = re.compile(r"[A-Za-z0-9._/-]{1,255}")


@dataclass(frozen=True)
class RepoRef:
    """One repo the user named: its type, id, and the revision given with ``@`` (else ``None``)."""

    repo_type: str
    repo_id: str
    revision: str | None = None

    def __str__(self) -> str:
        kind = "" if self.repo_type == "model" else f"{self.repo_type}s/"
        rev = f"@{self.revision}" if self.revision else ""
        return f"{kind}{self.repo_id}{rev}"


def _bad(text: str, why: str) -> BadInputError:
    return BadInputError(f"{text!r} is not a repo id: {why} (expected org/name, e.g. hfl/rbt3)")


def check_repo_id(repo_id: str, text: str | None = None) -> str:
    """``repo_id`` if it is a valid Hub repo id, else :class:`BadInputError` saying why."""
    shown = text if text is not None else repo_id
    parts = repo_id.split("/")
    if not repo_id or len(parts) > 2:
        raise _bad(shown, "at most one '/' between owner and name")
    for part in parts:
        if not _PART.fullmatch(part):
            raise _bad(shown, f"{part!r} must be 1-96 letters, digits, '-', '_' or '.'")
        if "--" in part or ".." in part:
            raise _bad(shown, f"{part!r} must not contain '--' or '..'")
    if repo_id.endswith(".git"):
        raise _bad(shown, "it must not end with .git")
    return repo_id


def check_revision(revision: str) -> str:
    """A branch, tag, ``refs/pr/N`` or commit as typed; :class:`BadInputError` when it cannot be one."""
    if not _REVISION.fullmatch(revision) or ".." in revision or revision.startswith(("/", "-")):
        raise BadInputError(f"{revision!r} is not a revision (a branch, tag or commit hash)")
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
    if first in _PREFIXES and rest:
        kind = _PREFIXES[first]
        if repo_type != "model" and kind != repo_type:
            raise BadInputError(f"{text!r} names a {kind}, but --repo-type says {repo_type}")
        body = rest
    if "@" in text and not revision:
        raise BadInputError(f"{text!r}: nothing after '@' (expected org/name@revision)")
    return RepoRef(kind, check_repo_id(body, text), check_revision(revision) if revision else None)
