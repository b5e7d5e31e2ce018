"""Findings about snapshot entries, derived from their :class:`~hfcache.scan.entries.EntryDiag`.

An entry is repairable when the content it should show is in the cache: its blob is there
(and not known to be corrupt), or some full copy in the same repo claims to hold it (the
repair hashes that copy before trusting it). Which repair is the context's rule.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from hfcache import layout
from hfcache.actions import Action, Step
from hfcache.doctor.content import same_size_blob
from hfcache.doctor.context import Context, is_plain_folder
from hfcache.doctor.hints import fetch_again, in_snapshot, is_local, link_text, short
from hfcache.findings import Finding, Severity, finding
from hfcache.model import Kind
from hfcache.scan.entries import EntryDiag, Form
from hfcache.units import human_size

# The blob ids of empty content (git blob sha1, sha256): an etag recorded for a file that is now
# empty names real content unless it is one of these.
EMPTY_CONTENT_ETAGS = frozenset(
    {
        "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    }
)

FORM_CODES = {
    Form.LINK_ABSOLUTE: "link-absolute",
    Form.LINK_BACKSLASH: "link-backslash",
    Form.LINK_FOREIGN: "link-absolute-foreign",
    Form.LINK_MISSING: "link-missing-blob",
    Form.LINK_OUTSIDE: "link-outside-cache",
    Form.LINK_BAD: "link-bad-target",
    Form.LINK_TEXT: "entry-link-text",
    Form.CYGWIN: "entry-cygwin-link",
    Form.XSYM: "entry-xsym-link",
    Form.INTERIX: "entry-interix-link",
    Form.LNK: "entry-lnk-shortcut",
    Form.EMPTY: "entry-empty",
    Form.LFS_POINTER: "entry-lfs-pointer",
    Form.MISSING: "entry-missing",
}

_FORM_TEXT = {
    Form.LINK_TEXT: "a small file holding the link text {t} (what a zip made on Windows, or git with "
    "core.symlinks=false, leaves instead of a link)",
    Form.CYGWIN: "a Cygwin/MSYS '!<symlink>' file pointing to {t}; only Cygwin programs follow it",
    Form.XSYM: "a Minshall-French 'XSym' file pointing to {t}, left by an SMB/CIFS copy with mfsymlinks",
    Form.INTERIX: "an Interix/SFU 'IntxLNK' file pointing to {t}",
}


def _describe(d: EntryDiag) -> str:
    """What is wrong with the entry, in plain words."""
    node = d.node
    t = link_text((node.target if node is not None else None) or d.link_target)
    where = f"{d.name} {in_snapshot(d)}"
    if d.form is Form.LINK_ABSOLUTE:
        return f"{where} is an absolute link ({t}); it works here but breaks when the cache is moved"
    if d.form is Form.LINK_BACKSLASH:
        return f"{where} links to {t}, written with Windows backslashes, which Linux cannot follow"
    if d.form is Form.LINK_FOREIGN:
        return f"{where} links to {t}, an absolute path on another machine or account"
    if d.form is Form.LINK_MISSING:
        return f"{where} links to {t}, but that blob is not in the cache"
    if d.form is Form.LINK_OUTSIDE:
        return f"{where} links to {t}, outside the cache; hfcache did not follow it"
    if d.form is Form.LINK_BAD:
        return f"{where} links to {t}, which is not a blob of this repo"
    if d.form in _FORM_TEXT:
        return f"{where} is {_FORM_TEXT[d.form].format(t=t)}"
    if d.form is Form.LNK:
        shortcut = os.path.basename(d.leftover or "")
        return f"{where} is missing; a Windows shortcut {shortcut} pointing to {t} stands in its place"
    if d.form is Form.EMPTY:
        size = f" (the tree listing says {human_size(d.expected_size)})" if d.expected_size else ""
        return f"{where} is an empty placeholder file{size}"
    if d.form is Form.LFS_POINTER:
        return (
            f"{where} is a Git LFS pointer, not the real content (the repo was cloned without git-lfs "
            "or copied before LFS fetched it)"
        )
    if d.form is Form.MISSING and d.evidence == "identified":
        return (
            f"{where} is missing, and blob {short(d.etag or '')} is that file: its content says so "
            "(no tree listing names it)"
        )
    if d.form is Form.MISSING:
        return f"{where} is listed by the revision's tree listing but is not in the snapshot"
    assert node is not None
    return f"{where} is a full copy ({human_size(node.size)}) instead of a link to its blob"


def _unfixable_advice(d: EntryDiag) -> str:
    where = "here" if is_local(d.repo, d.revision) else "in the cache"
    return f"Its content is not {where}: {fetch_again(d.repo, d.revision, [d.name])}."


def entry_findings(ctx: Context) -> Iterator[Finding]:
    """Findings for every snapshot entry, each with the action that repairs it (if one can)."""
    link = Form.LINK  # looked up once, not per entry
    for d in ctx.diags:
        if d.form is link:
            wrong = d.wrong_blob
            if wrong is not None:
                fix = ctx.link(d)
                yield finding(
                    "entry-wrong-blob",
                    d.path,
                    f"{d.name} in snapshot {d.revision.commit[:8]} leads to blob {short(wrong)}, but the "
                    f"tree listing names blob {short(d.etag or '')}: programs silently read the wrong bytes",
                    advice="" if fix is not None else _unfixable_advice(d),
                    fix=fix,
                    at=d.place,
                )
            continue
        if d.form in (Form.OTHER, Form.LOCAL_LINK):
            continue  # special files were reported by the scan; links out of a plain folder are fine
        if d.form is Form.COPY:
            yield from _copy_finding(ctx, d)
            continue
        repo, at = d.repo.folder, d.place
        code = FORM_CODES[d.form]
        message = _describe(d)
        if d.form is Form.MISSING and not ctx.supplied(repo, d.etag):
            yield _missing_for_good(d, message)
            continue
        if d.form is Form.LINK_ABSOLUTE:
            fix = Action(Step.LINK, repo, d.path, d.linked_blob)
            yield finding(code, d.path, message, fix=fix, at=at)
            continue
        severity = None
        maybe_empty = d.etag is None or d.etag in EMPTY_CONTENT_ETAGS
        if (
            d.form is Form.EMPTY
            and not d.expected_size
            and maybe_empty
            and not d.name.endswith(layout.WEIGHT_SUFFIXES)
        ):
            # With no record of its content an empty file may be genuinely empty (an __init__.py).
            if is_plain_folder(d):
                continue
            severity = Severity.WARNING
        action = ctx.link(d)
        advice = "" if action is not None else _unfixable_advice(d)
        yield finding(code, d.path, message, advice=advice, fix=action, at=at, severity=severity)


def _missing_for_good(d: EntryDiag, message: str) -> Finding:
    """A listed file whose blob is not here either: a note where the snapshot holds other files
    (a partial download, ``allow_patterns``), an error where it holds none (the snapshot was
    emptied in transit, ``rsync -r``: not a download that chose nothing)."""
    if d.revision.entries:
        note = f"{message}; its blob is not cached either (fine if you downloaded only part of the repo)"
        return finding("entry-missing", d.path, note, at=d.place, severity=Severity.INFO)
    emptied = f"{message}, and the snapshot holds no file at all (its links were lost in transit?)"
    return finding("entry-missing", d.path, emptied, advice=_unfixable_advice(d), at=d.place)


def _copy_finding(ctx: Context, d: EntryDiag) -> Iterator[Finding]:
    """A regular file where a link belongs (never reported for plain model folders)."""
    node = d.node
    assert node is not None
    if is_plain_folder(d) or node.path in ctx.corrupt:
        return  # real files are normal there; a copy that failed its hash is reported as such
    repo = d.repo.folder
    if d.expected_size is not None and node.size != d.expected_size:
        fix = ctx.replace_copy(d)
        yield finding(
            "entry-size-mismatch",
            d.path,
            f"{d.name} in snapshot {d.revision.commit[:8]} is a {human_size(node.size)} file, but the tree "
            f"listing says {human_size(d.expected_size)}: it is truncated or a different version",
            advice="" if fix is not None else _unfixable_advice(d),
            fix=fix,
            at=d.place,
        )
        return
    presumed = same_size_blob(ctx.cache, d.repo, d)
    blob = d.repo.blobs.get(d.etag or presumed or "")
    hard_link = blob is not None and blob.kind is Kind.FILE and blob.inode == node.inode
    twice = (repo, d.etag or "") in ctx.usable and not hard_link
    reclaim = node.size if twice or (presumed and not hard_link) else 0
    extra = f"; the blob is cached too, so {human_size(node.size)} are stored twice" if twice else ""
    if presumed and not hard_link:
        extra = (
            f"; blob {short(presumed)} has the same size and presumably the same bytes (no tree listing "
            "names them): --fix hashes both and keeps one"
        )
    if hard_link:
        extra = "; it is a hard link to its blob (rsync -H, cp -l), so no space is wasted"
    yield finding(
        "entry-full-copy", d.path, _describe(d) + extra, fix=ctx.adopt(d), at=d.place, reclaimable=reclaim
    )
