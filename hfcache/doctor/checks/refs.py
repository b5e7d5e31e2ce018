"""Findings about ``refs/``: each ref must be exactly 40 hex characters naming a snapshot, or
exactly the name of a snapshot folder that is there (huggingface_hub opens ``snapshots/<text>``).

huggingface_hub reads a ref with ``f.read()`` and no strip, so a trailing newline or a BOM
(what Windows editors and some copy tools add) makes the ref name no commit at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace

from hfcache import layout
from hfcache.doctor.context import Context
from hfcache.findings import Finding, finding
from hfcache.model import Repo


def ref_findings(ctx: Context) -> Iterator[Finding]:
    """Every ref of every repo: exactly a commit hash, naming a snapshot that is here."""
    for repo in ctx.cache.repos:
        yield from _repo_refs(ctx, repo)


def _repo_refs(ctx: Context, repo: Repo) -> Iterator[Finding]:
    rebuilding: set[str] = set()
    for name, raw in sorted(repo.refs.items()):
        path = os.path.join(repo.path, layout.REFS, *name.split("/"))
        exact = raw.decode("ascii", errors="replace")
        commit = repo.ref_target(raw)
        if commit == exact and layout.COMMIT_RE.fullmatch(exact) is None:
            yield finding(
                "ref-not-commit",
                path,
                f"ref {name} of {repo.folder} names the snapshot folder {exact!r}, which is not a commit "
                "hash; huggingface_hub loads it as it is, but nothing can check it against the Hub",
                at=repo.place.at(commit),
            )
            continue
        if layout.COMMIT_RE.fullmatch(exact) is None:
            shown = raw[:60].decode("utf-8", errors="replace")
            if commit is not None:
                yield finding(
                    "ref-malformed",
                    path,
                    f"ref {name} of {repo.folder} holds {shown!r}, not exactly 40 hex characters, so "
                    f"huggingface_hub cannot resolve '{name}' offline",
                    fix=ctx.ref(repo.folder, path, commit),
                    at=repo.place.at(commit),
                )
            else:
                yield finding(
                    "ref-malformed",
                    path,
                    f"ref {name} of {repo.folder} holds {shown!r}, which is not a commit hash",
                    advice="Load by commit hash instead, or delete the ref and download the revision again.",
                    at=repo.place,
                )
                continue
        # Without snapshots/ at all, repo-no-snapshots names each ref's commit and what restores it.
        if commit is not None and commit not in repo.revisions and not repo.snapshots_lost:
            yield _dangling(ctx, repo, name, path, commit, rebuilding)
            rebuilding.add(commit)


def _dangling(ctx: Context, repo: Repo, name: str, path: str, commit: str, told: set[str]) -> Finding:
    """``ref-dangling``; where the commit's listing and every blob are here, ``--fix`` rebuilds the
    snapshot and the missing entries fold into the first ref naming it (:mod:`hfcache.doctor.lost`)."""
    lost = next((x for x in ctx.lost if x.repo is repo and not x.whole), None)
    revision = lost.rebuilds(commit) if lost is not None else None
    gone = f"ref {name} of {repo.folder} names commit {commit}, which has no snapshot here; loading "
    gone += f"'{name}' offline fails and huggingface_hub's cache scan drops the repo"
    if revision is None:
        return finding(
            "ref-dangling",
            path,
            gone,
            advice="Download that revision, or delete the ref.",
            at=repo.place.at(commit),
        )
    files = len(revision.tree or ())
    f = finding(
        "ref-dangling",
        path,
        f"{gone}; its tree listing names each of its {files} file(s), and their blobs are here",
        advice="--fix rebuilds the snapshot from the listing: a link per file to its blob.",
        at=repo.place.at(commit),
    )
    if commit in told:
        return f
    entries = tuple(d.path for d in ctx.by_repo.get(repo.folder, ()) if d.revision is revision)
    return replace(f, about=entries)
