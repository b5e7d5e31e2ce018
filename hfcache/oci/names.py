"""Hub repo ids as OCI repository names, refs as OCI tags: one rule, written once.

The distribution spec allows lowercase components joined by ``.``, ``_``, ``__`` or runs of
``-``; Hub ids allow uppercase and separator sequences (``a_-b``, leading ``_``) the spec does
not. An id whose components are valid once lowercased maps to its lowercase form
(``Qwen/Qwen2.5-7B`` → ``qwen/qwen2.5-7b``); any other gets a normalised form plus ``-x`` and 8
hex characters of the id's sha256, so no two ids share a name by accident. Datasets and Spaces
take the Hub's own URL prefixes (``datasets/org/name``). The mapping is reversible through what
it is applied to: a mirror maps every repo it serves and looks names up; an artifact carries the
original id in its annotations.
"""

from __future__ import annotations

import hashlib
import re

from hfcache.repoid import OCI_COMPONENT, OCI_NAME, OCI_TAG, URL_PREFIX, RepoName, is_commit

COMPONENT, NAME, TAG = OCI_COMPONENT, OCI_NAME, OCI_TAG
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
MAX_NAME = 255 - len("255.255.255.255:65535/")
"""Clients cap ``host[:port]/name`` at 255 characters; leave room for any host."""

_SEPARATORS = re.compile(r"[._-]+")


def _normalised(part: str) -> str:
    """A component of only ``[a-z0-9]`` runs joined by single valid separators."""
    runs = [r for r in _SEPARATORS.split(part.lower()) if r]
    seps = [s for s in _SEPARATORS.findall(part.lower().strip("._-"))]
    out = runs[0] if runs else "x"
    for sep, run in zip(seps, runs[1:], strict=False):
        out += (sep if sep in (".", "_", "__") or set(sep) == {"-"} else "-") + run
    return out


def oci_name(repo: RepoName) -> str:
    """The OCI repository name ``repo`` is served and pushed under (see the module docstring)."""
    parts = repo.repo_id.split("/")
    lowered = [p.lower() for p in parts]
    prefix = URL_PREFIX[repo.repo_type]
    if all(COMPONENT.fullmatch(p) for p in lowered):
        return prefix + "/".join(lowered)
    digest = hashlib.sha256(str(repo).encode("utf-8")).hexdigest()[:8]
    fixed = [_normalised(p) for p in parts]
    fixed[-1] += f"-x{digest}"
    return prefix + "/".join(fixed)


def is_name(text: str) -> bool:
    return len(text) <= MAX_NAME and NAME.fullmatch(text) is not None


def is_tag(text: str) -> bool:
    return TAG.fullmatch(text) is not None


def ref_tag(ref: str) -> str | None:
    """The tag a ref is published under: itself where valid, ``refs/pr/3`` → ``pr-3``, other
    characters replaced by ``-``; ``None`` where no valid tag comes out (the commit still is one)."""
    if ref.startswith("refs/pr/"):
        ref = "pr-" + ref[len("refs/pr/") :]
    tag = re.sub(r"[^A-Za-z0-9._-]", "-", ref)[:128]
    return tag if is_tag(tag) else None


def revision_tags(commit: str, refs: tuple[str, ...] | list[str]) -> list[str]:
    """Every tag a revision is known by: its refs' tags (sorted, each once), then its full commit."""
    tags = sorted({t for r in refs if (t := ref_tag(r)) is not None and t != commit})
    return [*tags, commit] if is_commit(commit) else tags
