"""Ways a cache breaks in transit, applied to a real cache built by huggingface_hub.

Each function turns one snapshot entry (or blob, or ref) of a :class:`CachedRepo` into what a
particular tool or platform leaves behind, so tests can check that doctor names it and that
``--fix`` restores exactly what huggingface_hub had written.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from builders import CachedRepo
from linkbytes import cygwin_new, interix, lnk, xsym


def entry(c: CachedRepo, name: str) -> Path:
    return c.snapshot / name


def etag(c: CachedRepo, name: str) -> str:
    return c.blob(name).name


def link_text(c: CachedRepo, name: str) -> str:
    """The relative target huggingface_hub wrote for ``name`` (``../../blobs/<etag>``, deeper if nested)."""
    return os.readlink(entry(c, name))


def _replace_with_file(c: CachedRepo, name: str, data: bytes) -> Path:
    path = entry(c, name)
    path.unlink()
    path.write_bytes(data)
    return path


def _replace_with_link(c: CachedRepo, name: str, target: str) -> Path:
    path = entry(c, name)
    path.unlink()
    os.symlink(target, path)
    return path


def backslash_link(c: CachedRepo, name: str) -> Path:
    return _replace_with_link(c, name, link_text(c, name).replace("/", "\\"))


def windows_absolute_link(c: CachedRepo, name: str) -> Path:
    folder = c.repo_folder.name
    target = f"C:\\Users\\me\\.cache\\huggingface\\hub\\{folder}\\blobs\\{etag(c, name)}"
    return _replace_with_link(c, name, target)


def foreign_home_link(c: CachedRepo, name: str) -> Path:
    target = f"/home/alice/.cache/huggingface/hub/{c.repo_folder.name}/blobs/{etag(c, name)}"
    return _replace_with_link(c, name, target)


def absolute_link_here(c: CachedRepo, name: str) -> Path:
    return _replace_with_link(c, name, str(c.blob(name)))


def outside_link(c: CachedRepo, name: str, outside: Path) -> Path:
    return _replace_with_link(c, name, str(outside))


def link_into_other_repo(c: CachedRepo, name: str) -> Path:
    depth = name.count("/") + 3
    return _replace_with_link(c, name, "../" * depth + f"models--someone--else/blobs/{etag(c, name)}")


def drop_blob(c: CachedRepo, name: str) -> Path:
    blob = c.blob(name)
    blob.unlink()
    return blob


def full_copy(c: CachedRepo, name: str) -> Path:
    return _replace_with_file(c, name, c.files[name])


def full_copy_without_blob(c: CachedRepo, name: str) -> Path:
    path = full_copy(c, name)
    drop_blob(c, name)
    return path


def git_link_text(c: CachedRepo, name: str) -> Path:
    return _replace_with_file(c, name, link_text(c, name).encode())


def cygwin_link(c: CachedRepo, name: str) -> Path:
    return _replace_with_file(c, name, cygwin_new(link_text(c, name)))


def xsym_link(c: CachedRepo, name: str) -> Path:
    return _replace_with_file(c, name, xsym(link_text(c, name)))


def interix_link(c: CachedRepo, name: str) -> Path:
    return _replace_with_file(c, name, interix(link_text(c, name).replace("/", "\\")))


def lnk_shortcut(c: CachedRepo, name: str) -> Path:
    path = entry(c, name)
    target = link_text(c, name).replace("/", "\\")
    path.unlink()
    shortcut = path.with_name(path.name + ".lnk")
    shortcut.write_bytes(lnk(relative=target))
    return path


def empty_placeholder(c: CachedRepo, name: str) -> Path:
    return _replace_with_file(c, name, b"")


def lfs_pointer(c: CachedRepo, name: str) -> Path:
    data = c.files[name]
    pointer = (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{etag(c, name)}\nsize {len(data)}\n"
    ).encode()
    return _replace_with_file(c, name, pointer)


def remove_entry(c: CachedRepo, name: str) -> Path:
    path = entry(c, name)
    path.unlink()
    return path


def truncate_blob(c: CachedRepo, name: str, keep: int) -> Path:
    blob = c.blob(name)
    with open(blob, "r+b") as f:
        f.truncate(keep)
    return blob


def flip_byte(path: Path, offset: int = -1) -> Path:
    """Corrupt one byte in place (through the file itself, never a link)."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    os.chmod(path, 0o644)
    path.write_bytes(bytes(data))
    return path


def ref_with_newline(c: CachedRepo, ref: str = "main") -> Path:
    path = c.repo_folder / "refs" / ref
    path.write_bytes(path.read_bytes() + b"\r\n")
    return path


def drop_tree_listings(c: CachedRepo) -> Path:
    """What a cache written by huggingface_hub < 2 lacks anyway: ``trees/``, if the client wrote one."""
    trees = c.repo_folder / "trees"
    if trees.exists():
        shutil.rmtree(trees)
    return trees


def copy_cache(c: CachedRepo, dest: Path) -> Path:
    """A byte-for-byte copy of the cache folder, links kept as links."""
    shutil.copytree(c.cache_dir, dest, symlinks=True)
    return dest


def crlf_blob(c: CachedRepo, name: str) -> Path:
    """What git's autocrlf or an FTP ASCII transfer does to a text blob: every LF becomes CRLF."""
    blob = c.blob(name)
    data = blob.read_bytes().replace(b"\n", b"\r\n")
    os.chmod(blob, 0o644)
    blob.write_bytes(data)
    return blob


def crlf_copy(c: CachedRepo, name: str) -> Path:
    """A full copy of a text file that went through a text-mode transfer (LF to CRLF)."""
    return _replace_with_file(c, name, c.files[name].replace(b"\n", b"\r\n"))


def bom_blob(c: CachedRepo, name: str) -> Path:
    """A Windows editor saved the blob with a UTF-8 byte-order mark in front."""
    blob = c.blob(name)
    data = b"\xef\xbb\xbf" + blob.read_bytes()
    os.chmod(blob, 0o644)
    blob.write_bytes(data)
    return blob


def lose_snapshot_links(c: CachedRepo) -> list[Path]:
    """What ``rsync -r`` without ``-l`` (and any copy that skips links) leaves: every snapshot link
    gone, its folders and every blob still there."""
    lost = [p for p in c.repo_folder.joinpath("snapshots").rglob("*") if p.is_symlink()]
    for p in lost:
        p.unlink()
    return lost


def dereference_snapshot(c: CachedRepo) -> list[Path]:
    """What ``cp -rL`` does to a snapshot: each link replaced by a full copy of its blob's bytes."""
    links = [p for p in c.repo_folder.joinpath("snapshots").rglob("*") if p.is_symlink()]
    for p in links:
        data = p.read_bytes()
        p.unlink()
        p.write_bytes(data)
    return links
