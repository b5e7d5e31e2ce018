"""The bundle manifest: what a bundle holds and the hashes that vouch for it.

Every repo folder in a bundle starts with the same manifest, ``<folder>/.hfcache/manifest.json``
(inside the repo folder, where huggingface_hub's scan never looks). The first one is what
``unpack`` verifies every later member against, so it must be the first member of the tar.
Parsing is strict: a bundle is untrusted input.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from hfcache import layout
from hfcache.errors import BundleError

FORMAT = "hfcache-bundle/1"
DELTA_FORMAT = "hfcache-bundle/2"
"""A delta bundle: it leaves out blobs the target holds. A new format, so that an hfcache that
cannot complete one from the target refuses it by name rather than calling it cut short."""
MANIFEST_NAME = f"{layout.HFCACHE_DIR}/manifest.json"
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of a packed revision: its Hub path, size, sha256 and the blob (etag) holding it.

    Slotted: a manifest of thousands of repos holds one per file, for as long as pack or unpack runs."""

    path: str
    size: int
    sha256: str
    etag: str


@dataclass(frozen=True, slots=True)
class RepoEntry:
    """One packed repo revision, and how it was chosen (slotted: pack and unpack hold one per revision)."""

    repo_id: str
    repo_type: str
    folder: str
    revision: str
    commit: str
    refs: dict[str, str]
    files: list[FileEntry]
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    allow_incomplete: bool = False
    problems: list[dict[str, Any]] = field(default_factory=list)
    tree: bool = False
    expected: list[str] = field(default_factory=list)
    """Blob ids of this revision the bundle leaves out: the target must hold them (a delta)."""


@dataclass(frozen=True)
class Manifest:
    """Everything a bundle holds. ``blobs()`` is derived, never stored twice."""

    hfcache_version: str
    created: str
    repos: list[RepoEntry]
    format: str = FORMAT
    against: str = ""
    """For a delta: what it was packed against (an inventory, a bundle), to name it when the
    target lacks a blob the delta expects."""

    @property
    def is_delta(self) -> bool:
        return any(r.expected for r in self.repos)

    def carried(self) -> Mapping[tuple[str, str], FileEntry]:
        """The blobs the bundle itself holds: every blob less those it expects the target to hold."""
        return self._carried

    def blobs(self) -> Mapping[tuple[str, str], FileEntry]:
        """(repo folder, etag) → a file entry holding that blob (each blob once). As large as the
        manifest: what reads a bundle of thousands of repos asks a folder at a time instead."""
        return self._blobs

    @functools.cached_property
    def _blobs(self) -> dict[tuple[str, str], FileEntry]:
        return {(folder, etag): f for folder in self.folders() for etag, f in self.blobs_in(folder).items()}

    @functools.cached_property
    def _carried(self) -> dict[tuple[str, str], FileEntry]:
        return {(folder, etag): f for folder in self.folders() for etag, f in self.carried_in(folder).items()}

    def folders(self) -> Iterable[str]:
        """Each repo folder of the bundle, once, in the manifest's order."""
        return self._by_folder.keys()

    def entries_of(self, folder: str) -> Sequence[RepoEntry]:
        """The revisions of ``folder`` the bundle holds (none: not a folder of the bundle)."""
        return self._by_folder.get(folder, ())

    def blobs_in(self, folder: str) -> dict[str, FileEntry]:
        """Etag → a file entry holding that blob, for each blob of ``folder``'s revisions once."""
        out: dict[str, FileEntry] = {}
        for repo in self.entries_of(folder):
            for f in repo.files:
                out.setdefault(f.etag, f)
        return out

    def carried_in(self, folder: str) -> dict[str, FileEntry]:
        """:meth:`blobs_in` less those the bundle expects the target to hold (a delta)."""
        blobs = self.blobs_in(folder)
        for repo in self.entries_of(folder):
            for etag in repo.expected:
                blobs.pop(etag, None)
        return blobs

    def files_of(self, folder: str, etag: str) -> str:
        """The files a blob holds, as people name them: ``model-00002-of-00003.safetensors of
        org/name``, or ``a.txt (and 2 more) of org/name`` when several share it."""
        paths = {f.path for r in self.entries_of(folder) for f in r.files if f.etag == etag}
        return files_named(paths, etag, self.repo_id(folder))

    @functools.cached_property
    def _by_folder(self) -> dict[str, list[RepoEntry]]:
        # Once per manifest: a member is described (and named by its repo id) from its own repo's
        # entries; a search of every repo per member grew as members times repos.
        by: dict[str, list[RepoEntry]] = {}
        for r in self.repos:
            by.setdefault(r.folder, []).append(r)
        return by

    def repo_id(self, folder: str) -> str:
        """The repo id of a repo folder of the bundle (the folder's name if the manifest lacks it)."""
        repos = self._by_folder.get(folder)
        return repos[0].repo_id if repos else folder

    @property
    def total_bytes(self) -> int:
        """The bytes of the blobs the bundle holds (a delta's expected ones are not in it)."""
        return sum(f.size for folder in self.folders() for f in self.carried_in(folder).values())

    def to_bytes(self) -> bytes:
        """The manifest as JSON: keys sorted, one space of indent per level, UTF-8."""
        return b"".join(self.pieces())

    def pieces(self) -> Iterator[bytes]:
        """:meth:`to_bytes` a repo at a time, with the same bytes as ``json.dumps`` of the whole
        document: with an indent, ``json`` encodes in Python and holds every small piece of the
        document at once (a manifest of 3.7 MB, 2,500 repos, made 25 MB of them), and pack
        writes a manifest of thousands of repos without ever holding it whole."""
        if not self.repos:
            yield _dumps(asdict(self)).encode("utf-8")
            return
        head: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "repos"}
        head["repos"] = _REPOS_MARK
        before, after = _dumps(head).split(_dumps(_REPOS_MARK), 1)
        # A repo is an item of the top level's "repos" list: two levels in; JSON text holds no
        # raw newline, so every line after the first is indented by splitting on them.
        pending = before + "[\n"
        for r in self.repos:
            yield (pending + "  " + _dumps(asdict(r)).replace("\n", "\n  ")).encode("utf-8")
            pending = ",\n"
        yield ("\n ]" + after).encode("utf-8")


