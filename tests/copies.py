"""A real cache copied to a new folder the ways people copy one, with the real tools.

Users move a Hugging Face cache to an offline machine with whatever they have at hand, and
each tool does something different to the snapshot symlinks (``snapshots/<commit>/<file> ->
../../blobs/<etag>``).  The functions here copy a :class:`CachedRepo` (its whole cache folder)
or a cache folder into ``dest`` and return the new cache folder; nothing is imitated where the
real tool exists on a Linux machine:

* :func:`rsync_r`: real ``rsync -r`` (no ``-l``): links are skipped, snapshots end up as empty
  folders, blobs, refs and listings arrive intact.
* :func:`cp_rL`: real ``cp -rL``: links dereferenced, every snapshot entry a full copy of its
  blob, blobs still there (valid, but twice the space).
* :func:`windows_zip`: a zip as a Windows archiver writes it when it cannot store a link (each
  link a small regular member holding the link's target text), unpacked with real ``unzip``.
* :func:`windows_no_symlinks`: not a copy of the folder but huggingface_hub's own download on a
  machine without symlink support (Windows without Developer Mode): the client itself writes the
  files into ``snapshots/`` and moves the blobs away.

:data:`COPIES` names them for parametrized tests; :func:`moved` describes a copied repo.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from builders import CachedRepo, download_cache
from huggingface_hub import file_download

Source = CachedRepo | Path


def _cache_dir(source: Source) -> Path:
    return source.cache_dir if isinstance(source, CachedRepo) else Path(source)


def _new(dest: Path) -> Path:
    """``dest`` resolved; it must not exist yet (its parent is created)."""
    dest = Path(dest).absolute()
    if dest.exists():
        raise FileExistsError(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest.resolve()


def _run(*argv: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    tool = shutil.which(str(argv[0]))
    if tool is None:
        raise RuntimeError(f"{argv[0]} is not installed (.ci/run installs it: ensure_tools)")
    run = subprocess.run(
        [tool, *map(str, argv[1:])],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} exited {run.returncode}: {run.stderr}")
    return run


def rsync_r(source: Source, dest: Path) -> Path:
    """``rsync -r SRC/ DEST/``: the recursive copy people type when they forget ``-a``.

    Without ``-l`` (``--links``) rsync skips every symlink ("skipping non-regular file") and
    still exits 0: each ``snapshots/<commit>/`` arrives as an empty folder tree (nested folders
    such as ``sub/dir/`` included), while ``blobs/``, ``refs/`` and ``trees/`` arrive whole.  The
    bytes of every file are there, but no snapshot says which blob is which file.
    """
    dest = _new(dest)
    _run("rsync", "-r", f"{_cache_dir(source)}/", f"{dest}/")
    return dest


def cp_rL(source: Source, dest: Path) -> Path:
    """``cp -rL SRC DEST``: the copy that "fixes" links by following them.

    ``-L`` dereferences every symlink, so each snapshot entry becomes a full copy of its blob
    while ``blobs/`` is copied too: the copy loads, but every file is stored twice.
    """
    dest = _new(dest)
    _run("cp", "-rL", _cache_dir(source), dest)
    return dest


# MS-DOS attribute bits of a zip member's external attributes (the low byte).
_DOS_DIRECTORY, _DOS_ARCHIVE = 0x10, 0x20


def windows_zip(source: Source, dest: Path, *, separator: str = "\\") -> Path:
    """The cache zipped on Windows, then unpacked on Linux with ``unzip``.

    An archiver on Windows that cannot store a link (or a cache synced through a tool that
    stores links as their text) records each symlink as a regular member whose data is the
    link's target text: ``..\\..\\blobs\\<etag>`` as Windows writes relative paths, or with
    forward slashes (``separator="/"``).  The members are what such an archiver writes:
    ``create_system=0`` (MS-DOS), DOS attributes only, folders as their own members, and a
    non-ASCII name (``词表.txt``) with the UTF-8 flag and Info-ZIP's Unicode Path extra field.
    The real ``unzip`` then unpacks them, in a UTF-8 locale, as small text files where the links
    were; blobs, refs and listings arrive intact.  The zip itself is left beside ``dest``
    (``<dest>.zip``).

    Without the Unicode Path field, Debian's unzip 6.0 maps the name of an MS-DOS member through
    the OEM code page even when the UTF-8 flag is set, and ``词表.txt`` arrives mangled: a real
    problem of its own, kept out of this copy so that it shows what happens to links.
    """
    dest = _new(dest)
    root = _cache_dir(source).resolve()
    archive = dest.with_name(dest.name + ".zip")

    def member(rel: Path, *, folder: bool) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(rel.as_posix() + ("/" if folder else ""), date_time=(2024, 1, 15, 12, 12, 0))
        info.create_system = 0
        info.external_attr = _DOS_DIRECTORY if folder else _DOS_ARCHIVE
        info.compress_type = zipfile.ZIP_STORED if folder else zipfile.ZIP_DEFLATED
        name = info.filename.encode()
        if not info.filename.isascii():  # Info-ZIP Unicode Path extra field (0x7075), version 1
            info.extra = struct.pack("<HHBI", 0x7075, 5 + len(name), 1, zlib.crc32(name)) + name
        return info

    with zipfile.ZipFile(archive, "w") as z:
        for top, dirs, files in os.walk(root):
            here = Path(top)
            dirs.sort()
            for name in sorted(dirs):  # a link to a folder is recorded as a link, never walked
                if (here / name).is_symlink():
                    dirs.remove(name)
                    files.append(name)
                else:
                    z.writestr(member((here / name).relative_to(root), folder=True), b"")
            for name in sorted(files):
                path = here / name
                data = (
                    os.readlink(path).replace("/", separator).encode()
                    if path.is_symlink()
                    else path.read_bytes()
                )
                z.writestr(member(path.relative_to(root), folder=False), data)
    dest.mkdir()
    _run("unzip", "-q", archive, "-d", dest, env={"LC_ALL": "C.UTF-8"})
    return dest


@contextmanager
def symlinks_unsupported() -> Iterator[None]:
    """huggingface_hub believing this machine cannot make symlinks, as on Windows without
    Developer Mode or admin rights.

    ``file_download._create_symlink`` asks ``are_symlinks_supported`` (which probes the cache
    folder once and remembers the answer in ``_are_symlinks_supported_in_dir``) before every
    link; huggingface_hub's own tests (``tests/test_cache_no_symlinks.py``) patch that function
    to return False, and so does this.  Every release from 0.20 on looks it up through the
    module, so the patch reaches the downloader.
    """
    original = file_download.are_symlinks_supported
    file_download.are_symlinks_supported = lambda cache_dir=None: False
    try:
        yield
    finally:
        file_download.are_symlinks_supported = original


def windows_no_symlinks(source: CachedRepo, dest: Path) -> Path:
    """The same revision downloaded into ``dest`` by huggingface_hub with symlinks unsupported.

    This is the client's own degraded mode (see :func:`symlinks_unsupported`): each new blob is
    *moved* into ``snapshots/<commit>/<file>``, so the snapshot holds the only copy of every
    file and ``blobs/`` is left empty.  The download asks for the refs of ``source`` that name
    its commit (so ``refs/main`` is written as the client writes it), or for the commit itself.
    """
    if not isinstance(source, CachedRepo):
        raise TypeError("a no-symlink download needs the repo and its hub: pass a CachedRepo")
    dest = _new(dest)
    refs = source.repo_folder / "refs"
    names = sorted(
        p.relative_to(refs).as_posix()
        for p in refs.rglob("*")
        if p.is_file() and p.read_text().strip() == source.commit
    )
    with symlinks_unsupported():
        for revision in names or [source.commit]:
            download_cache(source.hub, dest, source.repo_id, revision, source.repo_type)
    return dest


Copy = Callable[[CachedRepo, Path], Path]

COPIES: dict[str, Copy] = {
    "rsync-r": rsync_r,
    "windows-zip": windows_zip,
    "cp-rL": cp_rL,
    "windows-no-symlinks": windows_no_symlinks,
}
"""Every way of copying, by the name tests and the matrix print."""


def moved(c: CachedRepo, cache_dir: Path) -> CachedRepo:
    """``c`` as found in the copy at ``cache_dir``."""
    return replace(c, cache_dir=Path(cache_dir).resolve())
