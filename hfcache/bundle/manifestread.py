"""Reading a bundle's manifest, strictly: a bundle is untrusted input.

:func:`parse` makes the whole manifest at once, for what asks it again and again (a bundle read
in place, an inventory). :func:`parse_lazy` checks it just as strictly, a repo at a time, and
keeps only its text and where each repo's entry is in it: the entries are made again when
asked (:class:`LazyRepos`), so that unpacking thousands of repos does not hold an entry for
every file (about four times the text) from start to end.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import weakref
from array import array
from collections.abc import Iterator, Sequence
from typing import Any, overload

from hfcache import layout
from hfcache.bundle.manifest import DELTA_FORMAT, FORMAT, MAX_MANIFEST_BYTES, FileEntry, Manifest, RepoEntry
from hfcache.errors import BundleError

_SHA256 = re.compile(r"[0-9a-f]{64}")


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


def _entry_or_object(pairs: list[tuple[str, Any]]) -> Any:
    """A JSON object shaped as a file entry, or as a repo entry, as one, checked as it is read: a
    manifest of thousands of repos is never held both as JSON objects and as entries. No object
    of a manifest names a key twice (JSON would keep the last, unseen)."""
    raw = dict(pairs)
    _need(len(raw) == len(pairs), f"a key appears twice in one object ({sorted(raw)})")
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


class _Checks:
    """What is checked across a manifest's repos, a repo at a time."""

    def __init__(self) -> None:
        self.revisions: set[tuple[str, str]] = set()
        self.refs: set[tuple[str, str]] = set()
        self.delta = False

    def add(self, repo: RepoEntry) -> None:
        _need((repo.folder, repo.commit) not in self.revisions, "a repo revision appears twice")
        self.revisions.add((repo.folder, repo.commit))
        for name in repo.refs:
            _need((repo.folder, name) not in self.refs, "a ref appears in two revisions")
            self.refs.add((repo.folder, name))
        self.delta = self.delta or bool(repo.expected)
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

    def manifest(self, head: dict[str, Any], repos: Sequence[RepoEntry]) -> Manifest:
        """The manifest of ``repos`` (every one added) and the document's other fields."""
        fmt = head.get("format")
        _need(
            fmt in (FORMAT, DELTA_FORMAT),
            f"unknown format {fmt!r} (this hfcache reads {FORMAT}, {DELTA_FORMAT})",
        )
        _need(bool(repos), "no repos")
        _need(
            self.delta == (fmt == DELTA_FORMAT),
            f"a {fmt} manifest with{'' if fmt == FORMAT else 'out'} expected blobs",
        )
        return Manifest(
            hfcache_version=str(head.get("hfcache_version", "")),
            created=str(head.get("created", "")),
            repos=repos,
            format=str(fmt),
            against=str(head.get("against", "")),
        )


def _text(data: bytes | bytearray | str) -> str:
    if isinstance(data, str):
        _need(len(data) <= MAX_MANIFEST_BYTES, "too large")
        return data
    return decode(data)


def parse(data: bytes | bytearray | str) -> Manifest:
    """Parse and validate a manifest: its bytes, or the text :func:`decode` gave (so that the
    caller need not hold both); :class:`BundleError` says what is wrong."""
    try:
        raw = json.loads(_text(data), object_pairs_hook=_entry_or_object)
    except (ValueError, RecursionError) as e:  # RecursionError: nested deeper than json can read
        raise BundleError(f"not a valid hfcache bundle manifest: {e}") from None
    _need(isinstance(raw, dict), "not a JSON object")
    repos = raw.pop("repos", None)
    _need(isinstance(repos, list), "no repos")
    checks = _Checks()
    entries = [_repo(r) for r in repos]
    for entry in entries:
        checks.add(entry)
    return checks.manifest(raw, entries)


_WS = re.compile(r"[ \t\n\r]*")  # JSON's whitespace, as json itself skips it


