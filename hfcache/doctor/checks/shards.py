"""Findings about checkpoints: index files against their shards, safetensors headers against sizes.

Only headers are read (a few KB per file), never tensor data, so this stays cheap on
multi-GB checkpoints and catches most truncations without hashing anything.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterator

from hfcache.doctor.content import source_path
from hfcache.doctor.context import Context
from hfcache.doctor.hints import fetch_again, in_snapshot, is_local, sentence
from hfcache.findings import Finding, finding
from hfcache.formats.safetensors import Header, HeaderError, read_header, read_index
from hfcache.model import Cache
from hfcache.scan.entries import EntryDiag, Form
from hfcache.units import human_size

INDEX_SUFFIXES = (".safetensors.index.json", ".bin.index.json")
_CHECKED = (".safetensors", *INDEX_SUFFIXES)


def content_path(cache: Cache, d: EntryDiag, usable: set[tuple[str, str]] | None = None) -> str | None:
    """The file holding an entry's content: what a loader reads now, else (with ``usable``) the
    intact blob the entry should lead to, which a relink by ``--fix`` makes readable again. A
    checkpoint behind a Windows copy is judged by its bytes, not only by its broken links."""
    return source_path(cache, d, usable or set())


def _size_of(path: str) -> int | None:
    try:
        return os.lstat(path).st_size
    except OSError:
        return None


def _header_findings(d: EntryDiag, path: str, header: Header | HeaderError) -> Iterator[Finding]:
    if isinstance(header, HeaderError):
        yield finding(
            "shard-header-unreadable",
            d.path,
            f"{d.name} {in_snapshot(d)}: the safetensors header cannot be read "
            f"({header.reason}); loading it fails",
            advice=sentence(fetch_again(d.repo, d.revision, [d.name])),
            at=d.place,
        )
        return
    size = _size_of(path)
    if size is not None and size < header.expected_size:
        yield finding(
            "shard-truncated",
            d.path,
            f"{d.name} {in_snapshot(d)} is {human_size(size)}, but its header needs "
            f"{human_size(header.expected_size)}: the file was cut short",
            advice=sentence(fetch_again(d.repo, d.revision, [d.name])),
            at=d.place,
        )
    elif size is not None and size > header.expected_size:
        yield finding(
            "shard-trailing-bytes",
            d.path,
            f"{d.name} {in_snapshot(d)} is {human_size(size)}, but its header covers "
            f"{human_size(header.expected_size)}: {size - header.expected_size} bytes follow the tensor "
            "data, and the safetensors loader refuses the file",
            advice=sentence(fetch_again(d.repo, d.revision, [d.name])),
            at=d.place,
        )


def shard_findings(ctx: Context) -> Iterator[Finding]:
    """Check every ``*.index.json`` and every safetensors file of each revision."""
    cache = ctx.cache
    # Only revisions holding a safetensors or index file have anything to check here.
    wanted = {(d.repo.folder, d.revision.commit) for d in ctx.diags if d.name.endswith(_CHECKED)}
    if not wanted:
        return
    by_rev: dict[tuple[str, str], dict[str, EntryDiag]] = {}
    for d in ctx.diags:
        key = (d.repo.folder, d.revision.commit)
        if key in wanted:
            by_rev.setdefault(key, {})[d.name] = d
    usable = ctx.usable
    for entries in by_rev.values():
        headers: dict[str, Header | HeaderError] = {}
        for name, d in entries.items():
            path = content_path(cache, d, usable) if name.endswith(".safetensors") else None
            if path is not None:
                headers[name] = read_header(path)
                yield from _header_findings(d, path, headers[name])
        for name, d in entries.items():
            if name.endswith(INDEX_SUFFIXES):
                yield from _index_findings(cache, d, entries, headers, usable)


def _index_findings(
    cache: Cache,
    d: EntryDiag,
    entries: dict[str, EntryDiag],
    headers: dict[str, Header | HeaderError],
    usable: set[tuple[str, str]],
) -> Iterator[Finding]:
    path = content_path(cache, d, usable)
    if path is None:
        return  # the index entry itself is broken: reported as such
    index = read_index(path)
    if isinstance(index, HeaderError):
        yield finding(
            "index-unreadable",
            d.path,
            f"{d.name} {in_snapshot(d)} cannot be parsed ({index.reason}); the checkpoint cannot be "
            "loaded",
            advice=sentence(fetch_again(d.repo, d.revision, [d.name])),
            at=d.place,
        )
        return
    folder = posixpath.dirname(d.name)
    wanted: dict[str, list[str]] = {}
    for tensor, shard in index.weight_map.items():
        wanted.setdefault(posixpath.normpath(posixpath.join(folder, shard)), []).append(tensor)
    total = 0
    all_read = d.name.endswith(".safetensors.index.json")
    for shard, tensors in sorted(wanted.items()):
        sd = entries.get(shard)
        if sd is None or (sd.form is Form.MISSING and not _restorable(sd)):
            all_read = False
            yield finding(
                "shard-missing",
                sd.path if sd is not None else os.path.join(d.revision.path, *shard.split("/")),
                f"{shard} is named by {d.name} {in_snapshot(d)} ({len(tensors)} tensors) but is not "
                f"{'here' if is_local(d.repo, d.revision) else 'in the cache'}; loading the checkpoint "
                "fails",
                advice=sentence(fetch_again(d.repo, d.revision, [shard])),
                at=d.place.at(d.place.commit, shard),
            )
            continue
        header = headers.get(shard)
        if not isinstance(header, Header):
            all_read = False
            continue
        total += header.data_bytes
        absent = [t for t in tensors if t not in header.tensors]
        if absent:
            shown = ", ".join(absent[:3]) + (f" and {len(absent) - 3} more" if len(absent) > 3 else "")
            yield finding(
                "shard-tensor-missing",
                sd.path,
                f"{shard} lacks {len(absent)} tensor(s) that {d.name} places in it ({shown}): the shard is "
                "from another version of the model",
                advice=sentence(fetch_again(d.repo, d.revision, [shard])),
                at=sd.place,
            )
    if all_read and index.total_size is not None and total != index.total_size:
        yield finding(
            "shard-total-size",
            d.path,
            f"{d.name} {in_snapshot(d)} says total_size {index.total_size}, but its shards hold {total} "
            "bytes of tensors: index and shards may come from different versions.",
            at=d.place,
        )


def _restorable(d: EntryDiag) -> bool:
    """A missing entry whose blob is cached is restored by --fix, so the shard is not lost."""
    return d.etag is not None and d.etag in d.repo.blobs
