"""What each snapshot entry is, and which blob it should lead to.

Every file of every revision gets one :class:`EntryDiag`: the form it takes on disk (a good
link, a broken one, a full copy, an emulated link, an LFS pointer, nothing at all...), the
blob (etag) it should lead to, and how sure we are of that. Findings and the repair plan are
both derived from these, so the two can never disagree.

The blob an entry should lead to is decided from, in order of trust: the tree listing
(``trees/<commit>.json``), the link text, an LFS pointer's oid, and the content's own hash
(known only after hashing).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum

from hfcache import layout
from hfcache.findings import Place
from hfcache.formats.linkforms import SNIFF_LIMIT, EmulatedLink, LfsPointer, parse_lnk, parse_target, sniff
from hfcache.model import Cache, Kind, Node, Repo, Revision, built

LNK_SUFFIX = ".lnk"
_LNK_LIMIT = 64 * 1024


def _posix_basename(path: str) -> str:
    """``os.path.basename`` of a ``str`` path where ``/`` is the only separator, without its overhead."""
    return path[path.rfind("/") + 1 :]


_basename: Callable[[str], str] = _posix_basename if os.sep == "/" and os.altsep is None else os.path.basename


class Form(str, Enum):
    """The shape an entry takes on disk."""

    LINK = "link"  # a relative link to an existing blob of its repo: the healthy form
    LINK_ABSOLUTE = "link-absolute"  # absolute, but resolves inside this cache
    LINK_BACKSLASH = "link-backslash"
    LINK_FOREIGN = "link-absolute-foreign"
    LINK_MISSING = "link-missing-blob"
    LINK_OUTSIDE = "link-outside-cache"
    LINK_BAD = "link-bad-target"
    COPY = "copy"  # a regular file with real content
    LINK_TEXT = "link-text"
    CYGWIN = "cygwin"
    XSYM = "xsym"
    INTERIX = "interix"
    LNK = "lnk"  # the entry is missing and a .lnk shortcut stands beside it
    EMPTY = "empty"
    LFS_POINTER = "lfs-pointer"
    MISSING = "missing"
    LOCAL_LINK = "local-link"  # a link in a plain model folder that leads to something: fine there
    OTHER = "other"  # device, pipe...: reported by the scan already


# Enum members looked up once: ``Form.LINK`` costs a class attribute lookup on every use.
_F_LINK, _F_LINK_ABSOLUTE = Form.LINK, Form.LINK_ABSOLUTE

EMULATED = {
    "link-text": Form.LINK_TEXT,
    "cygwin": Form.CYGWIN,
    "xsym": Form.XSYM,
    "interix": Form.INTERIX,
    "lnk": Form.LNK,
}


@dataclass(frozen=True)
class EntryDiag:
    """One snapshot entry as diagnosed.

    ``path`` is where the entry belongs; ``node`` is what is there (``None`` when nothing is).
    ``etag`` is the blob it should lead to and ``evidence`` where that belief comes from
    (``tree``, ``link``, ``lfs-pointer``; ``None`` when unknown until the content is hashed).
    ``leftover`` is a file to park in quarantine when the entry is repaired (a ``.lnk``).
    ``expected_size`` comes from the tree listing (or an LFS pointer) when known.
    """

    repo: Repo
    revision: Revision
    name: str
    path: str
    node: Node | None
    form: Form
    etag: str | None = None
    evidence: str | None = None
    link_target: str | None = None
    leftover: str | None = None
    expected_size: int | None = None

    @property
    def place(self) -> Place:
        """Where the entry is: its repo, its commit (when the folder records a real one) and its name."""
        commit = self.revision.commit
        return self.repo.place.at(commit if layout.COMMIT_RE.fullmatch(commit) else None, self.name)

    @property
    def healthy(self) -> bool:
        return self.form is Form.LINK and self.wrong_blob is None

    @property
    def linked_blob(self) -> str | None:
        """The blob name a working relative link leads to, for link forms that resolve."""
        form = self.form
        if (form is _F_LINK or form is _F_LINK_ABSOLUTE) and self.link_target is not None:
            return _basename(self.link_target)
        return None

    @property
    def wrong_blob(self) -> str | None:
        """The blob a working link leads to when the tree listing names another one."""
        if self.evidence != "tree" or self.etag is None:
            return None
        linked = self.linked_blob
        if linked is not None and linked != self.etag:
            return linked
        return None


def tree_etag(revision: Revision, name: str) -> tuple[str | None, int | None]:
    """The etag and size the tree listing (or local-dir metadata) gives for ``name``."""
    if revision.tree is not None and name in revision.tree:
        e = revision.tree[name]
        return e.etag, e.content_size
    if name in revision.local_etags:
        return revision.local_etags[name].lower(), None
    return None, None


def read_small(path: str, limit: int) -> bytes | None:
    """Up to ``limit`` bytes of a regular file, never through a link; ``None`` if it cannot be read."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as f:
            return f.read(limit)
    except OSError:
        return None