class _Walk:
    """The manifest's top-level object read by hand, every value by ``json`` itself: each repo's
    entry is made (and checked) and let go, and only where it is in the text is kept."""

    def __init__(self, text: str, where: str | None) -> None:
        self.text, self.at, self.where = text, 0, where
        self.decoder = json.JSONDecoder(object_pairs_hook=_entry_or_object)

    def skip(self) -> str:
        """Past whitespace; the next character ('' at the end)."""
        self.at = _WS.match(self.text, self.at).end()  # type: ignore[union-attr]  # always matches
        return self.text[self.at : self.at + 1]

    def expect(self, char: str) -> None:
        _need(self.skip() == char, f"expected {char!r} at character {self.at}")
        self.at += 1

    def value(self) -> Any:
        self.skip()
        found, self.at = self.decoder.raw_decode(self.text, self.at)
        return found

    def key(self) -> str:
        _need(self.skip() == '"', f"expected a key at character {self.at}")
        name = self.value()  # a JSON string, read by json
        self.expect(":")
        return str(name)

    def repos(self, checks: _Checks) -> LazyRepos:
        starts, ends, folders = array("q"), array("q"), []
        self.expect("[")
        if self.skip() == "]":
            self.at += 1
        else:
            while True:
                self.skip()
                start = self.at
                entry = _repo(self.value())
                checks.add(entry)
                starts.append(start)
                ends.append(self.at)
                folders.append(entry.folder)
                if self.skip() == ",":
                    self.at += 1
                    continue
                self.expect("]")
                break
        return LazyRepos(self.text, starts, ends, folders, self.where)


def parse_lazy(data: bytes | bytearray | str, where: str | None = None) -> Manifest:
    """:func:`parse`, as strictly, keeping each repo's JSON in an unnamed file in ``where`` rather
    than its entry (:class:`LazyRepos`); each repo's entry is checked as it is read."""
    walk = _Walk(_text(data), where)
    head: dict[str, Any] = {}
    repos: LazyRepos | None = None
    checks = _Checks()
    try:
        walk.expect("{")
        if walk.skip() == "}":
            walk.at += 1
        else:
            while True:
                name = walk.key()
                if name == "repos":
                    _need(repos is None, "repos appears twice")
                    repos = walk.repos(checks)
                else:
                    _need(name not in head, f"a key appears twice in one object ({name})")
                    head[name] = walk.value()
                if walk.skip() == ",":
                    walk.at += 1
                    continue
                walk.expect("}")
                break
        _need(walk.skip() == "", f"extra data at character {walk.at}")
    except (ValueError, RecursionError) as e:  # RecursionError: nested deeper than json can read
        raise BundleError(f"not a valid hfcache bundle manifest: {e}") from None
    _need(repos is not None, "no repos")
    assert repos is not None
    # The top-level object judged as every other object is (the whole read passes it the same way)
    _need(isinstance(_entry_or_object([*head.items(), ("repos", [])]), dict), "not a JSON object")
    return checks.manifest(head, repos)


class LazyRepos(Sequence[RepoEntry]):
    """A manifest's repo entries, each made again when asked from its JSON, which waits in an
    unnamed file: where each entry is in it (and its folder) is all that is held."""

    def __init__(
        self, text: str, starts: array[int], ends: array[int], folders: list[str], where: str | None
    ) -> None:
        """``text[starts[i]:ends[i]]``: entry ``i``'s JSON, written to an unnamed file in ``where``
        (None: the system's temporary folder)."""
        self._file = tempfile.TemporaryFile(prefix="hfcache-manifest-", dir=where)  # noqa: SIM115 (kept)
        self._at, self._sizes = array("q"), array("q")
        at = 0
        for start, end in zip(starts, ends, strict=True):
            piece = text[start:end].encode("utf-8")
            self._file.write(piece)
            self._at.append(at)
            self._sizes.append(len(piece))
            at += len(piece)
        self._file.flush()
        self._close = weakref.finalize(self, self._file.close)  # quietly, once the entries are let go
        self.folders = folders
        """Each entry's repo folder, without making it."""

    def __len__(self) -> int:
        return len(self._at)

    @overload
    def __getitem__(self, i: int) -> RepoEntry: ...
    @overload
    def __getitem__(self, i: slice) -> list[RepoEntry]: ...
    def __getitem__(self, i: int | slice) -> RepoEntry | list[RepoEntry]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        piece = os.pread(self._file.fileno(), self._sizes[i], self._at[i])
        if len(piece) != self._sizes[i]:
            raise BundleError("the manifest's spooled copy was cut short")
        return _repo(json.loads(piece, object_pairs_hook=_entry_or_object))  # checked once: made as then

    def __iter__(self) -> Iterator[RepoEntry]:
        return (self[i] for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(other) == len(self) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def close(self) -> None:
        self._close()
