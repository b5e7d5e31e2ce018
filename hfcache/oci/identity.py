"""Which repo, commit and refs an artifact installs as, and each file's Hub blob id.

hfcache's own artifacts say all of it in their annotations. An artifact another tool made
(modctl, KitOps) says less: the repo comes from ``--repo-id``, else the config's
``descriptor.name`` when it is a Hub id, else the registry path it was pulled from; the commit is
``descriptor.revision`` when that is a full commit, else one derived from the manifest digest (so
the same artifact always installs as the same snapshot); the ref is ``main``, which
huggingface_hub loads by default. A file's blob id is its sha256 when it is an LFS file and git's
blob hash otherwise; LFS-ness comes from the annotations, else from the Hub's own rules: a file
over 10 MiB is LFS (the Hub refuses it in git), one matched by a ``filter=lfs`` line of the
artifact's ``.gitattributes`` is, and without that file, weights are.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hfcache.errors import ArtifactError, BadInputError
from hfcache.fs.hashing import Algo
from hfcache.oci import mediatypes as mt
from hfcache.oci.read import ModelArtifact
from hfcache.oci.stage import StagedFile
from hfcache.repoid import RepoName, is_commit, is_repo_id

HUB_LFS_THRESHOLD = 10 * 1024 * 1024
"""The Hub refuses files larger than this in git: they are LFS."""
DEFAULT_REF = "main"


@dataclass(frozen=True)
class Identity:
    repo: RepoName
    commit: str
    refs: tuple[str, ...]
    foreign: bool


def identify(
    art: ModelArtifact,
    config: Mapping[str, Any],
    reference_name: str | None,
    repo_id: str | None,
    repo_type: str,
) -> Identity:
    """The repo, commit and refs ``art`` installs as (see the module docstring)."""
    if repo_id is not None and not is_repo_id(repo_id):
        raise BadInputError(f"--repo-id {repo_id!r} is not a Hub repo id (org/name)")
    descriptor = config.get("descriptor") if isinstance(config.get("descriptor"), dict) else {}
    assert isinstance(descriptor, dict)
    if art.repo is not None and art.commit is not None:
        repo = RepoName(art.repo.repo_type, repo_id) if repo_id else art.repo
        return Identity(repo, art.commit, art.refs, foreign=False)
    name = descriptor.get("name")
    candidates = [repo_id, name if isinstance(name, str) and "/" in name else None, reference_name]
    chosen = next((c for c in candidates if c is not None and is_repo_id(c)), None)
    if chosen is None:
        raise BadInputError(
            f"{art.digest[:19]}… names no Hugging Face repo (it was not made by hfcache): "
            "give --repo-id ORG/NAME"
        )
    revision = descriptor.get("revision")
    commit = revision if isinstance(revision, str) and is_commit(revision) else art.digest[7:47]
    return Identity(RepoName(repo_type, chosen), commit, (DEFAULT_REF,), foreign=True)


def _lfs_patterns(files: list[StagedFile]) -> list[str] | None:
    """The ``filter=lfs`` patterns of the artifact's root ``.gitattributes``, if it has one."""
    attrs = next((f for f in files if f.name == ".gitattributes" and f.path), None)
    if attrs is None or attrs.path is None:
        return None
    with open(attrs.path, "rb") as fh:
        text = fh.read(1 << 20).decode("utf-8", "replace")
    return [line.split()[0] for line in text.splitlines() if "filter=lfs" in line.split()[1:]]


def _is_lfs(name: str, size: int, kind: mt.Kind, patterns: list[str] | None) -> bool:
    if size > HUB_LFS_THRESHOLD:
        return True
    if patterns is None:
        return kind is mt.Kind.WEIGHT
    base = posixpath.basename(name)
    return any(fnmatch.fnmatchcase(name if "/" in p else base, p.lstrip("/")) for p in patterns)


def etags(art: ModelArtifact, staged: Mapping[str, list[StagedFile]]) -> dict[str, str]:
    """File name → its blob id in the cache. An annotated etag is checked against the bytes;
    a git hash that was not computed (a big file) means the file is LFS."""
    files = [f for fs in staged.values() for f in fs]
    patterns = _lfs_patterns(files)
    out: dict[str, str] = {}
    for layer in art.layers:
        for f in staged[layer.digest]:
            if layer.packing is not mt.Packing.RAW or layer.path == f.name:
                out[f.name] = _etag(f, layer.etag, layer.lfs, layer.kind, patterns)
    return out


def _etag(
    f: StagedFile, etag: str | None, lfs: bool | None, kind: mt.Kind, patterns: list[str] | None
) -> str:
    sha256, sha1 = f.digests[Algo.SHA256], f.digests.get(Algo.GIT_SHA1)
    if etag is not None:
        if etag not in (sha256, sha1):
            raise ArtifactError(
                f"{f.name}: its bytes are not the blob {etag} its annotation names; nothing was installed"
            )
        return etag
    lfs = _is_lfs(f.name, f.size, kind, patterns) if lfs is None else lfs
    if lfs or sha1 is None:
        return sha256
    return sha1
