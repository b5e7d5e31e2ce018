"""The order of a bundle's members: one rule for pack's two ways of writing it.

The bundle's manifest comes first, in the first repo's folder (once: a copy in every repo folder
made a bundle of 625 small repos 589 MB); then each repo folder's section is each blob once, the
tree listing, refs, and the snapshot links last (a link is extracted only after its blob).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from hfcache import layout
from hfcache.bundle.manifest import MANIFEST_NAME, RepoEntry
from hfcache.bundle.members import member_name
from hfcache.bundle.packhash import source_of
from hfcache.bundle.select import RepoPick
from hfcache.bundle.tarwriter import link_target


@dataclass(frozen=True)
class Blob:
    """A blob member's payload: where its bytes are and what they must hash to."""

    source: str
    size: int
    sha256: str
    etag: str


def repo_members(
    pick: RepoPick, entry: RepoEntry, manifest_bytes: bytes, seen: set[tuple[str, str]]
) -> Iterator[tuple[str, bytes | str | Blob]]:
    """(tar name, payload) in bundle order: bytes to store, a link target (str), or a blob.

    ``seen`` holds the (folder, member) pairs already written: a second revision of a repo adds
    only the blobs the first did not have, and only the first repo carries the manifest."""
    folder = pick.repo.folder
    seen.update((folder, etag) for etag in entry.expected)  # a delta: the target holds these
    if ("", MANIFEST_NAME) not in seen:  # once per bundle: a copy per repo grew as repos squared
        seen.add(("", MANIFEST_NAME))
        yield member_name(folder, MANIFEST_NAME), manifest_bytes
    sources = {f.name: f for f in pick.files}
    for f in entry.files:
        if (folder, f.etag) not in seen:
            seen.add((folder, f.etag))
            blob = Blob(source_of(sources[f.path]), f.size, f.sha256, f.etag)
            yield member_name(folder, layout.BLOBS, f.etag), blob
    if pick.tree_path is not None:
        with open(pick.tree_path, "rb") as t:
            yield member_name(folder, layout.TREES, f"{pick.commit}.json"), t.read()
    for ref, commit in sorted(entry.refs.items()):
        yield member_name(folder, layout.REFS, *ref.split("/")), commit.encode("ascii")
    for f in entry.files:
        yield (
            member_name(folder, layout.SNAPSHOTS, pick.commit, *f.path.split("/")),
            link_target(f.path, f.etag),
        )
