"""``unpack --list``: a bundle's table of contents, from its manifest, without verifying any bytes.

The manifest is the bundle's first member, so even a bundle cut short can be listed. The member
headers after it are walked too (in place, without reading the data of a file or volumes), so
the listing says when the bundle ends before everything its manifest lists, and which files that
leaves out.
"""

from __future__ import annotations

import contextlib
import json
import tarfile
from dataclasses import dataclass, field
from typing import Any

from hfcache.bundle.manifest import Manifest
from hfcache.bundle.members import PlainTarError
from hfcache.bundle.shortfall import explain, open_tar, read_manifest, where_it_ends
from hfcache.bundle.volread import open_bundle
from hfcache.errors import BundleError
from hfcache.results import EXIT_OK, EXIT_PROBLEMS


@dataclass(frozen=True)
class Listing:
    """What a bundle's manifest says it holds, and whether the bundle ends before all of it."""

    source: str
    manifest: Manifest
    truncated: str | None = None
    """Why the bundle is cut short (where it ends, which volumes are missing); None when every
    member the manifest lists is there (their bytes are not verified)."""
    missing: tuple[tuple[str, str], ...] = field(default=())
    """(repo id, path) of each file a cut-short bundle does not hold."""

    @property
    def exit_code(self) -> int:
        """:data:`EXIT_PROBLEMS` for a bundle cut short (unpack refuses it), else :data:`EXIT_OK`."""
        return EXIT_PROBLEMS if self.truncated else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        """The manifest itself, with ``truncated`` and ``missing_files``."""
        doc: dict[str, Any] = json.loads(self.manifest.to_bytes())
        doc["truncated"] = self.truncated
        doc["missing_files"] = [{"repo_id": repo_id, "path": path} for repo_id, path in self.missing]
        return doc


def list_bundle(source: str) -> Listing:
    """The table of contents of the bundle ``source`` (a file, its first volume, or ``-``).

    A bundle that ends early is still listed, with why it is cut short; one whose manifest itself
    is cut, or that is no bundle, raises :class:`BundleError`.
    """
    source, stream, paths = open_bundle(source)
    with contextlib.closing(stream):
        try:
            with open_tar(stream) as tar:
                manifest = read_manifest(source, tar)
                ended, files = where_it_ends(tar, manifest)
        except tarfile.TarError as e:
            raise BundleError(f"{source} is not a readable tar bundle: {e}") from None
        except PlainTarError as e:
            raise BundleError(e.hint(source, None)) from None
    if ended is None:
        return Listing(source, manifest)
    return Listing(source, manifest, str(explain(paths, ended)), tuple(files))
