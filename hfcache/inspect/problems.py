"""Findings about checkpoint files, each with the text of what to do about it.

They are doctor :class:`~hfcache.findings.Finding` values (same code table, same JSON keys) with
``advice``: what the user can do. ``inspect`` repairs nothing in place, so ``fixable`` is
always false and ``action`` ``null``; in JSON, ``fix`` carries the advice.
"""

from __future__ import annotations

from hfcache.findings import Finding, Place, finding
from hfcache.inspect.checkpoint import SAFETENSORS, UNKNOWN, CheckpointFile

DOWNLOAD_AGAIN = "Download the file again."
NO_UNPICKLING = (
    "Do not load this file. Obtain the weights as safetensors (or from a source you trust); hfcache "
    "has no way to make a pickle that imports code safe."
)


def file_problems(got: CheckpointFile, at: Place) -> list[Finding]:
    """What is wrong with one file on its own: unreadable, truncated, or a pickle importing code."""
    at = at.at(at.commit, got.name)
    if got.unsafe:
        shown = ", ".join(got.unsafe)
        message = (
            f"{got.name} is a pickle that imports {len(got.unsafe)} global(s) outside torch's weights_only "
            f"allowlist: {shown}. Loading it with torch.load(weights_only=False) or pickle would run that "
            "code. hfcache read its opcodes without executing anything, and never will execute it."
        )
        return [finding("pickle-unsafe-import", got.path, message, advice=NO_UNPICKLING, at=at)]
    if got.problem is None:
        return [
            finding(code, got.path, f"{got.name} ({got.format}): {text}.", advice=DOWNLOAD_AGAIN, at=at)
            for code, text in got.issues
        ]
    if got.format == SAFETENSORS and got.problem == "truncated" and got.header is not None:
        message = (
            f"{got.name} is {got.size} bytes, but its header needs {got.header.expected_size}: the file was "
            "cut short."
        )
        return [finding("shard-truncated", got.path, message, advice=DOWNLOAD_AGAIN, at=at)]
    if got.format == SAFETENSORS and got.problem == "trailing-bytes" and got.header is not None:
        message = (
            f"{got.name} is {got.size} bytes, but its header covers {got.header.expected_size}: bytes follow "
            "the tensor data, and the safetensors loader refuses the file."
        )
        return [finding("shard-trailing-bytes", got.path, message, advice=DOWNLOAD_AGAIN, at=at)]
    if got.format == SAFETENSORS:
        message = f"{got.name}: the safetensors header cannot be read ({got.problem}); loading it fails."
        return [finding("shard-header-unreadable", got.path, message, advice=DOWNLOAD_AGAIN, at=at)]
    kind = "" if got.format == UNKNOWN else f" as a {got.format} checkpoint"
    message = f"{got.name} cannot be read{kind}: {got.problem}."
    return [finding("checkpoint-unreadable", got.path, message, advice=DOWNLOAD_AGAIN, at=at)]