_REPOS_MARK = "\x00hfcache-repos\x00"  # no real value holds a NUL


def files_named(paths: Collection[str], etag: str, repo_id: str) -> str:
    """A blob as people name it, by the files of ``repo_id`` it holds (``paths``)."""
    if not paths:
        return f"blob {etag} of {repo_id}"
    more = f" (and {len(paths) - 1} more)" if len(paths) > 1 else ""
    return f"{min(paths)}{more} of {repo_id}"


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=1, ensure_ascii=False, sort_keys=True)


def _need(cond: bool, what: str) -> None:
    if not cond:
        raise BundleError(f"not a valid hfcache bundle manifest: {what}")


def _str_list(value: Any, what: str) -> list[str]:
    _need(isinstance(value, list) and all(isinstance(v, str) for v in value), what)
    return list(value)


_FILE_KEYS = frozenset({"path", "size", "sha256", "etag"})


def _file(raw: Any) -> FileEntry:
    if isinstance(raw, FileEntry):
        return raw  # made (and checked) by :func:`_file_or_object` as the JSON was read
    _need(isinstance(raw, dict), "file entry is not an object")
    path, size, sha, etag = raw.get("path"), raw.get("size"), raw.get("sha256"), raw.get("etag")
    _need(isinstance(path, str) and bool(path), "file path missing")
    _need(isinstance(size, int) and not isinstance(size, bool) and size >= 0, f"bad size for {path}")
    _need(isinstance(sha, str) and _SHA256.fullmatch(sha) is not None, f"bad sha256 for {path}")
    _need(isinstance(etag, str) and layout.is_etag(etag), f"bad etag for {path}")
    # A blob id is named by several files, members and tables: one string for all of them (the
    # sha256 of an LFS file is its blob id).
    etag = sys.intern(str(etag))
    # A file's name is the same in most repos (config.json): one string for all of them too.
    return FileEntry(sys.intern(str(path)), int(size), etag if sha == etag else str(sha), etag)


_REPO_KEYS = frozenset({"folder", "commit", "files"})


def _entry_or_object(raw: dict[str, Any]) -> Any:
    """A JSON object shaped as a file entry, or as a repo entry, as one, checked as it is read: a
    manifest of thousands of repos is never held both as JSON objects and as entries."""
    if raw.keys() == _FILE_KEYS:
        return _file(raw)
    return _repo(raw) if raw.keys() >= _REPO_KEYS else raw


