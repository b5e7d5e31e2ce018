"""``unpack``: verify a bundle completely, then install it into a cache or a plain folder.

The order is what keeps a target safe: the bundle is read to its end and every member checked
and every blob hashed into a private staging folder first; only then is anything moved into
the target. A corrupt, truncated, hostile or foreign file raises :class:`BundleError` and the
target is left exactly as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hfcache import layout
from hfcache.bundle.checksums import verify_volumes
from hfcache.bundle.delta import complete
from hfcache.bundle.dryrun import SPACE_MARGIN, InstallPlan, plan_cache, plan_local_dir
from hfcache.bundle.install import (
    Installed,
    LocalFiles,
    existing_blob,
    install_cache,
    install_local_dir,
    local_root,
)
from hfcache.bundle.manifest import Manifest, blobs_of
from hfcache.bundle.members import PlainTarError
from hfcache.bundle.receive import receive
from hfcache.bundle.received import Received
from hfcache.bundle.shortfall import CutShortError, check_length, explain
from hfcache.bundle.staged import DamagedError
from hfcache.bundle.volread import open_bundle
from hfcache.doctor import Report, diagnose
from hfcache.errors import BadInputError, BundleError
from hfcache.findings import Finding
from hfcache.fs import fsops
from hfcache.fs.digests import DigestStore
from hfcache.fs.writeback import syncfs_reports_errors
from hfcache.layout import Location, PathKind
from hfcache.progress import NO_PROGRESS, Progress
from hfcache.results import EXIT_OK, EXIT_PROBLEMS
from hfcache.units import human_size

STAGING_PREFIX = "hfcache-unpack-"


@dataclass(frozen=True)
class UnpackResult:
    """A verified (and, unless only checked, installed) bundle, and what to tell the admin."""

    manifest: Manifest
    target: str | None
    local_dir: bool
    installed: Installed | None
    reports: tuple[Report, ...]
    bytes_verified: int
    plan: InstallPlan | None = None
    """With ``--check`` and a target: what an install there would do."""
    checksum_file: str | None = None
    """The volumes' ``sha256sum`` file that ``--check`` verified them against."""

    @property
    def recorded(self) -> list[tuple[str, dict[str, Any]]]:
        """(repo id, finding) for each problem the manifest records (packed --allow-incomplete)."""
        return [(r.repo_id, p) for r in self.manifest.repos for p in r.problems]

    @property
    def problems(self) -> list[Finding]:
        """Errors and warnings the doctor found in what was installed."""
        return [f for r in self.reports for f in r.problems]

    def hints(self) -> list[str]:
        """Lines for the server: where the cache is, offline mode, and how to load each repo.

        Each works as printed: a revision is named by a ref the bundle carries, else by its full
        commit; datasets load with ``load_dataset``. None when the check after install failed.
        """
        if self.target is None or self.problems:
            return []
        if self.local_dir:
            return [
                _load_line(r.repo_type, local_root(self.target, r, self.manifest), "", from_cache=False)
                for r in self.manifest.repos
            ]
        # HF_HUB_CACHE wins over HF_HOME and the legacy HUGGINGFACE_HUB_CACHE, whatever else is set.
        lines = [f"export HF_HUB_CACHE={shlex.quote(self.target)}", "export HF_HUB_OFFLINE=1"]
        for repo in self.manifest.repos:
            revision = repo.revision if repo.revision in repo.refs else repo.commit
            rev = "" if revision == "main" else f", revision={json.dumps(revision)}"
            lines.append(_load_line(repo.repo_type, repo.repo_id, rev))
        return lines

    @property
    def exit_code(self) -> int:
        """:data:`EXIT_PROBLEMS` when the check after installing found problems, else :data:`EXIT_OK`."""
        return EXIT_PROBLEMS if self.problems else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        inst = self.installed
        return {
            "target": self.target,
            "local_dir": self.local_dir,
            "verified_bytes": self.bytes_verified,
            "repos": [
                {"repo_id": r.repo_id, "repo_type": r.repo_type, "commit": r.commit, "files": len(r.files)}
                for r in self.manifest.repos
            ],
            "installed": None
            if inst is None
            else {
                "blobs_written": inst.blobs_written,
                "blobs_already_present": inst.blobs_kept,
                "bytes_written": inst.bytes_written,
                "links": inst.links,
                "quarantined": list(inst.quarantined),
            },
            "findings": [f.to_json() for r in self.reports for f in r.findings],
            "recorded_problems": [{"repo_id": repo_id, **p} for repo_id, p in self.recorded],
            "checksum_file": self.checksum_file,
            "plan": self.plan.to_json() if self.plan is not None else None,
            "hints": self.hints(),
        }


