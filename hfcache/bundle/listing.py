"""``unpack --list``: a bundle's table of contents, from its manifest, without verifying anything.

The manifest is the bundle's first member, so a listing needs only the start of the bundle.
"""

from __future__ import annotations

import contextlib
import json
import tarfile
from dataclasses import dataclass
from typing import Any

from hfcache.bundle import manifest as manifest_mod
from hfcache.bundle.manifest import Manifest
from hfcache.bundle.members import Kind, classify
from hfcache.bundle.volread import first_volume, open_volumes
from hfcache.errors import BadInputError, BundleError
from hfcache.fs.streamcopy import BUFFER_SIZE
from hfcache.results import EXIT_OK


@dataclass(frozen=True)
class Listing:
    """What a bundle's manifest says it holds: repos, revisions, files, sizes, recorded problems."""

    source: str
    manifest: Manifest

    @property
    def exit_code(self) -> int:
        return EXIT_OK

    def to_json(self) -> dict[str, Any]:
        """The manifest itself."""
        doc: dict[str, Any] = json.loads(self.manifest.to_bytes())
        return doc


def list_bundle(source: str) -> Listing:
    """The table of contents of the bundle ``source`` (a file, its first volume, or ``-``)."""
    source = first_volume(source)
    try:
        stream = open_volumes(source)
    except OSError as e:
        raise BadInputError(f"cannot read {source}: {e.strerror or e}") from None
    with contextlib.closing(stream):
        try:
            if stream.seekable():
                tar = tarfile.open(fileobj=stream, mode="r:")  # noqa: SIM115 (closed below)
            else:
                tar = tarfile.open(fileobj=stream, mode="r|", bufsize=BUFFER_SIZE)  # noqa: SIM115
            with tar:
                first = tar.next()
                if first is None or classify(first).kind is not Kind.MANIFEST:
                    raise BundleError(f"{source} is not an hfcache bundle: it does not start with a manifest")
                data = tar.extractfile(first)
                raw = data.read() if data is not None else b""
                if len(raw) != first.size:
                    raise BundleError(f"{source} is cut short inside its manifest: there is nothing to list")
        except tarfile.TarError as e:
            raise BundleError(f"{source} is not a readable tar bundle: {e}") from None
    return Listing(source, manifest_mod.parse(raw))
