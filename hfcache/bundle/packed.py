"""What ``pack`` returns: the bundle written, as a result with its JSON document and exit status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hfcache.bundle.manifest import Manifest
from hfcache.findings import Finding
from hfcache.results import EXIT_OK


@dataclass(frozen=True)
class PackResult:
    """What was written: the manifest, the files (one per volume), and the bytes in them."""

    manifest: Manifest
    paths: tuple[str, ...]
    bytes_written: int
    problems: tuple[Finding, ...]
    """What ``--allow-incomplete`` let through; the manifest records each."""
    checksum_file: str | None = None
    """With split volumes: the ``sha256sum`` file beside them."""
    source_problems: tuple[Finding, ...] = ()
    """What the doctor finds wrong with the cache's copy that the bundle does not carry (broken
    links over intact blobs): the bundle is complete; ``hfcache doctor --fix`` repairs the cache."""

    @property
    def left_out(self) -> tuple[int, int]:
        """A delta's blobs left out (the target holds them): how many, how many bytes."""
        kept = self.manifest.carried()
        gone = {k: f for k, f in self.manifest.blobs().items() if k not in kept}
        return len(gone), sum(f.size for f in gone.values())

    @property
    def to_stdout(self) -> bool:
        """The bundle went to standard output (``-o -``), not to files."""
        return self.paths == ("-",)

    @property
    def exit_code(self) -> int:
        """Always :data:`EXIT_OK`: a bundle was written (a refusal raises instead). Problems that
        ``--allow-incomplete`` let through were asked for; the manifest records them."""
        return EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {
            "paths": list(self.paths),
            "bytes_written": self.bytes_written,
            "repos": [
                {
                    "repo_id": r.repo_id,
                    "repo_type": r.repo_type,
                    "revision": r.revision,
                    "commit": r.commit,
                    "files": len(r.files),
                    "expected": len(r.expected),
                    "problems": r.problems,
                }
                for r in self.manifest.repos
            ],
            "checksum_file": self.checksum_file,
            "delta": None
            if not self.manifest.is_delta
            else {
                "against": self.manifest.against,
                "blobs_left_out": self.left_out[0],
                "bytes_left_out": self.left_out[1],
            },
            "source_problems": [f.to_json() for f in self.source_problems],
        }
