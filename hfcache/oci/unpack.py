"""``unpack`` of OCI artifacts: a layout folder or a registry, into a cache or a plain folder.

Everything is fetched and verified into a private staging folder on the target's file system
first (every layer against its digest, every annotated blob id against the bytes); only then
is anything moved into the target, by the same installer bundles use: blobs named as the Hub
names them, the tree listing, refs, then the snapshot links. A hostile or broken artifact
raises :class:`~hfcache.errors.ArtifactError` and the target is left exactly as it was. What was
installed is then checked with the doctor's own checks.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from hfcache import __version__, _hf, layout
from hfcache.bundle.install import existing_blob, install_cache, install_local_dir
from hfcache.bundle.manifest import FileEntry, Manifest, RepoEntry
from hfcache.bundle.receive import existing_ok
from hfcache.bundle.received import Received
from hfcache.bundle.unpack import UnpackResult, recheck, staging_folder
from hfcache.errors import BadInputError
from hfcache.fs import fsops
from hfcache.fs.digests import DigestStore
from hfcache.fs.hashing import Algo, git_blob_sha1
from hfcache.oci.identity import HUB_LFS_THRESHOLD, Identity, etags, identify
from hfcache.oci.read import MAX_CONFIG_BYTES, ModelArtifact, parse_json, read_manifest
from hfcache.oci.source import ArtifactSource, Named, check_digest
from hfcache.oci.stage import StagedFile, stage_layers
from hfcache.progress import NO_PROGRESS, Progress
from hfcache.units import human_size

SPACE_MARGIN = 256 << 20


def _config(source: ArtifactSource, art: ModelArtifact, where: str) -> Mapping[str, Any]:
    with source.open_blob(art.config_digest, art.config_size) as f:
        data = f.read(art.config_size + 1)
    check_digest(data, "sha256:" + art.config_digest, f"{where} config")
    return parse_json(data, where, "config", MAX_CONFIG_BYTES)


def _pointer_id(sha256: str, size: int) -> str:
    """The git blob id the Hub lists for an LFS file: that of its pointer file."""
    return git_blob_sha1(
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()
    )


def _tree(files: list[FileEntry]) -> bytes:
    """``trees/<commit>.json`` as huggingface_hub writes it (``_tree_cache.write_tree_cache``)."""
    listed: dict[str, Any] = {}
    for f in sorted(files, key=lambda f: f.path):
        if f.etag == f.sha256:
            listed[f.path] = {
                "size": f.size,
                "blob_id": _pointer_id(f.sha256, f.size),
                "lfs_sha256": f.sha256,
                "lfs_size": f.size,
            }
        else:
            listed[f.path] = {"size": f.size, "blob_id": f.etag}
    return json.dumps({"format_version": _hf.TREE_CACHE_FORMAT_VERSION, "files": listed}, indent=1).encode()


class _Plan:
    """The artifacts read, with their identities: what will be fetched and installed."""

    def __init__(self, source: ArtifactSource, repo_id: str | None, repo_type: str) -> None:
        self.items: list[tuple[Named, ModelArtifact, Identity]] = []
        for named in source.manifests():
            art = read_manifest(named.data, named.where)
            ident = identify(art, _config(source, art, named.where), named.name, repo_id, repo_type)
            self.items.append((named, art, ident))
        commits: dict[tuple[Any, str], str] = {}
        for _, _, ident in self.items:
            for ref in ident.refs:
                other = commits.setdefault((ident.repo, ref), ident.commit)
                if other != ident.commit:
                    raise BadInputError(f"{source.label}: two artifacts give {ident.repo} the ref {ref!r}")

    @property
    def total(self) -> int:
        return sum({x.digest: x.size for _, a, _ in self.items for x in a.layers}.values())


def _received(
    plan: _Plan,
    staged: dict[str, list[StagedFile]],
    staging: str | None,
    existing: Callable[[str, str], str | None],
) -> Received:
    """The verified files as the installer takes them (a bundle's ``Received``). A blob the
    target already holds with exactly these bytes is verified there and left alone."""
    repos: list[RepoEntry] = []
    out = Received(Manifest(__version__, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), []))
    claimed: set[str] = set()
    for named, art, ident in plan.items:
        folder = layout.repo_folder(ident.repo.repo_id, ident.repo.repo_type)
        mine = {d: staged[d] for d in {x.digest for x in art.layers}}
        names = etags(art, mine)
        files = [
            FileEntry(f.name, f.size, f.digests[Algo.SHA256], names[f.name])
            for fs in mine.values()
            for f in fs
        ]
        files.sort(key=lambda f: f.path)
        if len({f.path for f in files}) != len(files):
            raise BadInputError(f"{named.where}: two layers hold the same file")
        revision = named.tag if named.tag in ident.refs else ident.commit
        repos.append(
            RepoEntry(
                ident.repo.repo_id,
                ident.repo.repo_type,
                folder,
                revision or ident.commit,
                ident.commit,
                {r: ident.commit for r in ident.refs},
                files,
                tree=True,
            )
        )
        by_name = {f.name: f for fs in mine.values() for f in fs}
        for f in files:
            src, key = by_name[f.path].path, (folder, f.etag)
            if staging is None or src is None or key in out.staged or key in out.present:
                continue
            there = existing(folder, f.etag)
            if there is not None and existing_ok(there, f.etag, f.sha256, f.size):
                out.present[key] = there
            else:
                out.staged[key] = _claim(src, claimed)
        for ref in ident.refs:
            out.refs[(folder, ref)] = ident.commit
        if _hf.HAS_TREE_CACHE:
            out.trees[(folder, ident.commit)] = _tree(files)
    out.manifest = replace(out.manifest, repos=repos)  # its snapshot links are these repos' files
    out.bytes_read = plan.total
    return out


def _claim(src: str, claimed: set[str]) -> str:
    """A staged file for one blob of one repo: ``src`` itself, or a hard link to it when another
    blob already takes it (two repos, or two etags, holding the same bytes)."""
    if src not in claimed:
        claimed.add(src)
        return src
    n = len(claimed)
    while True:
        other = f"{src}.{n}"
        try:
            os.link(src, other)
        except FileExistsError:
            n += 1
            continue
        except OSError:
            shutil.copyfile(src, other)
        claimed.add(other)
        return other


def unpack_oci(
    source: ArtifactSource,
    *,
    cache_dir: str | None = None,
    local_dir: str | None = None,
    check_only: bool = False,
    repo_id: str | None = None,
    repo_type: str = "model",
    progress: Progress = NO_PROGRESS,
) -> UnpackResult:
    """Verify and install the artifacts ``source`` names (see the module docstring).

    ``repo_id`` names the repo of an artifact another tool made (hfcache's own name theirs);
    ``check_only`` fetches and verifies everything and installs nothing.
    """
    if cache_dir is not None and local_dir is not None:
        raise BadInputError("give --cache-dir or --local-dir, not both")
    plan = _Plan(source, repo_id, repo_type)
    existing: Callable[[str, str], str | None]
    if local_dir is not None:
        target = os.path.abspath(os.path.expanduser(local_dir))
        staging_parent = os.path.join(target, layout.HFCACHE_DIR)
        existing = lambda folder, etag: None  # noqa: E731 - install_local_dir keeps identical files itself
    else:
        target = layout.cache_target(cache_dir)
        staging_parent = os.path.join(target, layout.LOCKS_DIR)
        existing = existing_blob(target)
    if os.path.exists(target) and not os.path.isdir(target):
        raise BadInputError(f"not a folder: {target}")
    if not check_only:
        _free_space(target, plan.total)
    layers = [x for _, a, _ in plan.items for x in a.layers]
    progress.start("unpack" if not check_only else "check", plan.total)
    try:
        with staging_folder(staging_parent) as staging, fsops.named(target, staging):
            staged = stage_layers(
                source,
                layers,
                staging,
                keep=not check_only,
                sha1_up_to=HUB_LFS_THRESHOLD,
                advance=progress.advance,
            )
            progress.finish()
            received = _received(plan, staged, None if check_only else staging, existing)
            if check_only:
                return UnpackResult(received.manifest, None, False, None, (), plan.total)
            plain = local_dir is not None
            store = DigestStore.default()
            installed = (
                install_local_dir(received, target) if plain else install_cache(received, target, store=store)
            )
    finally:
        progress.finish()
    reports = recheck(received, target, local_dir is not None)
    return UnpackResult(received.manifest, target, local_dir is not None, installed, reports, plan.total)


def _free_space(target: str, needed: int) -> None:
    probe = target
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    with contextlib.suppress(OSError):
        st = os.statvfs(probe)
        free = st.f_bavail * st.f_frsize
        if needed + SPACE_MARGIN > free:
            raise BadInputError(
                f"not enough space in {target}: the artifacts need {human_size(needed)} plus a "
                f"{human_size(SPACE_MARGIN)} safety margin, {human_size(free)} free"
            )
