"""Findings about checkpoint files, each with the text of what to do about it.

They are doctor :class:`~hfcache.findings.Finding` values (same code table, same JSON keys) with
``advice``: what the user can do. ``inspect`` repairs nothing in place, so ``fixable`` is
always false and ``action`` ``null``; in JSON, ``fix`` carries the advice.
"""

from __future__ import annotations

from hfcache.findings import Finding, Place, finding
from hfcache.inspect.checkpoint import SAFETENSORS, TORCHSCRIPT, UNKNOWN, CheckpointFile

DOWNLOAD_AGAIN = "Download the file again."
NO_UNPICKLING = (
    "Do not load this file. Obtain the weights as safetensors (or from a source you trust); hfcache "
    "has no way to make a pickle that imports code safe."
)


def file_problems(got: CheckpointFile, at: Place) -> list[Finding]:
    """What is wrong with one file on its own: unreadable, truncated, or a pickle importing code."""
    at = at.at(at.commit, got.name)
    if got.ambiguous is not None:
        message = (
            f"{got.name} is a pickle that different unpicklers decode differently ({got.ambiguous}). "
            "What torch.load or pickle.load would run cannot be known from what a scanner reads; no "
            "pickler writes such a file. hfcache executed nothing."
        )
        return [finding("pickle-ambiguous", got.path, message, advice=NO_UNPICKLING, at=at)]
    found = _torch_findings(got, at)
    if got.unsafe:
        shown = ", ".join(got.unsafe)
        message = (
            f"{got.name} is a pickle that imports {len(got.unsafe)} global(s) outside torch's weights_only "
            f"allowlist: {shown}. Loading it with torch.load(weights_only=False) or pickle would run that "
            "code. hfcache read its opcodes without executing anything, and never will execute it."
        )
        return [finding("pickle-unsafe-import", got.path, message, advice=NO_UNPICKLING, at=at)]
    if got.problem is None:
        return found + [
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


def _torch_findings(got: CheckpointFile, at: Place) -> list[Finding]:
    """A TorchScript archive's code; a torch file shorter than its storages."""
    found = []
    if got.format == TORCHSCRIPT:
        message = (
            f"{got.name} is a TorchScript archive: torch.jit.load (and torch.load, which hands it to "
            "torch.jit.load) compiles and runs the TorchScript code it holds in code/. hfcache listed its "
            "tensors and followed its pickles but does not judge that code."
        )
        advice = "Load it only if you trust its source; for the weights alone, obtain safetensors."
        found.append(finding("torchscript-code", got.path, message, advice=advice, at=at))
    if got.short:
        message = f"{got.name} is cut short: " + "; ".join(got.short) + "."
        found.append(finding("shard-truncated", got.path, message, advice=DOWNLOAD_AGAIN, at=at))
    return found
