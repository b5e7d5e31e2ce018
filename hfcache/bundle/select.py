"""Choose what ``pack`` ships: revisions read through the cache view, judged by the doctor.

For each requested repo: resolve the revision (the view's one rule), pick its files through
``--include``/``--exclude`` with huggingface_hub's own pattern filter, and collect every reason
the result would not be a complete, correct model: a selected file whose bytes are not here,
the doctor's findings that refuse a pack (:attr:`hfcache.findings.Code.refuses_pack`), and a
shard the selection leaves out while its index stays in.
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass

from hfcache import _hf, layout
from hfcache.bundle.picked import PickedFile
from hfcache.errors import BadInputError, PackRefusedError
from hfcache.findings import Finding, Severity, finding
from hfcache.formats.safetensors import HeaderError, read_index
from hfcache.fs.digests import DigestStore
from hfcache.layout import PathKind
from hfcache.model import Repo, RepoFolder
from hfcache.repoid import RepoRef
from hfcache.sources import CacheView, RepoViews
from hfcache.view import RevisionView, ViewFile

INDEX_SUFFIXES = (".safetensors.index.json", ".bin.index.json")


@dataclass(frozen=True, slots=True)
class RepoPick:
    """One repo revision to pack, with what is wrong with it (empty when it may leave)."""

    repo: RepoFolder
    """The repo's folder and names (not its scan, let go once the revision is picked)."""
    requested: str
    commit: str
    refs: dict[str, str]
    files: tuple[PickedFile, ...]
    problems: tuple[Finding, ...]
    tree_path: str | None
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    source_problems: tuple[Finding, ...] = ()
    """What the doctor finds wrong with the cache's copy that the bundle does not carry: broken
    links over intact blobs (the bundle holds each file's verified bytes, whatever links to them)."""


def _patterns(include: list[str] | None, exclude: list[str] | None) -> str:
    shown = [
        *(f"--include {shlex.quote(p)}" for p in include or ()),
        *(f"--exclude {shlex.quote(p)}" for p in exclude or ()),
    ]
    return " ".join(shown) or "the selection"


def _about(f: Finding, names: set[str], commit: str, rv: RevisionView) -> bool:
    """Does a finding of the revision concern one of the ``names`` selected, or all of it (a
    revision-level finding, or one about every revision of the repo)?"""
    if f.info.whole_repo:
        return True
    if f.place.commit == commit and (f.place.path_in_repo is None or f.place.path_in_repo in names):
        return True  # the revision as a whole (stranded), or a file selected
    locations = {rv.files[n].location for n in names if n in rv.files}
    return any(entry in locations for entry in f.about)


def _missing(rv: RevisionView, vf: ViewFile, at: Repo) -> Finding:
    """Why a selected file cannot be packed: the doctor's own finding about it, else a plain one."""
    def names(f: Finding) -> bool:
        return (f.place.commit, f.place.path_in_repo) == (rv.commit, vf.name) or vf.location in f.about

    primary = [f for f in rv.findings if f.folded_into is None]
    known = [f for f in primary if names(f)] or [f for f in primary if _about(f, {vf.name}, rv.commit, rv)]
    if known:
        return min(known, key=lambda f: f.severity.rank)
    return finding(
        "entry-missing",
        vf.location,
        f"{vf.name} of {rv.repo_id} at {rv.commit[:8]} is not in the cache",
        at=at.place.at(rv.commit, vf.name),
    )


def _left_out(
    rv: RevisionView, chosen: set[str], include: list[str], exclude: list[str], at: Repo
) -> list[Finding]:
    """Shards an index among the chosen files names, present in the revision but left out on
    purpose by the user's patterns: the packed checkpoint would not load. Say so, and the ways out."""
    found = []
    for name in sorted(chosen):
        vf = rv.files[name]
        if not name.endswith(INDEX_SUFFIXES) or vf.path is None:
            continue
        index = read_index(vf.path)
        if isinstance(index, HeaderError):
            continue  # the doctor's index-unreadable says so
        folder = posixpath.dirname(name)
        shards = {posixpath.normpath(posixpath.join(folder, s)) for s in index.weight_map.values()}
        for shard in sorted(shards):
            if shard in rv.files and shard not in chosen:
                found.append(
                    finding(
                        "shard-missing",
                        rv.files[shard].location,
                        f"{shard} is named by {name} but {_patterns(include, exclude)} leaves it out, so the "
                        "packed checkpoint would not load",
                        advice="Also exclude the index (--exclude '*.index.json'), include the shard, or "
                        "pass --allow-incomplete to pack it anyway.",
                        at=at.place.at(rv.commit, shard),
                    )
                )
    return found


