"""The first code ``python3 hfcache.pyz`` runs: unpack the libraries once, then start the CLI.

This file is copied to the root of ``hfcache.pyz`` as its ``__main__.py``, so it imports the
standard library only and nothing of hfcache until the end. Why unpack at all: a zipapp
cannot load compiled extension modules from inside the zip, and typer needs one
(``pydantic_core``); and code imported from a folder gets its bytecode cached, so every run
after the first starts as fast as an installed hfcache. This is what shiv does.

On first run it extracts the pure-Python libraries (``site/`` in the zip) and the compiled
ones built for this interpreter and machine (``native/<key>/``) into a per-user cache folder,
``$HFCACHE_PYZ_CACHE``, else ``$XDG_CACHE_HOME/hfcache/pyz``, else ``~/.cache/hfcache/pyz``,
one subfolder per build and platform, made under a temporary name and renamed into place
when complete (two runs at once cannot see half of it). Nothing else is written outside the
folders hfcache's commands are told to use. Where this interpreter has no compiled libraries
in the zip (another CPU, musl, an older Python), it says which it has, in one line, exit 2.
"""

from __future__ import annotations

import json
import os
import platform
import runpy
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

INFO_NAME = "_hfcache_pyz.json"
"""The build's description at the root of the zip (and of each unpacked folder): see info.py."""
SITE_DIR = "site"
"""Folder in the zip holding the pure-Python libraries, hfcache's own code among them."""
NATIVE_DIR = "native"
"""Folder in the zip holding ``<key>/`` folders of compiled libraries, one per platform key."""
ANY_KEY = "any"
"""The unpacked folder's key when the zip carries no compiled library."""
EXIT_BAD_INPUT = 2
ELSEWHERE = (
    "use a release hfcache.pyz (python tools/build_pyz.py --release: CPython 3.10 and later on Linux "
    "x86_64 and aarch64), or pip install hfcache"
)


class PyzError(Exception):
    """The zipapp cannot run here: no libraries for this platform, or no folder to unpack into."""


def platform_key() -> str:
    """This interpreter and machine as wheels name them: ``cp311-manylinux_x86_64``.

    ``manylinux`` wheels need glibc, so a Linux without it (Alpine's musl) is plain ``linux``,
    which no release carries. Free-threaded builds keep their ``t`` (``cp313t``)."""
    impl = "cp" if sys.implementation.name == "cpython" else sys.implementation.name
    tag = f"{impl}{sys.version_info[0]}{sys.version_info[1]}{getattr(sys, 'abiflags', '')}"
    machine = platform.machine().lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    if sys.platform.startswith("linux"):
        system = "manylinux" if platform.libc_ver()[0] == "glibc" else "linux"
    else:
        system = sys.platform
    return f"{tag}-{system}_{machine}"


def cache_root() -> Path:
    """Where hfcache.pyz unpacks itself (the only folder it writes to of its own accord)."""
    explicit = os.environ.get("HFCACHE_PYZ_CACHE")
    if explicit:
        return Path(explicit).expanduser().absolute()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base).absolute() / "hfcache" / "pyz"


def read_info(archive: zipfile.ZipFile) -> dict[str, Any]:
    """The build's description, or :class:`PyzError` when the zip is not an hfcache.pyz."""
    try:
        info = json.loads(archive.read(INFO_NAME))
    except (KeyError, ValueError) as e:
        raise PyzError(f"{archive.filename} is not an hfcache.pyz (no valid {INFO_NAME})") from e
    if not isinstance(info, dict) or not isinstance(info.get("build_id"), str):
        raise PyzError(f"{archive.filename} is not an hfcache.pyz ({INFO_NAME} has no build_id)")
    return info


def _check_runs_here(info: dict[str, Any], key: str) -> str:
    """The key of the compiled libraries this interpreter loads, or why it cannot run the zip."""
    wanted = tuple(info.get("python_min", (3, 10)))
    if sys.version_info[:2] < wanted:
        raise PyzError(
            f"this hfcache.pyz needs Python {'.'.join(map(str, wanted))} or later; this is "
            f"{platform.python_version()} ({sys.executable}): {ELSEWHERE}"
        )
    natives: list[str] = list(info.get("natives", []))
    if not natives:
        return ANY_KEY
    if key in natives:
        return key
    carried = ", ".join(f"{n} ({', '.join(info.get('native_dists', []))})" for n in natives)
    raise PyzError(
        f"this hfcache.pyz carries compiled libraries for {carried}, not for this interpreter "
        f"({key}): {ELSEWHERE}"
    )


def _members(archive: zipfile.ZipFile, key: str) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """Each file to unpack and where it goes under the unpacked folder; refuses odd names."""
    prefixes = [PurePosixPath(SITE_DIR)]
    if key != ANY_KEY:
        prefixes.append(PurePosixPath(NATIVE_DIR, key))
    out = []
    for member in archive.infolist():
        name = PurePosixPath(member.filename)
        if member.is_dir() or name.is_absolute() or ".." in name.parts:
            continue
        for prefix in prefixes:
            if name.parts[: len(prefix.parts)] == prefix.parts:
                out.append((member, PurePosixPath(*name.parts[len(prefix.parts) :])))
    return out


def unpack(archive_path: str) -> Path:
    """The folder holding this zip's libraries for this interpreter, unpacked on first use."""
    key = platform_key()
    with zipfile.ZipFile(archive_path) as archive:
        info = read_info(archive)
        key = _check_runs_here(info, key)
        root = cache_root()
        dest = root / f"{info['build_id'][:16]}-{key}"
        if (dest / INFO_NAME).is_file():
            _check_owner(dest)
            return dest
        try:
            root.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=root))
        except OSError as e:
            raise PyzError(
                f"cannot unpack hfcache.pyz's libraries into {root} ({e.strerror or e}): "
                "set HFCACHE_PYZ_CACHE to a folder you can write"
            ) from e
        try:
            for member, rel in _members(archive, key):
                target = tmp.joinpath(*rel.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
            (tmp / INFO_NAME).write_bytes(archive.read(INFO_NAME))  # last: marks the folder complete
            tmp.chmod(0o755)
            try:
                tmp.rename(dest)
            except OSError:  # another run got there first: use its copy
                if not (dest / INFO_NAME).is_file():
                    raise
        except OSError as e:
            raise PyzError(f"cannot unpack hfcache.pyz into {dest}: {e.strerror or e}") from e
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _check_owner(dest: Path) -> None:
    """Never run code from a folder another user could have put there."""
    getuid = getattr(os, "getuid", None)
    if getuid is not None and dest.stat().st_uid != getuid():
        raise PyzError(f"{dest} belongs to another user: set HFCACHE_PYZ_CACHE to a folder of your own")


def main() -> None:
    """Unpack (first run only), put the unpacked folder first on ``sys.path``, run ``hfcache``."""
    archive = os.path.dirname(os.path.abspath(__file__))
    try:
        site = unpack(archive)
    except PyzError as e:
        sys.stderr.write(f"hfcache: error: {e}\n")
        sys.exit(EXIT_BAD_INPUT)
    sys.path[:] = [str(site)] + [p for p in sys.path if os.path.abspath(p or ".") != archive]
    # What `python -m hfcache` runs, from the unpacked folder (never from the zip); sys.argv is
    # left as it is, so the command line and the pyz's own name (`running_pyz`) stay as typed.
    runpy.run_module("hfcache", run_name="__main__", alter_sys=False)


if __name__ == "__main__":
    main()
