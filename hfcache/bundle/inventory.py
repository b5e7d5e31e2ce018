"""The inventory document: what a target holds (blob ids and sizes, per repo and revision).

``hfcache inventory`` writes it (:mod:`hfcache.inventory.take`); ``pack --exclude-present``
reads it back here, strictly, since it decides what a bundle leaves out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hfcache import __version__
from hfcache.errors import BadInputError
from hfcache.layout import is_etag
from hfcache.results import EXIT_OK

FORMAT = "hfcache-inventory/1"
MAX_INVENTORY_BYTES = 256 << 20


@dataclass(frozen=True)
class Inventory:
    """Blob id → size of every trusted blob, and the repos' refs and revisions that use them."""

    sources: tuple[str, ...]
    verified: bool
    blobs: dict[str, int]
    repos: list[dict[str, Any]] = field(default_factory=list)
    created: str = ""
    hfcache_version: str = __version__
    label: str = ""
    """Where this inventory was read from (a file), for messages; not part of the document."""

    @property
    def exit_code(self) -> int:
        return EXIT_OK

    @property
    def total_bytes(self) -> int:
        return sum(self.blobs.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "hfcache_version": self.hfcache_version,
            "created": self.created,
            "sources": list(self.sources),
            "verified": self.verified,
            "repos": self.repos,
            "blobs": dict(sorted(self.blobs.items())),
        }

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json(), indent=1, ensure_ascii=False).encode("utf-8") + b"\n"


def _bad(where: str, why: str) -> BadInputError:
    return BadInputError(f"{where} is not an hfcache inventory: {why}")


def parse_inventory(data: bytes, where: str) -> Inventory:
    """An inventory read back (strictly: it decides what a bundle leaves out)."""
    if len(data) > MAX_INVENTORY_BYTES:
        raise _bad(where, "it is too large")
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise _bad(where, str(e)) from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise _bad(
            where, f"its format is {raw.get('format') if isinstance(raw, dict) else None!r}, not {FORMAT}"
        )
    blobs = raw.get("blobs")
    if not isinstance(blobs, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
        for k, v in blobs.items()
    ):
        raise _bad(where, "'blobs' is not a map of blob ids to sizes")
    for blob_id in blobs:
        if not is_etag(blob_id):
            raise _bad(where, f"{blob_id[:80]!r} is not a blob id")
    listed = raw.get("repos")
    repos: list[dict[str, Any]] = (
        [r for r in listed if isinstance(r, dict)] if isinstance(listed, list) else []
    )
    sources = tuple(str(s) for s in raw.get("sources", []) if isinstance(s, str))
    return Inventory(sources, bool(raw.get("verified")), dict(blobs), repos, str(raw.get("created", "")),
                     str(raw.get("hfcache_version", "")), where)  # fmt: skip