def _diag_link(cache: Cache, repo: Repo, base: EntryDiag, target: str) -> EntryDiag:
    info = parse_target(target)
    blob_from_text = info.blob

    def with_form(form: Form, resolved: str | None = None) -> EntryDiag:
        etag, evidence = base.etag, base.evidence
        if etag is None and blob_from_text is not None:
            etag, evidence = blob_from_text, "link"
        return _replace(base, form=form, etag=etag, evidence=evidence, link_target=resolved)

    if "\\" in target:
        # A drive letter or UNC path is someone else's machine; a relative one just has the wrong slashes.
        return with_form(Form.LINK_FOREIGN if info.absolute else Form.LINK_BACKSLASH)
    resolved = layout.resolve_lexically(base.path, target)
    if cache.local_dir:
        # A plain folder is not a cache: links out of it (old `local_dir_use_symlinks`) are normal.
        return with_form(Form.LOCAL_LINK if os.path.exists(base.path) else Form.LINK_MISSING)
    if not layout.is_within(resolved, cache.root):
        return with_form(Form.LINK_FOREIGN if info.absolute and blob_from_text else Form.LINK_OUTSIDE)
    if os.path.dirname(resolved) != os.path.join(repo.path, layout.BLOBS):
        return with_form(Form.LINK_BAD)
    if os.path.basename(resolved) not in repo.blobs:
        return with_form(Form.LINK_MISSING)
    return with_form(Form.LINK_ABSOLUTE if os.path.isabs(target) else Form.LINK, resolved)


def _healthy_link(node: Node, blobs_prefix: str, repo: Repo) -> str | None:
    """The blob path a relative, forward-slash link leads to, if that blob is in ``repo``."""
    target = node.target or ""
    if "\\" in target or target.startswith("/"):
        return None
    resolved = os.path.normpath(os.path.join(os.path.dirname(node.path), target))
    name = resolved[len(blobs_prefix) :]
    if resolved.startswith(blobs_prefix) and "/" not in name and name in repo.blobs:
        return resolved
    return None


def _replace(d: EntryDiag, **kw: object) -> EntryDiag:
    return replace(d, **kw)  # type: ignore[arg-type]


def _diag_file(base: EntryDiag, node: Node) -> EntryDiag:
    if base.expected_size is not None and node.size == base.expected_size:
        # The tree listing says a file of exactly this size belongs here: trust it over sniffing,
        # so a repo that really holds a pointer-like text file is not misread.
        return _replace(base, form=Form.COPY)
    if node.size == 0:
        return _replace(base, form=Form.EMPTY)
    if node.size <= SNIFF_LIMIT:
        data = read_small(node.path, SNIFF_LIMIT + 1)
        found = sniff(data) if data is not None else None
        if isinstance(found, LfsPointer):
            etag, evidence = base.etag, base.evidence
            if etag is None:
                etag, evidence = found.oid, "lfs-pointer"
            size = base.expected_size if base.expected_size is not None else found.size
            return _replace(base, form=Form.LFS_POINTER, etag=etag, evidence=evidence, expected_size=size)
        if isinstance(found, EmulatedLink):
            return _from_emulated(base, found)
    return _replace(base, form=Form.COPY)


def _from_emulated(base: EntryDiag, link: EmulatedLink, leftover: str | None = None) -> EntryDiag:
    info = parse_target(link.target)
    etag, evidence = base.etag, base.evidence
    if etag is None and info.blob is not None:
        etag, evidence = info.blob, "link"
    return _replace(
        base,
        form=EMULATED[link.form],
        etag=etag,
        evidence=evidence,
        link_target=link.target,
        leftover=leftover,
    )


