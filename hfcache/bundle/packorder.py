"""The order of a bundle's members: one rule for pack's two ways of writing it.

The bundle's manifest comes first, in the first repo's folder (once: a copy in every repo folder
made a bundle of 625 small repos 589 MB); then each repo folder's section is each blob once, the
tree listing, refs, and the snapshot links last (a link is extracted only after its blob).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from hfcache import layout
from hfcache.bundle.manifest import MANIFEST_NAME, RepoEntry
from hfcache.bundle.members import member_name
from hfcache.bundle.picked import Section
from hfcache.bundle.tarwriter import link_target


@dataclass(frozen=True)
class Blob:
    """A blob member's payload: where its bytes are and what they must hash to."""

    source: str
    size: int
    sha256: str
    etag: str


@dataclass(frozen=True)
class Pieces:
    """A member's bytes made piece by piece, twice: once to count them (a tar header leads with
    the size), once to write them. The manifest of thousands of repos is never held whole."""

    make: Callable[[], Iterator[bytes]]
    size: int

    @classmethod
    def of(cls, make: Callable[[], Iterator[bytes]]) -> Pieces:
        return cls(make, sum(len(piece) for piece in make()))


Payload = bytes | str | Blob | Pieces
"""A member's payload: bytes to store, a link's target (str), a blob, or bytes made in pieces."""


def bundle_members(
    sections: Sequence[Section], entries: Sequence[RepoEntry], manifest: bytes | Pieces
) -> Iterator[tuple[Section, str, Payload]]:
    """(section, tar name, payload) of every member of the bundle, in order.

    The manifest goes once, in the first repo's folder (a copy per repo grew as repos squared).
    The blobs written are remembered per repo folder, so that a second revision of a repo adds
    only those the first did not have, and let go after the folder's last revision."""
    left = Counter(s.repo.folder for s in sections)
    written: dict[str, set[str]] = {}
    first: bytes | Pieces | None = manifest
    del manifest  # held no longer than until the manifest is written
    for section, entry in zip(sections, entries, strict=True):
        folder = section.repo.folder
        for name, payload in repo_members(section, entry, first, written.setdefault(folder, set())):
            first = None
            yield section, name, payload
        left[folder] -= 1
        if not left[folder]:
            del written[folder]


def repo_members(
    section: Section, entry: RepoEntry, manifest: bytes | Pieces | None, written: set[str]
) -> Iterator[tuple[str, Payload]]:
    """(tar name, payload) of one revision in bundle order: the manifest when given, each blob
    not in ``written`` (the blob ids of its folder already written), the tree listing, refs and
    the snapshot links."""
    folder = section.repo.folder
    written.update(entry.expected)  # a delta: the target holds these
    if manifest is not None:
        yield member_name(folder, MANIFEST_NAME), manifest
    for f in entry.files:
        if f.etag not in written:
            written.add(f.etag)
            blob = Blob(section.source(f.path, f.etag), f.size, f.sha256, f.etag)
            yield member_name(folder, layout.BLOBS, f.etag), blob
    if section.tree_path is not None:
        with open(section.tree_path, "rb") as t:
            yield member_name(folder, layout.TREES, f"{section.commit}.json"), t.read()
    for ref, commit in sorted(entry.refs.items()):
        yield member_name(folder, layout.REFS, *ref.split("/")), commit.encode("ascii")
    for f in entry.files:
        yield (
            member_name(folder, layout.SNAPSHOTS, section.commit, *f.path.split("/")),
            link_target(f.path, f.etag),
        )