def _load_line(repo_type: str, what: str, rev: str, *, from_cache: bool = True) -> str:
    """One self-contained Python line that loads a model or dataset, from the cache by id or from a
    folder. datasets does not read the hub cache offline by repo id, so its files are found first."""
    name = json.dumps(what)
    if repo_type == "model":
        return f"from transformers import AutoModel; model = AutoModel.from_pretrained({name}{rev})"
    if repo_type == "dataset" and not from_cache:
        return f"from datasets import load_dataset; ds = load_dataset({name})"
    fetch = f'snapshot_download({name}, repo_type="{repo_type}"{rev})'
    if repo_type == "dataset":
        imports = "from datasets import load_dataset; from huggingface_hub import snapshot_download"
        return f"{imports}; ds = load_dataset({fetch})"
    return f"from huggingface_hub import snapshot_download; path = {fetch}"


def _free_space_check(target: str, manifest: Manifest, existing: Any) -> None:
    needed = sum(
        f.size
        for folder, entries in manifest.by_folder()
        for etag, f in blobs_of(entries).items()
        if existing(folder, etag) is None
    )
    free = shutil.disk_usage(target).free
    # Room for the staged copy plus a margin; the rename into place costs nothing more.
    if needed + SPACE_MARGIN > free:
        raise BundleError(
            f"not enough free space in {target}: {human_size(needed)} needed plus a "
            f"{human_size(SPACE_MARGIN)} safety margin, {human_size(free)} free"
        )


def _on_manifest(
    manifest: Manifest, paths: list[str], target: str, existing: Any, local: LocalFiles | None
) -> None:
    """Before any blob: is the bundle as long as its manifest needs, and is there room for it?"""
    check_length(paths, manifest)
    if local is not None:
        local.on_manifest(manifest)
    _free_space_check(_nearest_existing(target), manifest, existing)


def _nearest_existing(path: str) -> str:
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return path


@contextlib.contextmanager
def staging_folder(parent: str) -> Any:
    """A private folder on the target's file system (so staged blobs rename into place for free)."""
    created = []
    probe = parent
    while not os.path.isdir(probe):
        created.append(probe)
        probe = os.path.dirname(probe)
    os.makedirs(parent, exist_ok=True)
    path = os.path.join(parent, STAGING_PREFIX + secrets.token_hex(4))
    os.makedirs(path)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        for folder in created:  # leave no empty folder behind that was made only for staging
            with contextlib.suppress(OSError):
                os.rmdir(folder)


