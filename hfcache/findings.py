"""Findings: problems as values.

Every check yields :class:`Finding` objects instead of raising, so one bad file never hides
the rest of a cache. Each finding carries a stable ``code`` from :data:`CODES`; the docs test
keeps ``docs/findings.md`` in step with that table, and ``--json`` consumers may rely on it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hfcache import layout
from hfcache.actions import Action


class Severity(str, Enum):
    """How bad a finding is. Only ``error`` and ``warning`` make doctor exit 1."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]


@dataclass(frozen=True)
class Code:
    """Static description of one finding code: its default severity and a one-line title."""

    code: str
    severity: Severity
    title: str


_E, _W, _I = Severity.ERROR, Severity.WARNING, Severity.INFO

CODES: dict[str, Code] = {
    c.code: c
    for c in (
        # Snapshot entries that are symlinks but do not lead to a blob.
        Code("link-backslash", _E, "snapshot link written with Windows backslashes"),
        Code("link-absolute-foreign", _E, "absolute link into another machine's or user's cache"),
        Code("link-absolute", _I, "absolute link into this cache (old huggingface_hub style)"),
        Code("link-missing-blob", _E, "link to a blob that is not there"),
        Code("link-outside-cache", _E, "link that leads outside the cache (never followed)"),
        Code("link-bad-target", _E, "link inside the cache that does not name a blob of its repo"),
        # Snapshot entries that are regular files where a link belongs.
        Code("entry-full-copy", _W, "full copy of a file instead of a link to its blob"),
        Code("entry-link-text", _E, "small file holding a link's target text (git core.symlinks=false)"),
        Code("entry-cygwin-link", _E, "Cygwin/MSYS '!<symlink>' file instead of a link"),
        Code("entry-xsym-link", _E, "Minshall-French 'XSym' file (SMB/CIFS mfsymlinks) instead of a link"),
        Code("entry-interix-link", _E, "Interix/SFU 'IntxLNK' file instead of a link"),
        Code("entry-lnk-shortcut", _E, "Windows .lnk shortcut left where the file should be"),
        Code("entry-empty", _E, "zero-byte placeholder where a file with content belongs"),
        Code("entry-lfs-pointer", _E, "Git LFS pointer file where the real content belongs"),
        Code("entry-missing", _E, "file the revision's tree listing names is missing"),
        Code("entry-wrong-blob", _E, "entry leads to a different blob than the tree listing names"),
        Code("entry-size-mismatch", _E, "file size disagrees with the tree listing"),
        Code("entry-hash-mismatch", _E, "file content does not hash to what the tree listing names"),
        # Sharded checkpoints.
        Code("shard-missing", _E, "shard named by an index file is missing"),
        Code("shard-tensor-missing", _E, "tensor listed in the index is not in its shard"),
        Code("shard-total-size", _W, "index total_size disagrees with the shards"),
        Code("shard-header-unreadable", _E, "safetensors header cannot be read"),
        Code("shard-truncated", _E, "safetensors file is shorter than its header says"),
        Code("index-unreadable", _E, "checkpoint index file cannot be parsed"),
        Code("shard-tensor-unlisted", _W, "tensor in a shard that its index does not list"),
        # Checkpoint contents (hfcache inspect).
        Code(
            "keys-prefixed",
            _E,
            "tensor names carry a DataParallel 'module.' or torch.compile '_orig_mod.' prefix",
        ),
        Code("keys-missing", _E, "a tensor the architecture needs is not in the checkpoint"),
        Code("pickle-unsafe-import", _E, "pickle imports a global outside torch's weights_only allowlist"),
        Code("checkpoint-unreadable", _E, "checkpoint file cannot be read as its format"),
        Code("config-unreadable", _W, "config.json cannot be parsed"),
        # Refs.
        Code("ref-malformed", _E, "ref file is not exactly 40 hex characters"),
        Code("ref-dangling", _E, "ref names a commit with no snapshot"),
        # Tree listings.
        Code("tree-unreadable", _W, "trees/<commit>.json cannot be parsed"),
        # Blobs.
        Code("blob-size-mismatch", _E, "blob size disagrees with the tree listing"),
        Code("blob-hash-mismatch", _E, "blob content does not hash to its name"),
        Code("blob-orphan", _I, "blob no snapshot uses"),
        Code("blob-incomplete", _W, "leftover partial download (*.incomplete)"),
        Code("blob-bad-name", _I, "file in blobs/ whose name is not a blob id"),
        # The cache-wide shared blob store (Xet downloads).
        Code("store-missing", _E, "repo blob links to a shared-store entry that is not there"),
        Code("store-hash-mismatch", _E, "shared-store entry does not hash to its Xet name"),
        Code("store-orphan", _I, "shared-store entry no repo blob uses"),
        Code("store-unmarked", _W, "blobs/ folder at the cache root without the shared-store marker"),
        # Cache structure and the file system.
        Code("repo-bad-name", _W, "folder in the cache that is not a repo folder"),
        Code("repo-no-snapshots", _W, "repo folder without a snapshots/ folder"),
        Code("snapshot-stray-file", _W, "file directly in snapshots/ where only commit folders belong"),
        Code("dir-is-link", _E, "folder in the cache that is a symlink (never followed)"),
        Code("special-file", _W, "device, pipe or socket inside the cache"),
        Code("unreadable", _E, "file or folder that cannot be read (permissions)"),
        Code("lock-stale", _I, "leftover lock file of a finished download"),
    )
}


