"""``unpack``: verify a bundle completely, then install it into a cache or a plain folder.

The order is what keeps a target safe: the bundle is read to its end and every member checked
and every blob hashed into a private staging folder first; only then is anything moved into
the target. A corrupt, truncated, hostile or foreign file raises :class:`BundleError` and the
target is left exactly as it was.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from dataclasses import dataclass
from typing import Any

from hfcache import layout
from hfcache.bundle.install import Installed, existing_blob, install_cache, install_local_dir
from hfcache.bundle.manifest import Manifest
from hfcache.bundle.receive import Received, receive
from hfcache.bundle.volread import open_volumes
from hfcache.doctor import Report, diagnose
from hfcache.errors import BadInputError, BundleError
from hfcache.layout import Location, PathKind
from hfcache.progress import NO_PROGRESS, Progress
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

    def hints(self) -> list[str]:
        """Shell lines for the server: where the cache is, offline mode, and how to load each repo."""
        if self.target is None:
            return []
        if self.local_dir:
            return [f'AutoModel.from_pretrained("{self.target}")  # or any from_pretrained / load path']
        lines = []
        if os.path.basename(self.target) == "hub":
            lines.append(f"export HF_HOME={os.path.dirname(self.target)}")
        else:
            lines.append(f"export HF_HUB_CACHE={self.target}")
        lines.append("export HF_HUB_OFFLINE=1")
        for repo in self.manifest.repos:
            rev = "" if repo.revision == "main" else f', revision="{repo.revision}"'
            if repo.repo_type == "model":
                lines.append(f'AutoModel.from_pretrained("{repo.repo_id}"{rev})')
            else:
                lines.append(f'snapshot_download("{repo.repo_id}", repo_type="{repo.repo_type}"{rev})')
        return lines

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
            "hints": self.hints(),
        }


def _free_space_check(target: str, manifest: Manifest, existing: Any) -> None:
    needed = sum(f.size for (folder, etag), f in manifest.blobs().items() if existing(folder, etag) is None)
    free = shutil.disk_usage(target).free
    # Room for the staged copy plus a margin; the rename into place costs nothing more.
    if needed + 64 * 1024 * 1024 > free:
        raise BundleError(
            f"not enough free space in {target}: {human_size(needed)} needed, {human_size(free)} free"
        )


def _nearest_existing(path: str) -> str:
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return path


@contextlib.contextmanager
def _staging(parent: str) -> Any:
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
    progress: Progress = NO_PROGRESS,
) -> UnpackResult:
    """Verify and install a bundle (``-``: stdin; a ``.001`` volume: all volumes in order).

    ``cache_dir`` defaults to huggingface_hub's own cache; ``local_dir`` writes plain files
    instead; ``check_only`` verifies everything and installs nothing.
    """
    if cache_dir is not None and local_dir is not None:
        raise BadInputError("give --cache-dir or --local-dir, not both")
    try:
        stream = open_volumes(source)
    except OSError as e:
        raise BadInputError(f"cannot read {source}: {e.strerror or e}") from None
    with contextlib.closing(stream):
        if check_only:
            received = receive(stream, staging=None, progress=progress)
            return UnpackResult(received.manifest, None, False, None, (), received.bytes_read)
        if local_dir is not None:
            target = os.path.abspath(os.path.expanduser(local_dir))
            staging_parent = os.path.join(target, layout.HFCACHE_DIR)
            existing: Any = lambda folder, etag: None  # noqa: E731
        else:
            target = layout.cache_target(cache_dir)
            staging_parent = os.path.join(target, layout.LOCKS_DIR)
            existing = existing_blob(target)
        if os.path.exists(target) and not os.path.isdir(target):
            raise BadInputError(f"not a folder: {target}")
        with _staging(staging_parent) as staging:
            received = receive(
                stream,
                staging=staging,
                existing=existing,
                on_manifest=lambda m: _free_space_check(_nearest_existing(target), m, existing),
                progress=progress,
            )
            installed = _install(received, target, local_dir is not None)
    reports = _recheck(received, target, local_dir is not None)
    return UnpackResult(
        received.manifest, target, local_dir is not None, installed, reports, received.bytes_read
    )


def _install(received: Received, target: str, plain: bool) -> Installed:
    return install_local_dir(received, target) if plain else install_cache(received, target)


def _recheck(received: Received, target: str, plain: bool) -> tuple[Report, ...]:
    """Check what was installed, with the doctor's own checks."""
    if plain:
        return (diagnose(Location(PathKind.LOCAL_DIR, target, target)),)
    return tuple(
        diagnose(Location(PathKind.REPO, os.path.join(target, r.folder), target, r.folder))
        for r in received.manifest.repos
    )
