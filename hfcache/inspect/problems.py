"""Findings about checkpoint files, each with the text of what to do about it.

A :class:`Problem` is a doctor :class:`~hfcache.findings.Finding` (same code table, same JSON
keys) plus ``advice``: what the user can do. ``inspect`` repairs nothing in place, so
``fixable`` is always false and ``action`` ``null``; in JSON, ``fix`` carries the advice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hfcache.findings import Finding, finding
from hfcache.inspect.checkpoint import SAFETENSORS, UNKNOWN, CheckpointFile


@dataclass(frozen=True)
class Problem:
    """A finding and what to do about it (``None``: nothing hfcache can say)."""

    finding: Finding
    advice: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {**self.finding.to_json(), "fix": self.advice}


DOWNLOAD_AGAIN = "Download the file again."
NO_UNPICKLING = (
    "Do not load this file. Obtain the weights as safetensors (or from a source you trust); hfcache "
    "has no way to make a pickle that imports code safe."
)


def file_problems(got: CheckpointFile, repo: str | None) -> list[Problem]:
    """What is wrong with one file on its own: unreadable, truncated, or a pickle importing code."""
    if got.unsafe:
        shown = ", ".join(got.unsafe)
        message = (
            f"{got.name} is a pickle that imports {len(got.unsafe)} global(s) outside torch's weights_only "
            f"allowlist: {shown}. Loading it with torch.load(weights_only=False) or pickle would run that "
            "code. hfcache read its opcodes without executing anything, and never will execute it."
        )
        return [Problem(finding("pickle-unsafe-import", got.path, message, repo=repo), NO_UNPICKLING)]
    if got.problem is None:
        return []
    if got.format == SAFETENSORS and got.problem == "truncated" and got.header is not None:
        message = (
            f"{got.name} is {got.size} bytes, but its header needs {got.header.expected_size}: the file was "
            "cut short."
        )
        return [Problem(finding("shard-truncated", got.path, message, repo=repo), DOWNLOAD_AGAIN)]
    if got.format == SAFETENSORS:
        message = f"{got.name}: the safetensors header cannot be read ({got.problem}); loading it fails."
        return [Problem(finding("shard-header-unreadable", got.path, message, repo=repo), DOWNLOAD_AGAIN)]
    kind = "" if got.format == UNKNOWN else f" as a {got.format} checkpoint"
    message = f"{got.name} cannot be read{kind}: {got.problem}."
    return [Problem(finding("checkpoint-unreadable", got.path, message, repo=repo), DOWNLOAD_AGAIN)]
