"""``entry-parked``: a snapshot file whose link ``--fix --verify`` moved into the quarantine.

When a blob fails its hash, ``--fix --verify`` parks it and moves the links to it beside it
(``<repo>/.hfcache/quarantine/<time>/snapshots/<commit>/<path>``): a link to nothing would make
huggingface_hub's scan drop the whole repo. The parked link still names the file, so the
revision is never called complete while it lacks it. Where the revision's tree listing names the
file, ``entry-missing`` (which cannot tell why it is gone) is folded into this finding.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator

from hfcache import layout
from hfcache.doctor.context import Context
from hfcache.doctor.hints import fetch_again
from hfcache.findings import Finding, finding
from hfcache.fs import fsops
from hfcache.model import Repo


def parked_findings(ctx: Context) -> Iterator[Finding]:
    for repo in ctx.cache.repos:
        if not repo.plain:
            yield from _repo_parked(repo)


def _real_dir(path: str) -> bool:
    st = fsops.lstat_or_none(path)
    return st is not None and stat.S_ISDIR(st.st_mode)


def parked_links(repo: Repo) -> dict[tuple[str, str], str]:
    """(commit, path in repo) → the stamp of the latest ``--fix`` that parked that file's link."""
    root = layout.quarantine_root(repo.path)
    found: dict[tuple[str, str], str] = {}
    if not (_real_dir(os.path.dirname(root)) and _real_dir(root)):
        return found  # never follow a link planted where the quarantine belongs
    for stamp in sorted(os.listdir(root)):
        top = os.path.join(root, stamp, layout.SNAPSHOTS)
        if not (_real_dir(os.path.join(root, stamp)) and _real_dir(top)):
            continue
        for dirpath, _, names in os.walk(top):  # os.walk does not follow links into folders
            for name in names:
                path = os.path.join(dirpath, name)
                if os.path.islink(path):
                    commit, _, inner = os.path.relpath(path, top).replace(os.sep, "/").partition("/")
                    found[(commit, inner)] = stamp
    return found


def _repo_parked(repo: Repo) -> Iterator[Finding]:
    for (commit, inner), stamp in sorted(parked_links(repo).items()):
        revision = repo.revisions.get(commit)
        if revision is None or inner in revision.entries:
            continue  # the revision is gone, or the file is back (downloaded again)
        yield finding(
            "entry-parked",
            os.path.join(revision.path, *inner.split("/")),
            f"{inner} of snapshot {commit[:8]} is not here: its blob failed its hash and `--fix --verify` "
            f"parked it in the quarantine ({stamp})",
            advice=f"To get it back, {fetch_again(repo, revision, [inner])}.",
            at=repo.place.at(commit, inner),
        )