def _fast_links(repo: Repo, revision: Revision) -> bool:
    """Can :func:`diagnose_revision` judge this revision's links by their text alone? Yes when the
    revision folder is ``<repo>/<x>/<commit>``, every path normalised and ``/`` the separator: then
    ``../`` once per folder level plus two more, ``blobs/`` and a blob's name leads exactly to that
    blob (what :func:`_healthy_link` finds by joining and normalising)."""
    path = revision.path
    if os.sep != "/" or os.altsep is not None or not repo.path or os.path.normpath(repo.path) != repo.path:
        return False
    if os.path.normpath(path) != path or os.path.dirname(os.path.dirname(path)) != repo.path:
        return False
    return all(part not in ("", ".", "..") for part in path.rsplit("/", 2)[1:])


def diagnose_revision(cache: Cache, repo: Repo, revision: Revision) -> list[EntryDiag]:
    """One :class:`EntryDiag` per file the revision holds or should hold (per its tree listing)."""
    diags: list[EntryDiag] = []
    entries = revision.entries
    tree = revision.tree
    shortcuts: dict[str, tuple[str, EmulatedLink]] = {}
    for name, candidate in entries.items():
        if not name.endswith(LNK_SUFFIX):
            continue
        real = name[: -len(LNK_SUFFIX)]
        if not real or real in entries or candidate.kind is not Kind.FILE:
            continue
        if (tree is not None and name in tree) or candidate.size > _LNK_LIMIT:
            continue
        data = read_small(candidate.path, _LNK_LIMIT)
        link = parse_lnk(data) if data is not None else None
        if link is not None:
            shortcuts[real] = (candidate.path, link)
    shortcut_paths = {p for p, _ in shortcuts.values()}
    blobs_prefix = os.path.join(repo.path, layout.BLOBS) + os.sep
    blobs = repo.blobs
    local_etags = revision.local_etags
    # The common case, a link written as huggingface_hub writes it, is recognised by its text.
    fast = not cache.local_dir and _fast_links(repo, revision)
    judge_links = not cache.local_dir
    link_kind = Kind.LINK  # looked up once, not per entry
    here = revision.path + "/"
    ups: dict[int, str] = {}
    names = entries.keys() | shortcuts.keys()
    if tree is not None:
        names.update(tree)
    for name in sorted(names):
        node = entries.get(name)
        if node is not None and shortcut_paths and node.path in shortcut_paths:
            continue
        listed = tree.get(name) if tree is not None else None
        if listed is not None:
            etag, size = listed.etag, listed.content_size
        elif name in local_etags:
            etag, size = local_etags[name].lower(), None
        else:
            etag, size = None, None
        evidence = "tree" if etag else None
        if node is not None and node.kind is link_kind and judge_links:
            healthy = None
            target = node.target
            if fast and target is not None and node.path == here + name:
                depth = name.count("/")
                up = ups.get(depth)
                if up is None:
                    up = ups[depth] = "../" * (depth + 2) + layout.BLOBS + "/"
                rest = target[len(up) :]
                if (
                    len(rest) > 2
                    and target.startswith(up)
                    and "/" not in rest
                    and "\\" not in rest
                    and rest in blobs
                ):
                    healthy = blobs_prefix + rest
            if healthy is None:
                healthy = _healthy_link(node, blobs_prefix, repo)
            if healthy is not None:  # the common case, kept cheap: one string join, one lookup
                if etag is None:
                    etag, evidence = os.path.basename(healthy), "link"
                values = {
                    "repo": repo,
                    "revision": revision,
                    "name": name,
                    "path": node.path,
                    "node": node,
                    "form": _F_LINK,
                    "etag": etag,
                    "evidence": evidence,
                    "link_target": healthy,
                    "leftover": None,
                    "expected_size": size,
                }
                diags.append(built(EntryDiag, values))
                continue
        path = node.path if node is not None else os.path.join(revision.path, *name.split("/"))
        base = EntryDiag(repo, revision, name, path, node, Form.MISSING, etag, evidence, expected_size=size)
        if node is None:
            if name in shortcuts:
                leftover, link = shortcuts[name]
                diags.append(_from_emulated(base, link, leftover=leftover))
            else:
                diags.append(base)
        elif node.kind is Kind.LINK:
            diags.append(_diag_link(cache, repo, base, node.target or ""))
        elif node.kind is Kind.FILE:
            diags.append(_diag_file(base, node))
        else:
            diags.append(_replace(base, form=Form.OTHER))
    return diags


def diagnose_cache(cache: Cache) -> list[EntryDiag]:
    """Diagnose every entry of every revision of every repo."""
    return [
        d
        for repo in cache.repos
        for rev in repo.revisions.values()
        for d in diagnose_revision(cache, repo, rev)
    ]
