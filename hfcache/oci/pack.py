"""``pack --format oci``: revisions of a cache as ModelPack artifacts in an OCI image layout.

What is packed, and what refuses a pack, is exactly what the tar ``pack`` does: the revision is
read through the cache view and judged by the doctor (:mod:`hfcache.bundle.select`). Each file
becomes a raw layer whose digest is its sha256: an LFS blob goes in by a hard link, with no
copy and, when the digest record says its bytes hashed to its name unchanged since, no hash
either; anything else is hashed (in the copy's own pass across file systems). ``index.json``
is written last and names each manifest by its tags: its refs and its full commit.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hfcache.bundle.manifest import FileEntry
from hfcache.bundle.packhash import corrupt, manifest_entries, prehash
from hfcache.bundle.picked import PickedFile
from hfcache.bundle.refusal import picked_uses, refusal
from hfcache.bundle.select import RepoPick, select
from hfcache.errors import BadInputError
from hfcache.findings import Finding
from hfcache.fs.digests import DigestStore, identity_of
from hfcache.fs.hashing import Algo, HashJob, hash_files
from hfcache.oci.artifact import Artifact
from hfcache.oci.layoutwrite import LayoutWriter
from hfcache.oci.revision import artifact_for
from hfcache.progress import NO_PROGRESS, Progress
from hfcache.repoid import RepoName, check_revision, parse_repo_ref
from hfcache.results import EXIT_OK
from hfcache.view import Trust, ViewFile


@dataclass(frozen=True)
class OciPackResult:
    """The layout written: one artifact per revision, and how its blobs got there."""

    path: str
    artifacts: tuple[Artifact, ...]
    ref_names: tuple[tuple[str, ...], ...]
    linked: int
    copied: int
    kept: int
    bytes_total: int

    @property
    def exit_code(self) -> int:
        return EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "oci",
            "path": self.path,
            "artifacts": [
                {
                    "repo_id": a.repo.repo_id,
                    "repo_type": a.repo.repo_type,
                    "commit": a.commit,
                    "name": a.name,
                    "digest": a.digest,
                    "tags": list(a.tags),
                    "ref_names": list(names),
                    "layers": len(a.layers),
                    "bytes": sum(layer.file.size for layer in a.layers),
                }
                for a, names in zip(self.artifacts, self.ref_names, strict=True)
            ],
            "blobs": {"linked": self.linked, "copied": self.copied, "kept": self.kept},
            "bytes": self.bytes_total,
        }


def default_output(repo_id: str) -> str:
    return repo_id.rsplit("/", 1)[-1] + ".oci"


def _ref_names(a: Artifact, bare: bool) -> tuple[str, ...]:
    """What ``index.json`` tags a manifest with: ``<name>:<tag>`` always, and the bare tag
    (``main``, the commit: what ``skopeo copy oci:DIR:main`` names) when one repo is packed."""
    named = tuple(f"{a.name}:{t}" for t in a.tags)
    return (*a.tags, *named) if bare else named


def _record(store: DigestStore, path: str, sha256: str) -> None:
    with contextlib.suppress(OSError):
        store.put(path, identity_of(os.lstat(path)), {Algo.SHA256.value: sha256})


def pack_oci(
    repo_ids: list[str],
    output: str | None,
    *,
    cache_dir: str | None = None,
    repo_type: str = "model",
    revision: str = "main",
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    overwrite: bool = False,
    digests: DigestStore | None = None,
    progress: Progress = NO_PROGRESS,
) -> OciPackResult:
    """Pack ``repo_ids`` (as ``pack`` names them) into the OCI layout folder ``output``.

    :class:`~hfcache.errors.PackRefusedError` names every problem of a revision the doctor
    finds broken, as ``pack`` does; nothing is written then. ``digests``: the record of earlier
    hashes (default: hfcache's own), which spares re-hashing blobs known good.
    """
    refs = [parse_repo_ref(text, repo_type) for text in repo_ids]
    if not refs:
        raise BadInputError("name at least one repo to pack, e.g. hfl/rbt3")
    check_revision(revision)
    if output == "-":
        raise BadInputError("--format oci writes a folder (an OCI layout): give -o DIR, not '-'")
    store = digests if digests is not None else DigestStore.default()
    output = output if output is not None else default_output(refs[0].repo_id)
    picks = select(cache_dir, refs, revision=revision, include=include, exclude=exclude, digests=store)
    picks = list({(p.repo.folder, p.commit): p for p in picks}.values())
    problems = [f for p in picks for f in p.problems]
    if problems:
        raise refusal(problems, picked_uses(picks), can_leave_out=False)
    prehash(picks, progress, store)
    entries: list[list[FileEntry]] = []
    for p in picks:
        files, bad = manifest_entries(p)
        if bad:
            raise refusal(bad, picked_uses(picks), can_leave_out=False)
        entries.append(files)
    artifacts = [
        artifact_for(RepoName(p.repo.repo_type, p.repo.repo_id), p.commit, tuple(p.refs), e, _views(p))
        for p, e in zip(picks, entries, strict=True)
    ]
    bad = _hash_untrusted(picks, entries, store, progress)
    if bad:
        raise refusal(bad, picked_uses(picks), can_leave_out=False)
    writer = LayoutWriter(output, overwrite=overwrite)
    total = sum(f.size for e in entries for f in e)
    progress.start("pack", total)
    try:
        for p, a in zip(picks, artifacts, strict=True):
            bad_file = _put_layers(writer, p, a, progress.advance)
            if bad_file is not None:  # changed since it was hashed, on its way in by copy
                raise refusal([bad_file], picked_uses(picks), can_leave_out=False)
            writer.put_bytes(a.config, a.config_digest[7:])
            writer.put_bytes(a.manifest, a.digest[7:])
    finally:
        progress.finish()
    bare = len({a.repo for a in artifacts}) == 1
    names = [_ref_names(a, bare) for a in artifacts]
    writer.commit([a.descriptor(n) for a, ns in zip(artifacts, names, strict=True) for n in ns])
    return OciPackResult(
        writer.path, tuple(artifacts), tuple(names), writer.linked, writer.copied, writer.kept, total
    )


def _views(p: RepoPick) -> list[ViewFile]:
    return [f.view() for f in p.files]


def _hash_untrusted(
    picks: list[RepoPick], entries: list[list[FileEntry]], store: DigestStore, progress: Progress
) -> list[Finding]:
    """Hash, on every core, each LFS blob no record vouches for (the small files were hashed by
    ``prehash``); record the good ones, and return a finding for each whose bytes are not its name."""
    jobs: dict[str, tuple[RepoPick, PickedFile, str]] = {}
    for p, files in zip(picks, entries, strict=True):
        sha = {f.path: f.sha256 for f in files}
        for vf in p.files:
            if vf.lfs and vf.trust is not Trust.HASHED and vf.name in sha:
                jobs.setdefault(vf.path, (p, vf, sha[vf.name]))
    if not jobs:
        return []
    found: list[Finding] = []
    progress.start("check", sum(vf.size for _, vf, _ in jobs.values()))
    try:
        results = hash_files(
            (HashJob(path, frozenset({Algo.SHA256}), vf.size) for path, (_, vf, _) in jobs.items()),
            progress=progress.advance,
        )
        for result in results:
            p, vf, expected = jobs[result.job.path]
            actual = result.digests.get(Algo.SHA256)
            if actual == expected:
                _record(store, result.job.path, expected)
            else:
                found.append(corrupt(p.repo, p.commit, vf.name, vf.path, expected, actual or "(unreadable)"))
    finally:
        progress.finish()
    return found


def _put_layers(
    writer: LayoutWriter, p: RepoPick, a: Artifact, advance: Callable[[int], None]
) -> Finding | None:
    """Every layer of ``a`` into the layout, each file's bytes hashed already: linked as they are,
    or hashed again in the pass that copies them. The finding for a file whose copy does not
    match, else ``None``."""
    by_name = {f.name: f for f in p.files}
    done: set[str] = set()
    for layer in a.layers:
        f = layer.file
        if f.sha256 in done:
            advance(f.size)
            continue
        vf = by_name[f.path]
        actual = writer.put_file(vf.path, f.sha256, f.size, trusted=True, progress=advance)
        if actual is not None:
            return corrupt(p.repo, p.commit, vf.name, vf.path, f.etag, actual)
        done.add(f.sha256)
    return None
