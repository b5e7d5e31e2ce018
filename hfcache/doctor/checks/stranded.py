"""``revision-stranded``: a revision whose snapshot lost entries while their blobs stayed.

One finding per revision says which ref and commit, how many files ``--fix`` can relink (each is
also a missing entry with its own link action, folded into this finding) and how many blobs no
one can name without a tree listing: those are kept, never called orphans, and the download that
restores the revision is given. See :mod:`hfcache.doctor.stranded`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace

from hfcache import layout
from hfcache.doctor.context import Context
from hfcache.doctor.hints import download_command, short
from hfcache.findings import Finding, Severity, finding


def stranded_findings(ctx: Context) -> Iterator[Finding]:
    for s in ctx.strands:
        repo, rev = s.repo, s.revision
        refs = repo.refs_to(rev.commit)
        which = f"snapshot {rev.commit[:8]}" + (f" ({', '.join(refs)})" if refs else "")
        lost = "holds no file" if s.empty else f"lacks {len(s.identified)} file(s) whose blobs are here"
        names = list(s.identified)
        shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
        found = f"; hfcache identified {len(names)} of its files by their content ({shown})" if names else ""
        unknown = (
            f"; {len(s.unknown)} blob(s) here no snapshot uses cannot be named without a tree listing "
            f"({', '.join(short(e) for e in s.unknown[:3])}{'…' if len(s.unknown) > 3 else ''}): they are "
            "kept"
            if s.unknown
            else ""
        )
        message = (
            f"{which} of {repo.repo_id} {lost}: its links were lost in a copy that skips links (rsync -r "
            f"without -l, some sync tools){found}{unknown}"
        )
        if not s.certain:
            message = (
                f"{which} of {repo.repo_id} may lack files: {len(s.unknown)} blob(s) here no snapshot uses "
                f"cannot be named without a tree listing ({', '.join(short(e) for e in s.unknown[:3])}"
                f"{'…' if len(s.unknown) > 3 else ''}); they may be its files, left without their links by a "
                "copy that skips links. They are kept"
            )
        relink = f"--fix relinks the {len(names)} identified file(s). " if names else ""
        fetch = download_command(repo.repo_id, repo.repo_type, rev.commit, [])
        if not s.certain:
            rest = f"If they are, on a machine with access run `{fetch}` and copy the cache again."
        elif s.unknown or not names:
            rest = (
                f"To restore the rest, on a machine with access run `{fetch}` and copy the cache again "
                "(or copy it again with links: rsync -a, cp -a, tar)."
            )
        else:
            rest = "Copy caches with their links next time (rsync -a, cp -a, tar)."
        entries = tuple(os.path.join(rev.path, *n.split("/")) for n in names)
        blobs = tuple(os.path.join(repo.path, layout.BLOBS, e) for e in s.unknown)
        at = repo.place.at(rev.commit)
        severity = None if s.certain else Severity.WARNING
        f = finding("revision-stranded", rev.path, message, advice=relink + rest, at=at, severity=severity)
        yield replace(f, about=entries + blobs)