def _repo(raw: Any) -> RepoEntry:
    if isinstance(raw, RepoEntry):
        return raw  # made (and checked) by :func:`_entry_or_object` as the JSON was read
    _need(isinstance(raw, dict), "repo entry is not an object")
    folder = raw.get("folder")
    _need(isinstance(folder, str) and layout.parse_repo_folder(folder) is not None, "bad repo folder")
    commit = raw.get("commit")
    _need(isinstance(commit, str) and layout.COMMIT_RE.fullmatch(commit) is not None, "bad commit")
    refs = raw.get("refs")
    _need(isinstance(refs, dict) and all(isinstance(v, str) for v in refs.values()), "bad refs")
    files = raw.get("files")
    _need(isinstance(files, list), "files is not a list")
    problems = raw.get("problems", [])
    _need(isinstance(problems, list) and all(isinstance(p, dict) for p in problems), "bad problems")
    for key in ("repo_id", "repo_type", "revision"):
        _need(isinstance(raw.get(key), str), f"{key} missing")
    return RepoEntry(
        repo_id=raw["repo_id"],
        repo_type=sys.intern(raw["repo_type"]),
        folder=sys.intern(folder),
        revision=sys.intern(raw["revision"]),
        commit=sys.intern(commit),
        refs={sys.intern(name): sys.intern(c) for name, c in refs.items()},
        files=[_file(f) for f in files],
        include=_str_list(raw.get("include", []), "include"),
        exclude=_str_list(raw.get("exclude", []), "exclude"),
        allow_incomplete=bool(raw.get("allow_incomplete", False)),
        problems=list(problems),
        tree=bool(raw.get("tree", False)),
        expected=_str_list(raw.get("expected", []), "expected"),
    )


def decode(data: bytes | bytearray) -> str:
    """A manifest's text (UTF-8, at most :data:`MAX_MANIFEST_BYTES`); :class:`BundleError` if not."""
    _need(len(data) <= MAX_MANIFEST_BYTES, "too large")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BundleError(f"not a valid hfcache bundle manifest: {e}") from None


def parse(data: bytes | bytearray | str) -> Manifest:
    """Parse and validate a manifest: its bytes, or the text :func:`decode` gave (so that the
    caller need not hold both); :class:`BundleError` says what is wrong."""
    if isinstance(data, str):
        _need(len(data) <= MAX_MANIFEST_BYTES, "too large")
    text = data if isinstance(data, str) else decode(data)
    try:
        raw = json.loads(text, object_hook=_entry_or_object)
    except ValueError as e:
        raise BundleError(f"not a valid hfcache bundle manifest: {e}") from None
    _need(isinstance(raw, dict), "not a JSON object")
    fmt = raw.get("format")
    _need(
        fmt in (FORMAT, DELTA_FORMAT), f"unknown format {fmt!r} (this hfcache reads {FORMAT}, {DELTA_FORMAT})"
    )
    repos = raw.get("repos")
    _need(isinstance(repos, list) and bool(repos), "no repos")
    manifest = Manifest(
        hfcache_version=str(raw.get("hfcache_version", "")),
        created=str(raw.get("created", "")),
        repos=[_repo(r) for r in repos],
        format=str(fmt),
        against=str(raw.get("against", "")),
    )
    _need(
        manifest.is_delta == (fmt == DELTA_FORMAT),
        f"a {fmt} manifest with{'' if fmt == FORMAT else 'out'} expected blobs",
    )
    revisions = [(r.folder, r.commit) for r in manifest.repos]
    _need(len(revisions) == len(set(revisions)), "a repo revision appears twice")
    refs = [(r.folder, name) for r in manifest.repos for name in r.refs]
    _need(len(refs) == len(set(refs)), "a ref appears in two revisions")
    for repo in manifest.repos:
        etags = {f.etag for f in repo.files}
        _need(all(e in etags for e in repo.expected), f"{repo.repo_id} expects a blob none of its files is")
        paths = {f.path for f in repo.files}
        _need(len(paths) == len(repo.files), f"{repo.repo_id} lists a file twice")
        seen: dict[str, FileEntry] = {}
        for f in repo.files:
            other = seen.setdefault(f.etag, f)
            _need(
                other.size == f.size and other.sha256 == f.sha256, f"blob {f.etag} listed with two contents"
            )
    return manifest
