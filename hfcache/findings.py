"""Findings: problems as values.

Every check yields :class:`Finding` objects instead of raising, so one bad file never hides
the rest of a cache. Each finding carries a stable ``code`` from :data:`CODES`; the docs test
keeps ``docs/findings.md`` in step with that table, and ``--json`` consumers may rely on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

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
    """One finding code and everything that follows from it: severity, title, and its policy.

    ``cause`` ranks the codes that say what is wrong with a file's bytes (lower: more telling);
    a finding with one is primary over the others about the same file (``doctor/fold.py``).
    ``absence`` codes say "not there", which may only mean "not seen" when a folder above could
    not be read (``doctor/blind.py``). ``refetch`` codes need the file downloaded again when
    ``--fix`` cannot supply its content. ``refuses_pack`` codes make ``pack`` refuse a revision.
    ``whole_repo`` codes concern every revision of their repo (a folder that could not be read,
    a link where a folder belongs), even without a commit in their place. A ``blinds`` code
    means part of the cache was not seen: findings of absence beneath it are not judged, and
    ``pack`` refuses with it alone.
    """

    code: str
    severity: Severity
    title: str
    cause: int | None = None
    absence: bool = False
    refetch: bool = False
    refuses_pack: bool = False
    whole_repo: bool = False
    blinds: bool = False


_E, _W, _I = Severity.ERROR, Severity.WARNING, Severity.INFO
_GONE, _FETCH, _PACK, _REPO, _BLIND = "absence", "refetch", "refuses_pack", "whole_repo", "blinds"


def _code(code: str, severity: Severity, title: str, *flags: str, cause: int | None = None) -> Code:
    gone, fetch, pack, repo, blind = (f in flags for f in (_GONE, _FETCH, _PACK, _REPO, _BLIND))
    return Code(code, severity, title, cause, gone, fetch, pack, repo, blind)


CODES: dict[str, Code] = {
    c.code: c
    for c in (
        # Snapshot entries that are symlinks but do not lead to a blob.
        _code("link-backslash", _E, "snapshot link written with Windows backslashes", _FETCH),
        _code("link-absolute-foreign", _E, "absolute link into another machine's or user's cache", _FETCH),
        _code("link-absolute", _I, "absolute link into this cache (old huggingface_hub style)"),
        _code("link-missing-blob", _E, "link to a blob that is not there", _GONE, _FETCH),
        _code("link-outside-cache", _E, "link that leads outside the cache (never followed)", _FETCH),
        _code("link-bad-target", _E, "link inside the cache that does not name a blob of its repo", _GONE, _FETCH),
        # Snapshot entries that are regular files where a link belongs.
        _code("entry-parked", _E, "snapshot file whose corrupt blob --fix --verify parked", _GONE, _FETCH, _PACK, cause=13),
        _code("entry-full-copy", _I, "full copy of a file instead of a link to its blob (space to reclaim)", _FETCH),
        _code("entry-link-text", _E, "small file holding a link's target text instead of a link", _FETCH),
        _code("entry-cygwin-link", _E, "Cygwin/MSYS '!<symlink>' file instead of a link", _FETCH),
        _code("entry-xsym-link", _E, "Minshall-French 'XSym' file (SMB/CIFS mfsymlinks) instead of a link", _FETCH),
        _code("entry-interix-link", _E, "Interix/SFU 'IntxLNK' file instead of a link", _FETCH),
        _code("entry-lnk-shortcut", _E, "Windows .lnk shortcut left where the file should be", _FETCH),
        _code("entry-empty", _E, "zero-byte placeholder where a file with content belongs", _FETCH),
        _code("entry-lfs-pointer", _E, "Git LFS pointer file where the real content belongs", _FETCH),
        _code("entry-missing", _E, "file of the revision missing from its snapshot", _GONE, _FETCH),
        _code("entry-wrong-blob", _E, "entry leads to a different blob than the tree listing names", _FETCH, cause=6),
        _code("entry-size-mismatch", _E, "file size disagrees with the tree listing", _FETCH, _PACK, cause=4),
        _code("entry-hash-mismatch", _E, "file content does not hash to what the tree listing names", _FETCH, _PACK, cause=2),
        # Revisions as a whole.
        _code("revision-stranded", _E, "revision whose snapshot lost its links while its blobs are here", _PACK, cause=11),
        # Sharded checkpoints.
        _code("shard-missing", _E, "shard named by an index file is missing", _GONE, _FETCH, _PACK, cause=10),
        _code("shard-tensor-missing", _E, "tensor listed in the index is not in its shard", _GONE, _FETCH, _PACK, cause=9),
        _code("shard-total-size", _W, "index total_size disagrees with the shards", _FETCH, _PACK),
        _code("shard-header-unreadable", _E, "safetensors header cannot be read", _FETCH, _PACK, cause=8),
        _code("shard-truncated", _E, "safetensors file is shorter than its header says", _FETCH, _PACK, cause=7),
        _code("shard-trailing-bytes", _E, "safetensors file is longer than its header says", _FETCH, _PACK, cause=7),
        _code("index-unreadable", _E, "checkpoint index file cannot be parsed", _PACK),
        _code("shard-tensor-unlisted", _W, "tensor in a shard that its index does not list", _FETCH, _PACK),
        # Checkpoint contents (hfcache inspect).
        _code(
            "keys-prefixed",
            _E,
            "tensor names carry a DataParallel 'module.' or torch.compile '_orig_mod.' prefix",
        ),
        _code("keys-missing", _E, "a tensor the architecture needs is not in the checkpoint"),
        _code("pickle-unsafe-import", _E, "pickle imports a global outside torch's weights_only allowlist"),
        _code("pickle-ambiguous", _E, "pickle that unpicklers decode differently (a framing trick)"),
        _code("torchscript-code", _W, "TorchScript archive: loading it runs the TorchScript code it holds"),
        _code("checkpoint-unreadable", _E, "checkpoint file cannot be read as its format"),
        _code("gguf-tensor-offsets", _E, "GGUF tensors overlap, are misaligned or out of place (llama.cpp refuses the file)"),
        _code("onnx-tensor-data", _E, "ONNX initializer whose data is missing, short, or outside the model's folder"),
        _code("config-unreadable", _W, "config.json cannot be parsed"),
        # Refs.
        _code("ref-malformed", _E, "ref file is not exactly 40 hex characters"),
        _code("ref-not-commit", _I, "ref names a snapshot folder that is not a commit hash", _PACK),
        _code("ref-dangling", _E, "ref names a commit with no snapshot", _GONE, cause=14),
        # Tree listings.
        _code("tree-unreadable", _W, "trees/<commit>.json the client ignores: corrupt, or a masked Xet hash"),
        _code("tree-unknown-format", _I, "trees/<commit>.json in a format this client does not read (a newer one wrote it)"),
        # Blobs.
        _code("blob-size-mismatch", _E, "blob size disagrees with the tree listing", _FETCH, _PACK, cause=3),
        _code("blob-hash-mismatch", _E, "blob content does not hash to its name", _FETCH, _PACK, cause=0),
        _code("blob-orphan", _I, "blob no snapshot uses", _GONE),
        _code("blob-incomplete", _W, "leftover partial download (*.incomplete)"),
        _code("blob-bad-name", _I, "file in blobs/ whose name is not a blob id"),
        # The cache-wide shared blob store (Xet downloads).
        _code("store-missing", _E, "repo blob links to a shared-store entry that is not there", _GONE, _FETCH, _PACK, cause=5),
        _code("store-hash-mismatch", _E, "shared-store entry does not hash to its Xet name", _FETCH, _PACK, cause=1),
        _code("store-orphan", _I, "shared-store entry no repo blob uses", _GONE),
        _code("store-unmarked", _W, "blobs/ folder at the cache root without the shared-store marker"),
        # Cache structure and the file system.
        _code("repo-bad-name", _W, "folder in the cache that is not a repo folder"),
        _code("repo-not-folder", _E, "file in the cache named like a repo folder"),
        _code("repo-part-not-folder", _E, "refs, blobs or snapshots of a repo is a file, not a folder", _REPO),
        _code("repo-no-snapshots", _W, "repo folder without a snapshots/ folder", _GONE, cause=12),
        _code("snapshot-stray-file", _W, "file directly in snapshots/ where only commit folders belong", _REPO),
        _code("dir-is-link", _E, "folder in the cache that is a symlink (never followed)", _REPO),
        _code("special-file", _W, "device, pipe or socket inside the cache", _REPO),
        _code("unreadable", _E, "file or folder that cannot be read (permissions)", _PACK, _REPO, _BLIND),
        _code("lock-stale", _I, "leftover lock file of a finished download"),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Place:
    """Where a finding is, as fields: the repo (folder, id, type), the commit and the path in the repo.

    Every field may be ``None``: a cache-wide finding has no repo, a blob no single commit, a plain
    model folder no repo id (it records none).
    """

    folder: str | None = None
    repo_id: str | None = None
    repo_type: str | None = None
    commit: str | None = None
    path_in_repo: str | None = None

    def at(self, commit: str | None, path_in_repo: str | None = None) -> Place:
        """The same repo, at ``commit`` (and a file of it)."""
        return Place(self.folder, self.repo_id, self.repo_type, commit, path_in_repo)

    def to_json(self) -> dict[str, str | None]:
        return {
            "repo_id": self.repo_id,
            "repo_type": self.repo_type,
            "commit": self.commit,
            "path_in_repo": self.path_in_repo,
        }


NOWHERE = Place()


@dataclass(frozen=True)
class Finding:
    """One problem, about one path.

    ``message`` says what is wrong; ``advice`` what the user can do when ``fix`` cannot (or
    after it). ``fix`` is the action ``--fix`` takes about it (the plan executes exactly these),
    ``None`` when nothing offline can repair it. ``place`` says where it is, as fields.
    """

    code: str
    path: str
    message: str
    fix: Action | None = None
    place: Place = NOWHERE
    severity: Severity = field(default=Severity.ERROR)
    reclaimable: int = 0
    advice: str = ""
    about: tuple[str, ...] = ()
    """For a finding about a blob: the snapshot entries whose content it is."""
    folded_into: str | None = None
    """The code of the primary finding about the same damaged file, when this is a consequence of it."""
    also: tuple[str, ...] = ()
    """On a primary finding: the codes of the consequences folded into it."""

    @property
    def fixable(self) -> bool:
        return self.fix is not None

    @property
    def info(self) -> Code:
        return CODES[self.code]

    @property
    def repo(self) -> str | None:
        """The repo folder name (``models--org--name``); ``None`` for a cache-wide finding."""
        return self.place.folder

    @property
    def text(self) -> str:
        """What is wrong, then what to do: the finding as one paragraph for people."""
        if not self.advice:
            return self.message
        sep = " " if self.message.endswith((".", ":", ";")) else ". "
        return f"{self.message}{sep}{self.advice}"

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "path": self.path,
            **self.place.to_json(),
            "message": self.text,
            "advice": self.advice or None,
            "fixable": self.fixable,
            "fix": self.fix.describe() if self.fix is not None else (self.advice or None),
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
    advice: str = "",
    fix: Action | None = None,
    at: Place = NOWHERE,
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
        place=at,
        severity=severity or declared.severity,
        reclaimable=reclaimable,
        advice=advice,
    )
