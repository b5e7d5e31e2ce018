"""What every check reads, and the one place that decides which repair a problem gets.

A :class:`Context` is built once per run from the scan, the entry classification and (with
``--verify``) the hashes. Its action builders are the rule set of ``--fix``: a check calls
them to attach the :class:`~hfcache.actions.Action` that repairs what it found, or ``None``
when nothing offline can. The plan is made of these actions alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from hfcache.actions import Action, Step
from hfcache.doctor.content import copy_sources, is_lfs, lfs_attributes, store_supplied, usable_blobs
from hfcache.doctor.lost import LostSnapshots
from hfcache.doctor.stranded import Strand
from hfcache.doctor.verify import Verification
from hfcache.formats import textforms
from hfcache.fs.hashing import algo_for, hash_bytes
from hfcache.model import Cache, Kind
from hfcache.scan.entries import EntryDiag, Form, read_small


@dataclass(frozen=True)
class Wide:
    """What the cache-wide checks of a cache judged in parts learn from every part."""

    folders: frozenset[str]
    """Every repo folder of the cache."""
    store_used: frozenset[str]
    """Every shared-store entry some repo needs (see :func:`~hfcache.doctor.checks.blobs.store_users`)."""


@dataclass
class Context:
    """The scanned cache, its diagnosed entries and what hashing found, with the repair rules."""

    cache: Cache
    diags: list[EntryDiag]
    verification: Verification | None = None
    """What ``--verify`` (or a repair) hashed; ``None`` when nothing was."""
    strands: tuple[Strand, ...] = ()
    """Revisions that lost entries whose blobs are still here (:mod:`hfcache.doctor.stranded`)."""
    lost: tuple[LostSnapshots, ...] = ()
    """Repo folders without ``snapshots/``, and what of them can be rebuilt (:mod:`hfcache.doctor.lost`)."""
    wide: Wide | None = None
    """For the cache-wide checks of a cache judged in parts: what the parts hold (else ``cache`` has it)."""

    def __post_init__(self) -> None:
        v = self.verification
        self.corrupt: set[str] = set(v.corrupt) if v is not None else set()
        """Content paths that failed verification."""
        self.by_repo: dict[str, list[EntryDiag]] = {r.folder: [] for r in self.cache.repos}
        for d in self.diags:
            self.by_repo.setdefault(d.repo.folder, []).append(d)
        self.usable = usable_blobs(self.cache, self.corrupt)
        self.copies = copy_sources(self.diags, self.corrupt)
        self.in_store = store_supplied(self.cache, self.corrupt)
        """Missing repo blobs whose bytes a shared-store entry holds (path of that entry)."""
        self._patterns: dict[tuple[str, str], list[str]] = {}
        self._restorable: dict[tuple[str, str], str | None] = {}
        self._restore_sources: dict[tuple[str, str], list[tuple[str, int]]] | None = None

    def supplied(self, repo: str, etag: str | None) -> bool:
        """Is blob ``etag`` of ``repo`` here, or will a planned repair put it here first?

        A planned repair is the adoption of a full copy, or the undoing of a transfer's rewrite
        of the blob itself or of a full copy (restores and adoptions run before links).
        """
        if etag is None:
            return False
        key = (repo, etag)
        if key in self.usable or key in self.copies or key in self.in_store:
            return True
        return self._restorable_blob(repo, etag)

    def _restorable_blob(self, repo: str, etag: str) -> bool:
        if self._restore_sources is None:
            self._restore_sources = self._restore_candidates()
        return any(
            self.restore(repo, path, etag, size) is not None
            for path, size in self._restore_sources.get((repo, etag), ())
        )

    def _restore_candidates(self) -> dict[tuple[str, str], list[tuple[str, int]]]:
        """(repo, etag) → files that may hold its bytes under a transfer's rewrite: damaged blobs
        and wrong copies. Built once, on the first question about a blob that is not usable."""
        found: dict[tuple[str, str], list[tuple[str, int]]] = {}
        for repo in self.cache.repos:
            for etag, blob in repo.blobs.items():
                if blob.kind is Kind.FILE and (repo.folder, etag) not in self.usable:
                    found.setdefault((repo.folder, etag), []).append((blob.path, blob.size))
        for d in self.diags:
            copy = d.node
            if d.form is not Form.COPY or not d.etag or copy is None:
                continue
            if d.expected_size not in (None, copy.size) or copy.path in self.corrupt:
                found.setdefault((d.repo.folder, d.etag), []).append((copy.path, copy.size))
        return found

    # --- the rule set ---------------------------------------------------------------------------

    def adopt(self, d: EntryDiag) -> Action:
        """Keep a full copy's bytes as its blob (after hashing them) and link the entry to it."""
        lfs = False
        if d.etag is None and d.node is not None:
            key = (d.repo.folder, d.revision.commit)
            if key not in self._patterns:
                rev = [x for x in self.diags if (x.repo.folder, x.revision.commit) == key]
                self._patterns[key] = lfs_attributes(self.cache, rev)
            lfs = is_lfs(d.name, d.node.size, self._patterns[key])
        return Action(Step.ADOPT, d.repo.folder, d.path, d.etag, lfs=lfs)

    def link(self, d: EntryDiag, etag: str | None = None) -> Action | None:
        """Make the entry a link to its blob, if that blob is (or will be) here; else ``None``."""
        etag = etag or d.etag
        if not self.supplied(d.repo.folder, etag):
            return None
        replaces = d.node is not None and d.node.kind is Kind.FILE
        key = (d.repo.folder, etag or "")
        store = self.in_store.get(key) if key not in self.usable and key not in self.copies else None
        return Action(
            Step.LINK, d.repo.folder, d.path, etag, leftover=d.leftover, replaces_file=replaces, store=store
        )

    def replace_copy(self, d: EntryDiag) -> Action | None:
        """Repair a full copy with wrong bytes: link to the good blob, else undo a rewrite of the copy
        itself, else link to what another planned repair will put in place."""
        node = d.node
        if node is None or d.etag is None:
            return None
        if (d.repo.folder, d.etag) in self.usable:
            return self.link(d)
        return self.restore(d.repo.folder, d.path, d.etag, node.size) or self.link(d)

    def content_for(self, repo: str, etag: str) -> Action | None:
        """The action that puts a good blob ``etag`` in place of a damaged one, if any can."""
        copy = self.copies.get((repo, etag))
        if copy is not None:
            return self.adopt(copy)  # adopting a verified copy parks the bad blob first
        return None

    def restore(self, repo: str, path: str, etag: str, size: int) -> Action | None:
        """Undo a text transfer's rewrite of ``path`` if that gives bytes hashing to ``etag``."""
        if size > textforms.MAX_TEXT_SIZE:
            return None
        key = (path, etag)
        if key not in self._restorable:
            self._restorable[key] = _find_rewrite(path, etag)
        rewrite = self._restorable[key]
        if rewrite is None:
            return None
        return Action(Step.RESTORE, repo, path, etag, rewrite=rewrite)

    def quarantine_blob(self, repo: str, path: str, etag: str) -> Action:
        """Park a blob that failed verification (only ``--verify`` can tell)."""
        return Action(Step.QUARANTINE_BLOB, repo, path, etag, needs_verify=True)

    def leftover(self, repo: str | None, path: str, etag: str | None = None) -> Action:
        """Move a stale partial download or lock file into the quarantine."""
        return Action(Step.QUARANTINE_LEFTOVER, repo, path, etag)

    def park_listing(self, repo: str, path: str) -> Action:
        """Move a tree listing the client ignores (corrupt, masked Xet hashes) into the quarantine."""
        return Action(Step.QUARANTINE_LISTING, repo, path)

    def ref(self, repo: str, path: str, commit: str) -> Action:
        return Action(Step.REF, repo, path, commit=commit)

    def repo_path(self, folder: str) -> str:
        return os.path.join(self.cache.root, folder)


def _find_rewrite(path: str, etag: str) -> str | None:
    data = read_small(path, textforms.MAX_TEXT_SIZE + 1)
    if data is None or len(data) > textforms.MAX_TEXT_SIZE:
        return None
    algo = algo_for(etag)
    return textforms.find_original(data, lambda candidate: hash_bytes(candidate, algo) == etag)


def is_plain_folder(d: EntryDiag) -> bool:
    """Does the entry belong to a plain model folder rather than to a cache snapshot?"""
    return d.repo.path == d.revision.path
