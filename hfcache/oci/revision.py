"""One revision of any source (:class:`hfcache.view.RevisionView`) as its ModelPack artifact.

``pack --format oci`` and ``serve``'s ``/v2/`` both call :func:`artifact_of`, so a revision
packed into a layout and the same revision served by a mirror have the same manifest digest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from hfcache.bundle.manifest import FileEntry
from hfcache.formats.regular import open_regular
from hfcache.oci.artifact import Artifact, build
from hfcache.repoid import RepoName
from hfcache.view import RevisionView, ViewFile

CONFIG_FILE = "config.json"
MAX_CONFIG_JSON = 4 << 20
"""Bigger than any real ``config.json``; past it the artifact's config just says less."""


def _read_small(f: ViewFile, limit: int) -> bytes | None:
    """The bytes of ``f`` if they are here and at most ``limit``; ``None`` otherwise."""
    if not f.available or (f.size is not None and f.size > limit):
        return None
    out = bytearray()
    try:
        for path, offset, length in f.chunks():
            with open_regular(path) as fh:
                fh.seek(offset)
                out += fh.read(length)
    except OSError:
        return None
    return bytes(out) if len(out) <= limit else None


def config_json(files: Sequence[ViewFile]) -> Mapping[str, Any] | None:
    """The revision's parsed ``config.json`` (if selected, here, small and a JSON object)."""
    f = next((f for f in files if f.name == CONFIG_FILE), None)
    raw = _read_small(f, MAX_CONFIG_JSON) if f is not None else None
    if raw is None:
        return None
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def file_entries(
    files: Sequence[ViewFile], sha256: Mapping[str, str], etags: Mapping[str, str]
) -> list[FileEntry]:
    """Entries for ``files``: an LFS file's sha256 is its blob id; the others' come from ``sha256``
    (by file name), as does the etag of a file whose blob id is unknown (``etags``)."""
    out = []
    for f in files:
        if f.lfs and f.blob_id is not None:
            out.append(FileEntry(f.name, _size(f), f.blob_id, f.blob_id))
        else:
            out.append(FileEntry(f.name, _size(f), sha256[f.name], f.blob_id or etags[f.name]))
    return out


def _size(f: ViewFile) -> int:
    return f.size if f.size is not None else sum(e.length for e in f.extents)


def artifact_for(
    repo: RepoName, commit: str, refs: Sequence[str], entries: Sequence[FileEntry], files: Sequence[ViewFile]
) -> Artifact:
    """The artifact of one revision holding ``entries`` (the files of ``files`` selected, with
    their digests); ``config.json`` among ``files`` fills its config."""
    return build(repo, commit, refs, entries, config_json=config_json(files))


def artifact_of(rv: RevisionView, entries: Sequence[FileEntry], files: Sequence[ViewFile]) -> Artifact:
    """The artifact of ``rv`` holding ``entries`` (the files selected, with their digests)."""
    return artifact_for(rv.name, rv.commit, rv.refs, entries, files)