def unpack(
    source: str,
    *,
    cache_dir: str | None = None,
    local_dir: str | None = None,
    check_only: bool = False,
    digests: DigestStore | None = None,
    progress: Progress = NO_PROGRESS,
) -> UnpackResult:
    """Verify and install a bundle (``-``: stdin; a ``.001`` volume: all volumes in order).

    ``cache_dir`` defaults to huggingface_hub's own cache; ``local_dir`` writes plain files
    instead; ``check_only`` verifies everything and installs nothing.
    """
    if cache_dir is not None and local_dir is not None:
        raise BadInputError("give --cache-dir or --local-dir, not both")
    source, stream, paths = open_bundle(source)
    with contextlib.closing(stream):
        if check_only:
            return _check(paths, stream, cache_dir, local_dir, progress)
        local: LocalFiles | None = None
        if local_dir is not None:
            target = os.path.abspath(os.path.expanduser(local_dir))
            staging_parent = os.path.join(target, layout.HFCACHE_DIR)
            local = LocalFiles(target)
            existing: Any = local
        else:
            target = layout.cache_target(cache_dir)
            staging_parent = os.path.join(target, layout.LOCKS_DIR)
            existing = existing_blob(target)
        if os.path.exists(target) and not os.path.isdir(target):
            raise BadInputError(f"not a folder: {target}")
        # One syncfs makes all staged blobs durable before any is renamed into place (and one
        # more the install), where the kernel reports write errors through it; else each staged
        # file is fsynced as it is written.
        one_sync = syncfs_reports_errors()
        # Staged files are hfcache's own: what goes wrong with them (a full disk) names the target.
        with staging_folder(staging_parent) as staging, fsops.named(target, staging):
            with _why_it_failed(paths, progress, None if local_dir else target):
                received = receive(
                    stream,
                    staging=staging,
                    existing=existing,
                    on_manifest=lambda m: _on_manifest(m, paths, target, existing, local),
                    progress=progress,
                    sync_each=not one_sync,
                )
            store = digests if digests is not None else DigestStore.default()
            if received.manifest.is_delta:
                complete(received, None if local_dir else target, existing, staging, store)
            installed = _install(received, target, local_dir is not None, store, one_sync)
    reports = recheck(received, target, local_dir is not None)
    return UnpackResult(
        received.manifest, target, local_dir is not None, installed, reports, received.bytes_read
    )


@contextlib.contextmanager
def _why_it_failed(
    paths: list[str], progress: Progress, hub: str | None, *, volumes_checked: bool = False
) -> Iterator[None]:
    """A bundle that does not verify, said as what to do: extract a plain tar of a cache with tar
    (into ``hub``), copy again a volume its checksum file says is damaged or the volumes its sizes
    say are missing, else where it ends."""
    try:
        yield
    except PlainTarError as e:
        raise BundleError(e.hint(paths[0] if paths else "-", hub)) from None
    except DamagedError as e:
        if not volumes_checked:  # damaged bytes: a volume that does not match its checksum says why
            _, bad = verify_volumes(paths, progress)
            if bad:
                raise BundleError("; ".join(bad)) from None
        if isinstance(e, CutShortError):
            raise explain(paths, e) from None
        raise


def _check(
    paths: list[str], stream: Any, cache_dir: str | None, local_dir: str | None, progress: Progress
) -> UnpackResult:
    """``--check``: the volumes against their checksum file, the whole bundle, and (with a target)
    what an install there would do."""
    listed, bad = verify_volumes(paths, progress)
    if bad:
        raise BundleError("; ".join(bad))
    hub = layout.cache_target(cache_dir) if cache_dir is not None else None
    with _why_it_failed(paths, progress, hub, volumes_checked=True):
        received = receive(
            stream, staging=None, on_manifest=lambda m: check_length(paths, m), progress=progress
        )
    plan = None
    if local_dir is not None:
        root = os.path.abspath(os.path.expanduser(local_dir))
        if received.manifest.is_delta:
            local = LocalFiles(root)
            local.on_manifest(received.manifest)
            complete(received, None, local, None)
        plan = plan_local_dir(received.manifest, root)
    elif cache_dir is not None:
        target = layout.cache_target(cache_dir)
        if received.manifest.is_delta:
            complete(received, target, existing_blob(target), None, DigestStore.default())
        plan = plan_cache(received.manifest, target, existing_blob(target))
    return UnpackResult(received.manifest, None, False, None, (), received.bytes_read, plan, listed)


def _install(received: Received, target: str, plain: bool, store: DigestStore, one_sync: bool) -> Installed:
    if plain:
        return install_local_dir(received, target, one_sync=one_sync)
    return install_cache(received, target, store=store, one_sync=one_sync)


def recheck(received: Received, target: str, plain: bool) -> tuple[Report, ...]:
    """Check what was installed, with the doctor's own checks."""
    manifest = received.manifest
    if plain:
        roots = [local_root(target, r, manifest) for r in manifest.repos]
        return tuple(diagnose(Location(PathKind.LOCAL_DIR, root, root)) for root in roots)
    folders = manifest.folders()  # without making an entry
    return tuple(diagnose(Location(PathKind.REPO, os.path.join(target, f), target, f)) for f in folders)
