"""Where ``unpack`` reads an artifact from: an OCI layout folder, or a registry.

Each source answers two questions: which manifests to install (their exact bytes, each checked
against the digest it was named by), and a blob's bytes as a stream. The unpacker hashes every
byte itself and trusts nothing a source says; a source only bounds what it reads and says
clearly where the bytes were to come from.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from hfcache.errors import ArtifactError, BadInputError
from hfcache.formats.regular import open_regular_sized
from hfcache.oci import mediatypes as mt
from hfcache.oci.read import MAX_MANIFEST_BYTES, parse_json

LAYOUT_FILE = "oci-layout"
INDEX_FILE = "index.json"
MAX_INDEX_BYTES = 16 << 20


@dataclass(frozen=True)
class Named:
    """One manifest to install: its bytes, where it came from, and the reference it was named by
    (``org/name`` of a registry path, or a layout tag), which names a foreign artifact's repo."""

    data: bytes
    where: str
    name: str | None = None
    tag: str | None = None


class ArtifactSource(Protocol):
    label: str
    concurrency: int
    """How many blobs may be read at once."""

    def manifests(self) -> list[Named]:
        """The manifests to install, each checked against the digest that named it."""
        ...

    def open_blob(self, digest: str, size: int) -> contextlib.AbstractContextManager[BinaryIO]:
        """A stream of the blob ``sha256:<digest>`` (``size`` bytes, as its descriptor says).
        The caller reads exactly ``size`` bytes and hashes them; a shorter stream is an error."""
        ...


def check_digest(data: bytes, digest: str, where: str) -> None:
    """``data`` is what ``digest`` (``sha256:<hex>``) names, or :class:`ArtifactError`."""
    actual = "sha256:" + hashlib.sha256(data).hexdigest()
    if actual != digest:
        raise ArtifactError(f"{where}: the bytes hash to {actual}, not {digest}; nothing was installed")


class LayoutSource:
    """An OCI image layout folder (``oci-layout``, ``index.json``, ``blobs/sha256/``).

    ``tag`` picks the manifests the index names by it (``org.opencontainers.image.ref.name``);
    without one, every model manifest the index lists is installed, each once.
    """

    concurrency = 2

    def __init__(self, path: str, tag: str | None = None) -> None:
        self.path = os.path.abspath(os.path.expanduser(path))
        self.tag = tag
        self.label = f"oci:{path}" + (f":{tag}" if tag else "")
        if not os.path.isfile(os.path.join(self.path, LAYOUT_FILE)):
            raise BadInputError(f"{path} is not an OCI image layout (it has no {LAYOUT_FILE} file)")

    def _read(self, name: str, limit: int) -> bytes:
        try:
            f, size = open_regular_sized(os.path.join(self.path, name))
        except OSError as e:
            raise ArtifactError(f"{self.label}: cannot read {name}: {e.strerror or e}") from None
        with f:
            if size > limit:
                raise ArtifactError(
                    f"{self.label}: {name} is {size} bytes, more than the {limit} hfcache reads"
                )
            return f.read(limit + 1)[:limit]

    def _blob_name(self, digest: str) -> str:
        return os.path.join("blobs", "sha256", digest)

    def manifests(self) -> list[Named]:
        version = parse_json(self._read(LAYOUT_FILE, 4096), self.label, LAYOUT_FILE, 4096).get(
            "imageLayoutVersion"
        )
        if version != mt.OCI_LAYOUT_VERSION:
            raise ArtifactError(
                f"{self.label}: image layout version {str(version)[:20]!r}, not {mt.OCI_LAYOUT_VERSION}"
            )
        index = parse_json(self._read(INDEX_FILE, MAX_INDEX_BYTES), self.label, INDEX_FILE, MAX_INDEX_BYTES)
        listed = index.get("manifests")
        if not isinstance(listed, list):
            raise ArtifactError(f"{self.label}: {INDEX_FILE} lists no manifests")
        out: dict[str, Named] = {}
        tags: set[str] = set()
        for d in listed:
            if not isinstance(d, dict) or d.get("mediaType") != mt.OCI_MANIFEST:
                continue  # the spec: unknown descriptors are not an error
            notes = d.get("annotations") if isinstance(d.get("annotations"), dict) else {}
            ref = notes.get(mt.REF_NAME) if isinstance(notes, dict) else None
            tags.update([ref] if isinstance(ref, str) else [])
            if self.tag is not None and ref != self.tag:
                continue
            digest = d.get("digest")
            if not isinstance(digest, str) or digest in out:
                continue
            if not digest.startswith("sha256:") or len(digest) != 71:
                raise ArtifactError(f"{self.label}: {INDEX_FILE} names a manifest by {digest[:80]!r}")
            where = f"{self.label} manifest {digest[:19]}"
            data = self._read(self._blob_name(digest[7:]), MAX_MANIFEST_BYTES)
            check_digest(data, digest, where)
            name, _, tag = ref.rpartition(":") if isinstance(ref, str) else ("", "", None)
            out[digest] = Named(data, where, name or None, tag)
        if not out:
            known = ", ".join(sorted(tags)) or "none"
            what = f"no manifest tagged {self.tag!r}" if self.tag else "no manifest"
            raise BadInputError(f"{self.label}: the layout has {what} (tags: {known})")
        return list(out.values())

    def local_path(self, digest: str) -> str:
        """Where the blob's file is: an unpacker on the same file system may hard-link it (and
        then hash the link) rather than copy it."""
        return os.path.join(self.path, self._blob_name(digest))

    @contextlib.contextmanager
    def open_blob(self, digest: str, size: int) -> Iterator[BinaryIO]:
        path = os.path.join(self.path, self._blob_name(digest))
        try:
            f, actual = open_regular_sized(path)
        except OSError as e:
            raise ArtifactError(
                f"{self.label}: blob sha256:{digest[:12]}… is not in the layout ({e.strerror or e}); "
                "nothing was installed"
            ) from None
        with f:
            if actual != size:
                raise ArtifactError(
                    f"{self.label}: blob sha256:{digest[:12]}… holds {actual} bytes, its descriptor says "
                    f"{size}; nothing was installed"
                )
            yield f
