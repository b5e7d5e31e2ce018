"""The boundary every command reads revisions through: a source of revisions and what it says.

A :class:`RevisionSource` is anything that holds repo revisions: a cache (or one repo folder,
or a plain model folder: :class:`hfcache.sources.CacheView`), a bundle read in place
(:class:`hfcache.bundle.view.BundleView`), an OCI layout read in place
(:class:`hfcache.oci.view.LayoutView`). Each answers the
same four questions: which repos it holds, their refs, which commit a revision names (one rule,
:func:`resolve_revision`), and that commit's files as :class:`ViewFile` records, each with every
extent of its bytes and how far those bytes are trusted. ``pack``, ``serve``, ``inspect`` and
``fit`` read revisions only through it, and a cache's revisions come judged by the doctor.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from hfcache.errors import BadInputError
from hfcache.findings import Finding, Severity
from hfcache.repoid import RepoName, is_commit

MIN_SHORT_COMMIT = 7
"""The shortest commit prefix accepted for a revision (as ``git`` shows them)."""


class Trust(str, Enum):
    """How far a file's bytes are known to be right."""

    HASHED = "hashed"  # hashed to its blob id (by --verify, the mirror, or a repair), unchanged since
    SIZE_CHECKED = "size-checked"  # the size a listing or manifest gives; content not hashed
    UNKNOWN = "unknown"  # nothing vouches for it beyond its name
    DAMAGED = "damaged"  # a finding says its bytes are wrong or absent


@dataclass(frozen=True, slots=True)
class Extent:
    """``length`` bytes at ``offset`` in the regular file ``path`` (a blob, or a member in a tar)."""

    path: str
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class ViewFile:
    """One file of a revision. ``extents`` is empty when its bytes are not here (or not usable).

    ``location`` is where people find the file (a snapshot entry, a bundle member); ``problems``
    the codes of the findings about it that are not mere notes. Slotted, as is :class:`Extent`:
    ``pack`` holds one for every file it packs.
    """

    name: str
    blob_id: str | None
    size: int | None
    lfs: bool
    extents: tuple[Extent, ...]
    trust: Trust
    location: str = ""
    problems: tuple[str, ...] = ()

    @property
    def available(self) -> bool:
        return bool(self.extents)

    @property
    def path(self) -> str | None:
        """The one regular file holding exactly these bytes from its start, if there is one."""
        if len(self.extents) == 1 and self.extents[0].offset == 0:
            return self.extents[0].path
        return None

    def chunks(self, size: int = 1 << 20) -> Iterator[tuple[str, int, int]]:
        """(path, offset, length) pieces of at most ``size`` bytes, in order, over every extent."""
        for e in self.extents:
            done = 0
            while done < e.length:
                n = min(size, e.length - done)
                yield e.path, e.offset + done, n
                done += n

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "blob_id": self.blob_id,
            "size": self.size,
            "lfs": self.lfs,
            "available": self.available,
            "trust": self.trust.value,
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class RevisionView:
    """A resolved revision: commit, the refs naming it, its files by Hub path, and its judgement.

    ``findings`` are what the doctor found about this revision (every one, notes included);
    a bundle's revision carries none: its bytes are hashed by whoever reads them.
    """

    repo_id: str
    repo_type: str
    commit: str
    refs: tuple[str, ...]
    files: dict[str, ViewFile] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    source: str = ""
    """The source holding it, as people name it (a cache folder, a bundle file)."""

    @property
    def name(self) -> RepoName:
        return RepoName(self.repo_type, self.repo_id)

    @property
    def errors(self) -> tuple[Finding, ...]:
        """The findings that make the revision unusable as it stands (severity ``error``)."""
        return tuple(f for f in self.findings if f.severity is Severity.ERROR and f.folded_into is None)

    def to_json(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "repo_type": self.repo_type,
            "commit": self.commit,
            "refs": list(self.refs),
            "files": [f.to_json() for f in self.files.values()],
            "findings": [f.to_json() for f in self.findings],
        }


class RevisionSource(Protocol):
    """Anything that holds repo revisions: a cache, a bundle file, an OCI layout."""

    label: str
    """How people name the source (a folder, a file)."""

    def repos(self) -> list[RepoName]:
        """Every repo held, in a stable order."""
        ...

    def refs(self, repo: RepoName) -> dict[str, str]:
        """Ref name → commit, for every ref of every revision held (a ref whose commit is not
        held is left out). ``BadInputError`` if the repo is not held."""
        ...

    def resolve(self, repo: RepoName, revision: str) -> str:
        """The commit ``revision`` names (:func:`resolve_revision`); ``BadInputError`` if none."""
        ...

    def revision(self, repo: RepoName, revision: str) -> RevisionView:
        """Resolve ``revision`` and describe that commit's files. ``BadInputError`` if unknown."""
        ...


class RevisionNotFoundError(BadInputError):
    """A revision no ref and no held commit answers to (or an ambiguous short commit)."""


class RepoNotFoundError(BadInputError):
    """A repo the source does not hold."""


def resolve_revision(
    repo: RepoName, refs: Mapping[str, str], commits: Collection[str], revision: str, where: str
) -> str:
    """The one rule naming a commit: a ref (branch, tag, ``refs/pr/N``) held here, else a held
    commit in full, else a unique prefix of at least :data:`MIN_SHORT_COMMIT` hex characters.

    ``refs`` maps names to commits; ``commits`` are those held. Raises
    :class:`RevisionNotFoundError` naming the refs and commits there are.
    """
    commit = refs.get(revision)
    if commit is not None and commit in commits:
        return commit
    if revision in commits:
        return revision
    wanted = revision.lower()
    if len(wanted) >= MIN_SHORT_COMMIT and all(c in "0123456789abcdef" for c in wanted):
        matches = sorted(c for c in commits if c.startswith(wanted))
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            shown = ", ".join(m[:12] for m in matches)
            raise RevisionNotFoundError(f"revision {revision!r} of {repo} is ambiguous in {where}: {shown}")
    known = ", ".join(sorted(refs)) or "none"
    held = ", ".join(sorted(c[:12] if is_commit(c) else c for c in commits)) or "none"
    raise RevisionNotFoundError(
        f"revision {revision!r} of {repo} is not in {where} (refs: {known}; commits: {held})"
    )


def repo_not_found(repo: RepoName, held: Collection[RepoName], where: str) -> RepoNotFoundError:
    """The error for a repo the source lacks, with a "did you mean" from the repos it holds."""
    by_text = {str(h): h for h in held}
    close = [h for h in held if str(h).lower() == str(repo).lower()]
    if not close:
        close = [by_text[t] for t in difflib.get_close_matches(str(repo), list(by_text), n=3, cutoff=0.75)]
    hint = f"; did you mean {' or '.join(str(c) for c in close)}?" if close else ""
    return RepoNotFoundError(f"{repo} is not in {where}{hint}")


def find_repo(repo: RepoName, held: Collection[RepoName], where: str) -> RepoName:
    """``repo`` itself if held; else :func:`repo_not_found`'s error."""
    if repo in held:
        return repo
    raise repo_not_found(repo, held, where)
