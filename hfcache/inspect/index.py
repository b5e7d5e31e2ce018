"""``*.index.json`` against the shards it names, with the doctor's finding codes.

The same checks as :mod:`hfcache.doctor.checks.shards` (a named shard is missing, a tensor the
index places in a shard is not there, ``total_size`` disagrees), over any folder rather than a
cache revision, for torch shards as well as safetensors ones, plus the reverse: a tensor a
shard holds that the index does not list, which ``from_pretrained`` never loads.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hfcache.findings import Finding, Place, finding
from hfcache.formats.safetensors import HeaderError, read_index
from hfcache.inspect.checkpoint import SAFETENSORS, CheckpointFile
from hfcache.view import ViewFile

INDEX_SUFFIXES = (".safetensors.index.json", ".bin.index.json")


@dataclass(frozen=True)
class IndexReport:
    """One index file: how many shards and tensors it names, its declared and actual sizes."""

    name: str
    shards: tuple[str, ...]
    tensors: int
    total_size: int | None
    data_bytes: int | None
    listed: frozenset[str] = frozenset()  # every tensor name the index lists

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shards": list(self.shards),
            "tensors": self.tensors,
            "total_size": self.total_size,
            "data_bytes": self.data_bytes,
        }


def shard_names(index_name: str, source: ViewFile) -> list[str] | None:
    """The shard names an index file names (as target file names), ``None`` if it cannot be read."""
    if source.path is None:
        return None
    index = read_index(source.path, follow_symlinks=True)
    if isinstance(index, HeaderError):
        return None
    folder = posixpath.dirname(index_name)
    return sorted({posixpath.normpath(posixpath.join(folder, s)) for s in index.weight_map.values()})


def _shown(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def check_index(
    index_name: str,
    source: ViewFile,
    files: dict[str, ViewFile],
    read: Callable[[str], CheckpointFile | None],
    at: Place,
) -> tuple[IndexReport | None, list[Finding]]:
    """Check one index; ``read(name)`` gives a shard's :class:`CheckpointFile` (``None``: not here)."""
    found: list[Finding] = []
    index = (
        read_index(source.path, follow_symlinks=True)
        if source.path is not None
        else HeaderError("its bytes are not here (run hfcache doctor)")
    )
    if isinstance(index, HeaderError):
        message = f"{index_name} cannot be parsed ({index.reason}); the checkpoint cannot be loaded."
        return None, [finding("index-unreadable", source.location, message, at=at.at(at.commit, index_name))]
    folder = posixpath.dirname(index_name)
    wanted: dict[str, list[str]] = {}
    for tensor, shard in index.weight_map.items():
        wanted.setdefault(posixpath.normpath(posixpath.join(folder, shard)), []).append(tensor)
    total = 0
    all_read = index_name.endswith(".safetensors.index.json")
    for shard, tensors in sorted(wanted.items()):
        got = read(shard) if shard in files and not shard.startswith("../") else None
        if got is None or got.size is None:
            all_read = False
            beside = posixpath.join(posixpath.dirname(source.location), shard)
            path = files[shard].location if shard in files else beside
            found.append(
                finding(
                    "shard-missing",
                    path,
                    f"{shard} is named by {index_name} ({len(tensors)} tensors) but is not here; loading "
                    "the checkpoint fails after reading the other shards",
                    at=at.at(at.commit, shard),
                )
            )
            continue
        if got.problem is not None or got.unsafe:
            all_read = False
            continue
        names = {t.name for t in got.tensors}
        total += got.nbytes if got.format == SAFETENSORS else 0
        absent = [t for t in tensors if t not in names]
        if absent:
            found.append(
                finding(
                    "shard-tensor-missing",
                    got.path,
                    f"{shard} lacks {len(absent)} tensor(s) that {index_name} places in it "
                    f"({_shown(absent)}): "
                    "the shard is from another version of the model",
                    at=at.at(at.commit, shard),
                )
            )
        listed = set(tensors)
        unlisted = sorted(n for n in names if n not in listed)
        if unlisted:
            found.append(
                finding(
                    "shard-tensor-unlisted",
                    got.path,
                    f"{shard} holds {len(unlisted)} tensor(s) that {index_name} does not place in it "
                    f"({_shown(unlisted)}); from_pretrained reads only what the index lists, so these are "
                    "never loaded. Index and shard may come from different versions.",
                    at=at.at(at.commit, shard),
                )
            )
    if all_read and index.total_size is not None and total != index.total_size:
        found.append(
            finding(
                "shard-total-size",
                source.location,
                f"{index_name} says total_size {index.total_size}, but its shards hold {total} bytes of "
                "tensors: index and shards may come from different versions.",
                at=at.at(at.commit, index_name),
            )
        )
    report = IndexReport(
        index_name,
        tuple(sorted(wanted)),
        len(index.weight_map),
        index.total_size,
        total if all_read else None,
        frozenset(index.weight_map),
    )
    return report, found