@dataclass(frozen=True)
class Finding:
    """One problem, about one path.

    ``fix`` is the action ``--fix`` takes about it (the plan executes exactly these); it is
    ``None`` when the problem cannot be repaired offline (then ``message`` says what the user
    can do instead). ``repo`` is the repo folder name, ``None`` for cache-wide findings.
    """

    code: str
    path: str
    message: str
    fix: Action | None = None
    repo: str | None = None
    severity: Severity = field(default=Severity.ERROR)
    reclaimable: int = 0
    about: tuple[str, ...] = ()
    """For a finding about a blob: the snapshot entries whose content it is."""
    folded_into: str | None = None
    """The code of the primary finding about the same damaged file, when this is a consequence of it."""
    also: tuple[str, ...] = ()
    """On a primary finding: the codes of the consequences folded into it."""

    @property
    def fixable(self) -> bool:
        return self.fix is not None

    def where(self) -> dict[str, str | None]:
        """The repo (id and type), commit and Hub path the finding's path belongs to, where it says.

        Derived from the path (for a blob: the first file it holds) and the repo folder's name
        alone; ``None`` where they do not tell (an unused blob; a plain model folder's repo id).
        """
        parsed = layout.parse_repo_folder(self.repo) if self.repo else None
        commit = path_in_repo = None
        marker = f"{os.sep}{self.repo}{os.sep}{layout.SNAPSHOTS}{os.sep}" if self.repo else None
        path = self.about[0] if self.about else self.path
        if marker and marker in path:
            rest = path.split(marker, 1)[1].split(os.sep)
            if layout.COMMIT_RE.fullmatch(rest[0]):
                commit = rest[0]
                path_in_repo = "/".join(rest[1:]) or None
        return {
            "repo_id": parsed[1] if parsed else None,
            "repo_type": parsed[0] if parsed else None,
            "commit": commit,
            "path_in_repo": path_in_repo,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "path": self.path,
            **self.where(),
            "message": self.message,
            "fixable": self.fixable,
            "fix": self.fix.describe() if self.fix is not None else None,
            "action": self.fix.to_json() if self.fix is not None else None,
            "repo": self.repo,
            "reclaimable_bytes": self.reclaimable,
            "about": list(self.about),
            "folded_into": self.folded_into,
            "also": list(self.also),
        }


def finding(
    code: str,
    path: str,
    message: str,
    *,
    fix: Action | None = None,
    repo: str | None = None,
    severity: Severity | None = None,
    reclaimable: int = 0,
) -> Finding:
    """Build a finding whose severity defaults to the one its code declares.

    Raises ``KeyError`` for an unknown code: a typo must fail loudly in tests, not ship.
    """
    declared = CODES[code]
    return Finding(
        code=code,
        path=path,
        message=message,
        fix=fix,
        repo=repo,
        severity=severity or declared.severity,
        reclaimable=reclaimable,
    )
