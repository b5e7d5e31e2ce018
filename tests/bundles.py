"""Take real bundles apart and put them back together, altered: for hostile-bundle tests."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

Members = list[tuple[tarfile.TarInfo, bytes]]


def read_members(bundle: Path) -> Members:
    """Every member of a bundle with its data (empty for links and folders)."""
    out: Members = []
    with tarfile.open(bundle, "r") as tf:
        for ti in tf:
            f = tf.extractfile(ti) if ti.isreg() else None
            out.append((ti, f.read() if f is not None else b""))
    return out


def write_members(path: Path, members: Members) -> Path:
    """A tar holding exactly ``members``, in order, as given (names are not checked)."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        for ti, data in members:
            ti = _copy(ti)
            if ti.isreg():
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
            else:
                tf.addfile(ti)
    return path


def _copy(ti: tarfile.TarInfo) -> tarfile.TarInfo:
    new = tarfile.TarInfo(ti.name)
    for attr in ("size", "mtime", "mode", "type", "linkname", "uid", "gid", "uname", "gname"):
        setattr(new, attr, getattr(ti, attr))
    return new


def file_member(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = 0o644
    return ti, data


def link_member(name: str, target: str) -> tuple[tarfile.TarInfo, bytes]:
    ti = tarfile.TarInfo(name)
    ti.type = tarfile.SYMTYPE
    ti.linkname = target
    return ti, b""


def special_member(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, bytes]:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = linkname
    return ti, b""


def tree_listing(root: Path) -> dict[str, tuple[str, int]]:
    """Everything below ``root`` (links not followed): relative path → (kind, size)."""
    out: dict[str, tuple[str, int]] = {}
    if not root.exists():
        return out
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            st = p.lstat()
            kind = "link" if p.is_symlink() else "dir" if p.is_dir() else "file"
            out[str(p.relative_to(root))] = (kind, st.st_size if kind == "file" else 0)
    return out
