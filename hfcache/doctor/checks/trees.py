"""Tree listings (``trees/<commit>.json``) the client ignores, and repo folders without ``snapshots/``.

A listing is judged as huggingface_hub's ``read_tree_cache`` judges it (:func:`~hfcache.scan.walk.read_tree`),
whether its commit still has a snapshot folder or not, and hfcache trusts it no more than the client:

* ``tree-unknown-format`` (info): another ``format_version``, which the client ignores silently
  ("written by a newer version => ignore and re-fetch"); both fall back to the blobs and links,
  so a newer client's listings never make a cache fail its check.
* ``tree-unreadable`` (warning): corrupt, or with a masked Xet hash; the client ignores it too,
  and rewrites it on its next online download, so ``--fix`` parks it in the quarantine.

A valid listing of a commit with no snapshot folder is no finding: it is what ``hf cache rm``
leaves (huggingface_hub's ``delete_revisions`` removes snapshots, refs and blobs, never ``trees/``).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from dataclasses import replace

from hfcache import _hf, layout
from hfcache.doctor.content import content_node
from hfcache.doctor.context import Context
from hfcache.doctor.hints import download_command
from hfcache.doctor.lost import LostSnapshots
from hfcache.findings import Finding, Severity, finding
from hfcache.model import ListingState, Repo
from hfcache.units import human_size


def tree_findings(ctx: Context) -> Iterator[Finding]:
    """Every listing of every repo the client would not use."""
    for repo in ctx.cache.repos:
        for commit, listing in sorted(repo.listings.items()):
            at = repo.place.at(commit if layout.COMMIT_RE.fullmatch(commit) else None)
            has = commit in repo.revisions
            which = f"of snapshot {commit[:8]}" if has else "of a commit without snapshot"
            if listing.state is ListingState.NEWER:
                yield finding("tree-unknown-format", listing.path, _newer(which, listing.problem), at=at)
            elif listing.state is ListingState.UNREADABLE:
                yield finding(
                    "tree-unreadable",
                    listing.path,
                    f"cannot read the tree listing {which} ({listing.problem}): files of its revision are "
                    "checked by their blobs and links",
                    advice="Make it a regular file you can read (check its owner and permissions).",
                    at=at,
                )
            elif listing.state is not ListingState.OK:
                yield finding(
                    "tree-unreadable",
                    listing.path,
                    f"huggingface_hub ignores the tree listing {which} ({listing.problem}), and so does "
                    "hfcache: files of its revision are checked by their blobs and links",
                    fix=ctx.park_listing(repo.folder, listing.path),
                    at=at,
                )


def _newer(which: str, version: str) -> str:
    reads = "reads no listing"
    if _hf.HAS_TREE_CACHE:
        reads = f"does not read (it writes {_hf.TREE_CACHE_FORMAT_VERSION})"
    return (
        f"the tree listing {which} is in {version}, which huggingface_hub {_hf.VERSION} {reads}: another "
        "client, likely a newer one, wrote it. Both ignore it and go by the blobs and links, and a client "
        "that writes listings replaces it on its next online download"
    )


def _refs(repo: Repo, commit: str) -> str:
    refs = repo.refs_to(commit)
    return f"{commit[:8]} ({', '.join(refs)})" if refs else commit[:8]


def _cannot(lost: LostSnapshots) -> list[str]:
    """Why each revision the refs name cannot be rebuilt, in plain words."""
    repo, why = lost.repo, []
    for commit, names in sorted(lost.lacking.items()):
        if not names:
            why.append(f"the tree listing of {_refs(repo, commit)} lists no file")
            continue
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        why.append(f"the blobs of {len(names)} file(s) of {_refs(repo, commit)} are not here whole ({shown})")
    for commit in lost.unlisted:
        why.append(f"no tree listing of {_refs(repo, commit)} the client reads says which blob is which file")
    if not repo.ref_commits:
        why.append("no ref says which commit it held")
    return why


def no_snapshot_findings(ctx: Context) -> Iterator[Finding]:
    """``repo-no-snapshots``: rebuilt where it can be, the blobs kept where it cannot, and a
    folder holding only the client's record of absent files (``.no_exist/``) left in peace."""
    for lost in ctx.lost:
        if not lost.whole:
            continue  # one commit folder gone: its ref-dangling says so (checks/refs.py)
        repo = lost.repo
        scan = "huggingface_hub's cache scan reports the repo as corrupted"
        if not repo.blobs and not repo.incomplete and layout.NO_EXIST in repo.holds:
            yield finding(
                "repo-no-snapshots",
                repo.path,
                f"{repo.folder} holds only huggingface_hub's record of files the Hub does not have "
                "(.no_exist/, written when a download asks for a file the repo lacks) and the refs it "
                f"resolved: nothing of the repo was downloaded, so nothing is missing ({scan}, though the "
                "client wrote it so itself)",
                at=repo.place,
                severity=Severity.INFO,
            )
            continue
        if not repo.blobs:
            yield finding(
                "repo-no-snapshots",
                repo.path,
                f"{repo.folder} has no snapshots/ folder and no blobs: nothing of it can be loaded; {scan}",
                advice="Download it again or delete the folder.",
                at=repo.place,
            )
            continue
        size = sum(n.size for e in repo.blobs if (n := content_node(ctx.cache, repo, e)) is not None)
        held = f"its {len(repo.blobs)} blob(s) ({human_size(size)})"
        why = _cannot(lost)
        if lost.rebuilt:
            revs = ", ".join(_refs(repo, r.commit) for r in lost.rebuilt)
            files = sum(len(r.tree or ()) for r in lost.rebuilt)
            message = (
                f"{repo.folder} has no snapshots/ folder, so no revision of it loads ({scan}); the tree "
                f"listing of {revs} names each of its {files} file(s), and {held} hold every one"
            )
            advice = f"--fix rebuilds the snapshot of {revs} from the listing: a link per file to its blob."
            if why:
                advice += f" Not rebuilt: {'; '.join(why)}."
        else:
            message = (
                f"{repo.folder} has no snapshots/ folder, so no revision of it loads ({scan}); {held} cannot "
                f"be put back in place: {'; '.join(why)}"
            )
            advice = (
                "Keep the folder: its blobs may be the only copy. "
                f"`{_download(repo, lost)}` rebuilds the snapshot, reusing the blobs here."
            )
        rebuilt = {id(r) for r in lost.rebuilt}
        entries = tuple(d.path for d in ctx.by_repo.get(repo.folder, ()) if id(d.revision) in rebuilt)
        at = repo.place.at(lost.rebuilt[0].commit) if len(lost.rebuilt) == 1 else repo.place
        f = finding("repo-no-snapshots", repo.path, message, advice=advice, at=at, severity=Severity.ERROR)
        yield replace(f, about=entries)


def _download(repo: Repo, lost: LostSnapshots) -> str:
    """The download that restores the snapshot a ref names (the branch itself when no ref is left)."""
    commits = sorted(set(lost.lacking) | set(lost.unlisted))
    if not commits:
        kind = "" if repo.repo_type == "model" else f" --repo-type {repo.repo_type}"
        return f"hf download {shlex.quote(repo.repo_id)}{kind}"
    return download_command(repo.repo_id, repo.repo_type, commits[0], [])
