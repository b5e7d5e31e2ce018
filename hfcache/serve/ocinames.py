"""The mirror's OCI repository names: every repo it serves, by name, and back.

Each repo is served under :func:`hfcache.oci.names.oci_name` (``Qwen/Qwen2.5-7B`` →
``qwen/qwen2.5-7b``; an id the OCI grammar cannot hold gets the documented fallback with a hash
suffix), and is also reachable by its id in its original case (``/v2/Qwen/Qwen2.5-7B/...``, as
ollama and llama.cpp send it; datasets and spaces with their ``datasets/``/``spaces/`` prefix).

Two ids can map to one name (``Org/Model`` and ``org/model`` held side by side). The collision
is resolved the same way on every mirror, whatever order the sources list them in: the id that
*is* the name (already lowercase) keeps it, else the first id in code-point order
(``str(RepoName)``); each other id is served under the name with ``-x`` and 8 hex characters of
the sha256 of its typed id appended (the fallback's own suffix), and stays reachable by its
original-case id. :attr:`NameTable.collisions` lists them; the page and the docs say so.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from hfcache.oci.names import MAX_NAME, is_name, oci_name
from hfcache.repoid import TYPE_PREFIXES, RepoName, is_repo_id

MAX_NAME_TEXT = 512
"""Longest name part of a ``/v2/`` path looked at (a Hub id with its prefix is far shorter)."""


def suffixed(name: str, repo: RepoName) -> str:
    """``name`` with the fallback's suffix for ``repo`` (``-x`` + 8 hex of sha256 of its typed id)."""
    return f"{name}-x{hashlib.sha256(str(repo).encode('utf-8')).hexdigest()[:8]}"


def is_hub_name(text: str) -> bool:
    """Could ``text`` name a Hub repo (``org/name``, ``name``, or ``datasets/org/name``)?"""
    first, _, rest = text.partition("/")
    body = rest if first in TYPE_PREFIXES and first != "models" and rest else text
    return len(text) <= MAX_NAME_TEXT and is_repo_id(body)


def valid_request_name(text: str) -> bool:
    """A ``/v2/`` name worth looking up: the OCI grammar, or a Hub id in any case."""
    return (len(text) <= MAX_NAME and is_name(text)) or is_hub_name(text)


@dataclass(frozen=True)
class NameTable:
    """OCI name ↔ repo for a set of repos, collisions resolved (see the module docstring)."""

    by_name: dict[str, RepoName]
    by_id: dict[str, RepoName]
    names: dict[RepoName, str]
    collisions: tuple[tuple[str, tuple[RepoName, ...]], ...] = field(default=())

    @classmethod
    def build(cls, repos: list[RepoName]) -> NameTable:
        claims: dict[str, list[RepoName]] = {}
        for repo in sorted(set(repos), key=str):
            claims.setdefault(oci_name(repo), []).append(repo)
        names: dict[RepoName, str] = {}
        collisions = []
        for name, claimants in sorted(claims.items()):
            exact = [r for r in claimants if str(r) == name]
            winner = exact[0] if exact else claimants[0]
            names[winner] = name
            if len(claimants) > 1:
                collisions.append((name, tuple(claimants)))
                for other in claimants:
                    if other != winner:
                        names[other] = suffixed(name, other)
        by_name = {n: r for r, n in names.items()}
        if len(by_name) != len(names):  # a suffixed name equal to another repo's: astronomically rare
            raise ValueError("two repos map to one OCI name even after their suffixes")
        by_id = {str(r): r for r in names}
        return cls(by_name, by_id, names, tuple(collisions))

    def lookup(self, text: str) -> RepoName | None:
        """The repo ``text`` names: its OCI name first, else its typed id in its original case."""
        return self.by_name.get(text) or self.by_id.get(text)

    def name_of(self, repo: RepoName) -> str:
        return self.names[repo]

    def sorted_names(self) -> list[str]:
        return sorted(self.by_name)