def pick(view: CacheView, ref: RepoRef, revision: str, include: list[str], exclude: list[str]) -> RepoPick:
    """Everything needed to pack one revision of a repo, judged by the doctor through the view."""
    repo = view.repo(ref.name)
    rv = view.revision(ref.name, revision)
    if layout.COMMIT_RE.fullmatch(rv.commit) is None:  # ref-not-commit: loads here, but cannot travel
        named = [f for f in rv.findings if f.info.refuses_pack and f.place.commit == rv.commit]
        raise PackRefusedError(
            f"{ref} at {rv.commit!r} cannot be packed: its snapshot folder is not named by a commit hash, "
            "and a bundle carries each revision by its commit so that the receiving side can check it",
            named,
        )
    chosen = set(_hf.filter_repo_objects(list(rv.files), include or None, exclude or None))
    files = [rv.files[n] for n in sorted(chosen)]
    problems = [_missing(rv, vf, repo) for vf in files if not vf.available]
    explained = {id(f) for f in problems}
    problems += [
        f
        for f in rv.findings
        if f.info.refuses_pack
        and f.severity is not Severity.INFO
        and id(f) not in explained
        and _about(f, chosen, rv.commit, rv)
    ]
    problems += _left_out(rv, chosen, include, exclude, repo)
    unread = [f for f in problems if f.info.blinds]
    if unread:  # what could not be read is a permission problem, not a missing file to download
        problems = unread
    if not chosen and (include or exclude):
        raise BadInputError(f"no file of {ref} matches {_patterns(include, exclude)}: nothing to pack")
    if not chosen:
        errors = list(rv.errors)
        if errors:
            raise PackRefusedError(f"{ref} at {rv.commit[:8]} cannot be packed: {errors[0].message}", errors)
        raise BadInputError(f"{ref} at {rv.commit[:8]} holds no file: nothing to pack")
    tree = repo.revisions[rv.commit].tree_path
    kept = set(problems)
    source = [
        f
        for f in rv.findings
        if f.severity is not Severity.INFO
        and f.folded_into is None
        and f not in kept
        and _about(f, chosen, rv.commit, rv)
    ]
    return RepoPick(
        RepoFolder(repo.path, repo.folder, repo.repo_type, repo.repo_id),
        revision,
        rv.commit,
        {name: rv.commit for name in rv.refs},
        tuple(PickedFile(vf, repo.path) for vf in files if vf.available),
        tuple(dict.fromkeys(problems)),
        tree,
        tuple(include),
        tuple(exclude),
        tuple(source),
    )


def select(
    cache_dir: str | None,
    repos: list[RepoRef],
    *,
    revision: str = "main",
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    digests: DigestStore | None = None,
) -> list[RepoPick]:
    """Pick each requested repo of the cache (at its ``@revision``, else ``revision``).

    The cache's root is listed once; each requested repo is then scanned and judged on its own,
    and its scan let go once picked, so that packing thousands of repos holds only the picks.
    :class:`BadInputError` for unknown repos and revisions, and for a selection with no file.
    ``digests``: the record of earlier hashes; files it vouches for come with ``Trust.HASHED``.
    """
    loc = layout.locate(cache_dir)
    if loc.kind is PathKind.LOCAL_DIR:
        raise BadInputError(f"{loc.path} is a plain model folder, not a cache: nothing to pack from it")
    cache = RepoViews(loc.cache_root, digests=digests)
    return [
        pick(cache.view(ref.name), ref, ref.revision or revision, include or [], exclude or [])
        for ref in dict.fromkeys(repos)
    ]
