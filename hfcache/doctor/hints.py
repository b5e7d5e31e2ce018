"""The words findings use for things people will paste or compare: commands, hashes, link text.

Every command printed here works as printed on the machine it is meant for: the repo type is
passed for datasets and spaces, the revision is the full commit (a short one is not resolvable
offline), and a plain model folder, which records no repo id, gets no invented one.
"""

from __future__ import annotations

import re
import shlex
from collections import defaultdict
from collections.abc import Iterable

from hfcache.actions import Step
from hfcache.findings import Finding
from hfcache.model import Repo, Revision
from hfcache.scan.entries import EntryDiag

SHORT_HASH = 12
"""Characters of a blob id shown to people (enough to tell blobs of one repo apart)."""


_BLOB_ID = re.compile(r"(?<![0-9a-f])(?:[0-9a-f]{64}|[0-9a-f]{40})(?![0-9a-f])")


def sentence(text: str) -> str:
    """``text`` as a sentence of advice: first letter up, a full stop at the end."""
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else f"{text}."


def short(etag: str) -> str:
    """A blob id cut for people: ``2a1171db9fdc…``. JSON keeps the full id in the path."""
    return etag if len(etag) <= SHORT_HASH else f"{etag[:SHORT_HASH]}…"


def link_text(target: str | None) -> str:
    """A link's target as ``readlink`` prints it, its blob id cut short; control characters escaped."""
    if target is None:
        return "?"
    if not target.isprintable():
        target = target.encode("unicode_escape", "backslashreplace").decode("ascii")
    return _BLOB_ID.sub(lambda m: short(m.group(0)), target)


def is_local(repo: Repo, revision: Revision) -> bool:
    """Is this a plain model folder (``--local-dir``, a copied snapshot) rather than a cache repo?"""
    return repo.path == revision.path


def in_snapshot(d: EntryDiag) -> str:
    """Where an entry is, for people: ``in snapshot ce3ab149``, or ``in this folder`` for a plain one."""
    return "in this folder" if is_local(d.repo, d.revision) else f"in snapshot {d.revision.commit[:8]}"


def repair_command(path: str, *, verify: bool = False) -> str:
    """The doctor run that repairs what ``--fix`` can, for a cache, repo or snapshot folder."""
    return f"hfcache doctor {shlex.quote(path)} --fix" + (" --verify" if verify else "")


def download_command(repo_id: str, repo_type: str, commit: str, names: Iterable[str]) -> str:
    """``hf download`` of ``names`` at a full commit, with the repo type it needs."""
    kind = "" if repo_type == "model" else f" --repo-type {repo_type}"
    files = "".join(f" {shlex.quote(n)}" for n in sorted(names))
    return f"hf download {shlex.quote(repo_id)}{files}{kind} --revision {commit}"


def needs_fetch(f: Finding) -> bool:
    """Does this finding's file have to be downloaded again (after ``--fix``, if it has one)?"""
    return f.info.refetch and (f.fix is None or f.fix.step is Step.QUARANTINE_BLOB)


def fetch_again(repo: Repo, revision: Revision, names: list[str]) -> str:
    """The sentence that tells how to get files back whose content is not here at all."""
    if is_local(repo, revision):
        return f"copy {', '.join(names)} again from where this folder came from"
    command = download_command(repo.repo_id, repo.repo_type, revision.commit, names)
    return f"on a machine with access run `{command}` and copy the cache again"


def blob_users(diags: Iterable[EntryDiag]) -> dict[tuple[str, str], list[EntryDiag]]:
    """(repo folder, blob id) → the snapshot entries whose content that blob is."""
    users: dict[tuple[str, str], list[EntryDiag]] = defaultdict(list)
    for d in diags:
        etag = d.etag or d.linked_blob
        if etag is not None:
            users[(d.repo.folder, etag)].append(d)
    return users


def blob_label(etag: str, users: list[EntryDiag]) -> str:
    """A blob named by the files it holds: ``model.safetensors (blob 2a1171db9fdc…)``."""
    names = sorted({d.name for d in users})
    if not names:
        return f"blob {short(etag)}"
    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
    return f"{', '.join(names[:3])}{more} (blob {short(etag)})"


def fetch_blob_again(users: list[EntryDiag]) -> str:
    """How to get a blob's content back: download the files that use it (of one revision)."""
    if not users:
        return "download the file again"
    first = users[0]
    names = sorted({d.name for d in users if d.revision is first.revision})
    return fetch_again(first.repo, first.revision, names)
