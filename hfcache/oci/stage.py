"""Fetch an artifact's layers into a private staging folder, every byte hashed on the way.

A raw layer is one file: its bytes are copied from the source while sha256 (and, where the
file's Hub blob id may be a git sha1, git's blob hash) is computed, and anything that does not
hash to its digest stops the unpack before a byte is installed. A tar layer (spec v0.0.x, other
tools) is verified whole, then its members are read with hfcache's own checks: regular files
and folders only, names that stay inside the repo, each file hashed as it is written.
"""

from __future__ import annotations

import os
import stat
import tarfile
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from hfcache.errors import ArtifactError
from hfcache.fs.hashing import Algo
from hfcache.fs.streamcopy import copy_hashed
from hfcache.oci import mediatypes as mt
from hfcache.oci.read import ArtifactLayer
from hfcache.oci.source import ArtifactSource
from hfcache.repoid import path_in_repo_problem

MAX_TAR_MEMBERS = 100_000


@dataclass(frozen=True)
class StagedFile:
    """A file of the revision, staged (``path`` is ``None`` when only checked, not kept)."""

    name: str
    path: str | None
    size: int
    digests: dict[Algo, str]


def _nothing(where: str, why: str) -> ArtifactError:
    return ArtifactError(f"{where}: {why}; nothing was installed")


def _linked(source: ArtifactSource, layer: ArtifactLayer, dest: str | None) -> bool:
    """Hard-link the layer's file to ``dest`` where the source is a folder on the same file
    system (no copy; the link is then hashed like any copy)."""
    local = getattr(source, "local_path", None)
    if dest is None or local is None:
        return False
    try:
        st = os.lstat(local(layer.digest))
        if st.st_size != layer.size or not stat.S_ISREG(st.st_mode):
            return False  # open_blob says what is wrong with it
        os.link(local(layer.digest), dest, follow_symlinks=False)
    except OSError:
        return False
    return True


def _check(source: ArtifactSource, layer: ArtifactLayer, digests: dict[Algo, str]) -> dict[Algo, str]:
    if digests[Algo.SHA256] != layer.digest:
        raise _nothing(
            source.label,
            f"the layer {layer.path or ''} (sha256:{layer.digest[:12]}…) hashes to "
            f"sha256:{digests[Algo.SHA256][:12]}…",
        )
    return digests


def _fetch(
    source: ArtifactSource,
    layer: ArtifactLayer,
    dest: str | None,
    algos: set[Algo],
    advance: Callable[[int], None],
) -> dict[Algo, str]:
    """The layer's bytes into ``dest`` (``None``: hash only), checked against its digest."""
    if _linked(source, layer, dest):
        assert dest is not None
        with open(dest, "rb") as linked:
            return _check(
                source, layer, copy_hashed(linked, None, layer.size, algos | {Algo.SHA256}, progress=advance)
            )
    with source.open_blob(layer.digest, layer.size) as src:
        try:
            if dest is None:
                digests = copy_hashed(src, None, layer.size, algos | {Algo.SHA256}, progress=advance)
            else:
                with open(dest, "xb") as out:
                    digests = copy_hashed(src, out, layer.size, algos | {Algo.SHA256}, progress=advance)
        except EOFError:
            raise _nothing(
                source.label, f"blob sha256:{layer.digest[:12]}… ended before its {layer.size} bytes"
            ) from None
    return _check(source, layer, digests)


def _member_name(ti: tarfile.TarInfo, where: str) -> str | None:
    name = ti.name.removeprefix("./").rstrip("/")
    if ti.isdir() and name in ("", "."):
        return None
    if not (ti.isreg() or ti.isdir()):
        raise _nothing(
            where, f"the tar layer holds {ti.name[:200]!r}, which is not a regular file or a folder"
        )
    if (why := path_in_repo_problem(name)) is not None:
        raise _nothing(where, f"the tar layer names {ti.name[:200]!r}, which {why}")
    return None if ti.isdir() else name


def _untar(tar_path: str, layer: ArtifactLayer, staging: str, keep: bool, where: str) -> list[StagedFile]:
    """Every file of a verified tar layer, staged (and hashed) under ``staging``."""
    out: list[StagedFile] = []
    gz = layer.packing is mt.Packing.TAR_GZIP
    try:
        with tarfile.open(tar_path, "r:gz") if gz else tarfile.open(tar_path, "r:") as tf:
            for i, ti in enumerate(tf):
                if i >= MAX_TAR_MEMBERS:
                    raise _nothing(where, f"a tar layer holds more than {MAX_TAR_MEMBERS} members")
                name = _member_name(ti, where)
                if name is None:
                    continue
                src = tf.extractfile(ti)
                assert src is not None  # a regular file
                dest = os.path.join(staging, f"{layer.digest}.{i}") if keep else None
                with src, open(dest, "xb") if dest else open(os.devnull, "wb") as sink:
                    digests = copy_hashed(src, sink, ti.size, (Algo.SHA256, Algo.GIT_SHA1))
                out.append(StagedFile(name, dest, ti.size, digests))
    except (tarfile.TarError, EOFError) as e:
        raise _nothing(where, f"a tar layer (sha256:{layer.digest[:12]}…) cannot be read: {e}") from None
    return out


def stage_layers(
    source: ArtifactSource,
    layers: Iterable[ArtifactLayer],
    staging: str,
    *,
    keep: bool,
    sha1_up_to: int,
    advance: Callable[[int], None],
) -> dict[str, list[StagedFile]]:
    """Fetch each distinct layer once (``source.concurrency`` at a time) into ``staging``, or
    with ``keep`` false only hash it (a tar layer passes through ``staging`` to be read);
    digest → the files it holds. git's blob hash is computed for files of at most
    ``sha1_up_to`` bytes and for those whose etag is one (the Hub's non-LFS files)."""
    unique = {layer.digest: layer for layer in layers}
    lock = threading.Lock()

    def report(n: int) -> None:
        with lock:
            advance(n)

    def one(layer: ArtifactLayer) -> tuple[str, list[StagedFile]]:
        dest = os.path.join(staging, layer.digest)
        if layer.packing is mt.Packing.RAW:
            assert layer.path is not None  # read_manifest refuses a raw layer without one
            small = layer.size <= sha1_up_to or (layer.etag is not None and len(layer.etag) == 40)
            target = dest if keep else None
            digests = _fetch(source, layer, target, {Algo.GIT_SHA1} if small else set(), report)
            return layer.digest, [StagedFile(layer.path, target, layer.size, digests)]
        _fetch(source, layer, dest, set(), report)
        try:
            return layer.digest, _untar(dest, layer, staging, keep, source.label)
        finally:
            os.unlink(dest)

    with ThreadPoolExecutor(max(1, source.concurrency)) as pool:
        return dict(pool.map(one, unique.values()))
