"""What a target already holds, for ``pack --exclude-present``: read from its inventory, from a
bundle carried to it earlier, or from such a bundle's manifest.

An inventory lists the blobs the target trusts. A bundle (or its manifest) lists every blob of
the revisions it installs; once it is unpacked, the target holds them all: this is how a
one-way transfer, where nothing comes back from the offline side, still sends only what is new.
"""

from __future__ import annotations

import contextlib
import json
import os
import tarfile
from dataclasses import dataclass

from hfcache.bundle import manifest as manifest_mod
from hfcache.bundle import manifestread
from hfcache.bundle.inventory import FORMAT as INVENTORY_FORMAT
from hfcache.bundle.inventory import MAX_INVENTORY_BYTES, parse_inventory
from hfcache.bundle.members import Kind, classify
from hfcache.bundle.volread import open_volumes
from hfcache.errors import BadInputError, BundleError


@dataclass(frozen=True)
class Present:
    """Blob id → size of what the target holds, and where that was read (for messages)."""

    label: str
    blobs: dict[str, int]


def _from_manifest(manifest: manifest_mod.Manifest, label: str) -> Present:
    return Present(label, {f.etag: f.size for f in manifest.blobs().values()})


def _first_member(path: str) -> bytes:
    with contextlib.closing(open_volumes(path)) as stream:
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                ti = tar.next()
                if ti is None or classify(ti).kind is not Kind.MANIFEST:
                    raise BadInputError(
                        f"{path} is not an hfcache bundle (its first member is not a manifest)"
                    )
                data = tar.extractfile(ti)
                return data.read(manifest_mod.MAX_MANIFEST_BYTES + 1) if data is not None else b""
        except (tarfile.TarError, BundleError) as e:
            raise BadInputError(f"{path} is neither an inventory, a bundle nor a manifest: {e}") from None


def load_present(path: str) -> Present:
    """What the target of ``path`` holds: an inventory (``hfcache inventory``), a bundle (its
    first volume, or the name without ``.001``), or a bundle's manifest JSON."""
    label = os.path.basename(path)
    try:
        with open(path, "rb") as f:
            head = f.read(MAX_INVENTORY_BYTES + 1)
    except FileNotFoundError:
        head = b""
        if not os.path.exists(path + ".001"):
            raise BadInputError(f"--exclude-present: no such file: {path}") from None
    except OSError as e:
        raise BadInputError(f"--exclude-present: cannot read {path}: {e.strerror or e}") from None
    if head.lstrip()[:1] == b"{":
        try:
            fmt = json.loads(head.decode("utf-8")).get("format")
        except (UnicodeDecodeError, ValueError, AttributeError):
            fmt = None
        if fmt == INVENTORY_FORMAT:
            inv = parse_inventory(head, path)
            return Present(f"the inventory {label}", inv.blobs)
        try:
            return _from_manifest(manifestread.parse(head), f"the bundle manifest {label}")
        except BundleError as e:
            raise BadInputError(f"--exclude-present: {path}: {e}") from None
    try:
        return _from_manifest(manifestread.parse(_first_member(path)), f"the bundle {label}")
    except BundleError as e:
        raise BadInputError(f"--exclude-present: {path}: {e}") from None
