"""Recognise symlinks that a copy turned into small regular files, and Git LFS pointers.

A cache's ``snapshots/<commit>/<path>`` entries are relative symlinks into ``blobs/``.
Tools that cannot copy symlinks (git with ``core.symlinks=false``, SMB, Cygwin, Interix,
Explorer shortcuts) leave a small file *describing* the link.  This module reads such a
file's bytes and says which form it is and where it pointed.  Pure: bytes or strings in,
frozen values out; bad content gives ``None``, never an exception.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from hfcache._hf import REPO_TYPES_MAPPING

SNIFF_LIMIT = 4096
"""Largest file :func:`sniff` considers: a longer file is content, never an emulated link."""
LNK_LIMIT = 65536
"""Largest ``.lnk`` file :func:`parse_lnk` considers (real shortcuts are a few KiB)."""

LinkForm = Literal["link-text", "cygwin", "xsym", "interix", "lnk"]


@dataclass(frozen=True)
class EmulatedLink:
    """A file that stands in for a symlink: which form it has, and the target it names."""

    form: LinkForm
    target: str  # exactly as written: may hold backslashes, drive letters, ``\\?\`` prefixes


@dataclass(frozen=True)
class LfsPointer:
    """A Git LFS pointer file left where the real content should be."""

    oid: str  # lowercase sha256 hex
    size: int


@dataclass(frozen=True)
class TargetInfo:
    """What a link target tells about the cache entry it points to."""

    blob: str | None  # lowercase etag (40 or 64 hex) when the target is ``.../blobs/<etag>``
    repo_folder: str | None  # e.g. ``models--org--name`` when the path contains one
    store_hash: str | None  # lowercase Xet hash when the target is ``.../blobs/<2hex>/<64hex>``
    absolute: bool  # POSIX absolute, drive-rooted, UNC, ``\\?\`` or root-relative ``\x``
    backslashes: bool


_ETAG = re.compile(r"[0-9a-fA-F]{40}(?:[0-9a-fA-F]{24})?")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_REPO_DIR = re.compile(rf"(?:{'|'.join(sorted(map(re.escape, REPO_TYPES_MAPPING)))})--.+")
_DRIVE = re.compile(r"[A-Za-z]:(?:[\\/]|$)")
_SEPARATORS = re.compile(r"[\\/]")
_NT_PREFIXES = ("\\\\?\\", "\\??\\", "\\\\.\\", "//?/", "//./")


def parse_target(target: str) -> TargetInfo:
    r"""Split a link target into the facts a repair needs, whatever its path dialect.

    Handles POSIX and Windows separators, drive letters, UNC and ``\\?\`` paths.  The blob
    name is only reported when it is an etag sitting directly in a ``blobs`` folder; the
    shared-store hash only when the ``<2hex>`` folder matches the hash, as huggingface_hub
    requires.  Garbage yields ``None`` for every optional field.
    """
    path = target
    absolute = False
    for prefix in _NT_PREFIXES:
        if path.startswith(prefix):
            path, absolute = path[len(prefix) :], True
            if path[:4].upper() in ("UNC\\", "UNC/"):
                path = path[4:]
            break
    if path.startswith(("/", "\\")) or _DRIVE.match(path):
        absolute = True
    parts = [p for p in _SEPARATORS.split(path) if p not in ("", ".")]
    blob = store_hash = repo_folder = None
    grandparent, parent, name = ["", "", "", *parts][-3:]
    if parent == "blobs" and _ETAG.fullmatch(name):
        blob = name.lower()
    elif grandparent == "blobs" and _HEX64.fullmatch(name) and parent.lower() == name[:2].lower():
        store_hash = name.lower()
    for part in reversed(parts[:-1]):
        if _REPO_DIR.fullmatch(part):
            repo_folder = part
            break
    return TargetInfo(blob, repo_folder, store_hash, absolute, "\\" in target)


def _names_cache_file(target: str) -> bool:
    info = parse_target(target)
    return info.blob is not None or info.store_hash is not None


# --- small-file forms ------------------------------------------------------------------

_CYGWIN_MAGIC = b"!<symlink>"
_INTERIX_MAGIC = b"IntxLNK\x01"
_XSYM_SIZE = 1067  # "XSym\n" + "NNNN\n" + 32 hex md5 + "\n" + up to 1024 bytes of target
_XSYM_HEAD = re.compile(rb"([0-9]{4})\n([0-9a-fA-F]{32})\n")
_LFS_VERSIONS = ("https://git-lfs.github.com/spec/v1", "https://hawser.github.com/spec/v1")
_LFS_LIMIT = 1024
_LFS_KEY = re.compile(r"[a-z0-9.-]+")
_LFS_OID = re.compile(r"sha256:([0-9a-fA-F]{64})")


def _nul16(raw: bytes, start: int = 0) -> int:
    """Index of the first aligned UTF-16 NUL code unit at or after ``start``, or -1."""
    return next((i for i in range(start, len(raw) - 1, 2) if raw[i : i + 2] == b"\0\0"), -1)


def _utf16_until_nul(raw: bytes) -> str | None:
    """Decode UTF-16LE up to the first NUL code unit (or the end); ``None`` if invalid."""
    end = _nul16(raw)
    if end < 0 and len(raw) % 2:
        return None
    try:
        return raw[: end if end >= 0 else len(raw)].decode("utf-16-le")
    except UnicodeDecodeError:
        return None


def _plain(text: str | None) -> str | None:
    """Accept a decoded target only if it is non-empty and free of control characters."""
    if not text or any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        return None
    return text


def _cygwin(body: bytes) -> str | None:
    # Cygwin >= 1.7 writes a BOM, UTF-16LE text and a NUL; older ones bytes and a NUL
    # (before b16, NUL padding).  Cygwin itself reads up to the first NUL: so do we.
    if body.startswith(b"\xff\xfe"):
        return _plain(_utf16_until_nul(body[2:]))
    raw = body.split(b"\0", 1)[0]
    return _plain(raw.decode("utf-8", "surrogateescape"))


def _xsym(body: bytes) -> str | None:
    head = _XSYM_HEAD.match(body)  # after the "XSym\n" magic
    if len(body) != _XSYM_SIZE - 5 or head is None or not 0 < int(head[1]) <= len(body) - head.end():
        return None
    raw = body[head.end() : head.end() + int(head[1])]
    if hashlib.md5(raw, usedforsecurity=False).hexdigest() != head[2].decode().lower():
        return None
    return _plain(raw.decode("utf-8", "surrogateescape"))


def _interix(body: bytes) -> str | None:
    return None if len(body) % 2 else _plain(_utf16_until_nul(body))


def _lfs(data: bytes) -> LfsPointer | None:
    """Parse a Git LFS pointer; tolerate CRLF, a missing final newline and unsorted keys."""
    if len(data) >= _LFS_LIMIT:
        return None
    try:
        text = data.decode("utf-8").replace("\r\n", "\n")
    except UnicodeDecodeError:
        return None
    lines = text.removesuffix("\n").split("\n")
    fields: dict[str, str] = {}
    for index, line in enumerate(lines):
        key, sep, value = line.partition(" ")
        bad_key = not _LFS_KEY.fullmatch(key) or key in fields or (index == 0) != (key == "version")
        if not sep or bad_key or "\r" in value:
            return None
        fields[key] = value
    if fields.get("version") not in _LFS_VERSIONS:
        return None
    oid = _LFS_OID.fullmatch(fields.get("oid", ""))
    size = fields.get("size", "")
    if oid is None or not (size.isascii() and size.isdigit()):
        return None
    return LfsPointer(oid[1].lower(), int(size))


def _link_text(data: bytes) -> str | None:
    # git (core.symlinks=false) writes the bare target; editors may add one newline.
    data = data.removesuffix(b"\n").removesuffix(b"\r")
    try:
        text = _plain(data.decode("utf-8"))
    except UnicodeDecodeError:
        return None
    if text is None or text != text.strip() or not _names_cache_file(text):
        return None
    return text


_MAGIC_FORMS: tuple[tuple[bytes, LinkForm, Callable[[bytes], str | None]], ...] = (
    (_CYGWIN_MAGIC, "cygwin", _cygwin),
    (b"XSym\n", "xsym", _xsym),
    (_INTERIX_MAGIC, "interix", _interix),
)


def sniff(data: bytes) -> EmulatedLink | LfsPointer | None:
    """Say whether a small file's full content is an emulated symlink or an LFS pointer.

    Magic-prefixed forms (Cygwin, XSym, Interix, LFS) are recognised whatever their target;
    bare link text only when it is one line ending in ``blobs/<etag>`` (or the shared
    store's ``blobs/<2hex>/<hash>``), so a genuine tiny text file is never taken for a link.
    Files over :data:`SNIFF_LIMIT` bytes are never links.  ``.lnk`` files: :func:`parse_lnk`.
    """
    data = bytes(data)
    if not data or len(data) > SNIFF_LIMIT:
        return None
    if data.startswith(b"version "):
        return _lfs(data)
    for magic, form, reader in _MAGIC_FORMS:
        if data.startswith(magic):
            target = reader(data[len(magic) :])
            return None if target is None else EmulatedLink(form, target)
    target = _link_text(data)
    return None if target is None else EmulatedLink("link-text", target)


# --- Windows shell links (MS-SHLLINK) --------------------------------------------------

_LNK_HEADER_SIZE = 0x4C
_LNK_CLSID = bytes.fromhex("0114020000000000c000000000000046")  # 00021401-0000-0000-C000-...46
_HAS_ID_LIST, _HAS_LINK_INFO, _HAS_NAME, _HAS_RELATIVE_PATH, _HAS_WORKING_DIR = 1, 2, 4, 8, 16
_IS_UNICODE = 0x80
_VOLUME_AND_LOCAL_PATH, _NETWORK_AND_SUFFIX = 1, 2


class _Malformed(Exception):
    """Internal: a bounds or structure check failed; :func:`parse_lnk` turns it into None."""


def _uint(data: bytes, pos: int, width: int = 4) -> int:
    """Little-endian unsigned integer at ``pos``; out of bounds is :class:`_Malformed`."""
    if pos < 0 or pos + width > len(data):
        raise _Malformed
    return int.from_bytes(data[pos : pos + width], "little")


def _ansi(raw: bytes) -> str:
    # "System default code page": unknown here; UTF-8 first, then the usual Western one.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


def _cstring(block: bytes, offset: int, wide: bool, floor: int) -> str:
    """Read a NUL-terminated string at ``offset`` (past the ``floor`` header) in ``block``."""
    if offset < floor or offset >= len(block):
        raise _Malformed
    end = _nul16(block, offset) if wide else block.find(b"\0", offset)
    if end < 0:
        raise _Malformed
    return block[offset:end].decode("utf-16-le", "replace") if wide else _ansi(block[offset:end])


def _link_info(data: bytes, pos: int) -> tuple[int, str | None, str | None]:
    """Parse a LinkInfo structure: (its size, local path, network path)."""
    size, header_size, flags = _uint(data, pos), _uint(data, pos + 4), _uint(data, pos + 8)
    if header_size < 0x1C or header_size > size or pos + size > len(data):
        raise _Malformed
    block = data[pos : pos + size]
    local_off, network_off, suffix_off = _uint(block, 16), _uint(block, 20), _uint(block, 24)
    local_off_w = suffix_off_w = 0
    if header_size >= 0x24:
        local_off_w, suffix_off_w = _uint(block, 28), _uint(block, 32)
    local = network = None
    suffix = ""
    if flags & (_VOLUME_AND_LOCAL_PATH | _NETWORK_AND_SUFFIX):
        wide_suffix = bool(suffix_off_w)
        suffix = _cstring(block, suffix_off_w if wide_suffix else suffix_off, wide_suffix, header_size)
    if flags & _VOLUME_AND_LOCAL_PATH:
        wide = bool(local_off_w)
        local = _cstring(block, local_off_w if wide else local_off, wide, header_size) + suffix
    if flags & _NETWORK_AND_SUFFIX:
        cnrl_size, name_off = _uint(block, network_off), _uint(block, network_off + 8)
        if network_off < header_size or cnrl_size < 0x14 or network_off + cnrl_size > size:
            raise _Malformed
        cnrl = block[network_off : network_off + cnrl_size]
        name_off_w = _uint(cnrl, 20) if name_off > 0x14 else 0
        wide = bool(name_off_w)
        net_name = _cstring(cnrl, name_off_w if wide else name_off, wide, 0x14)
        network = net_name.rstrip("\\") + "\\" + suffix if suffix else net_name
    return size, local, network


def _string_data(data: bytes, pos: int, wide: bool) -> tuple[str, int]:
    """Read one counted StringData entry; return it and the position after it."""
    count = _uint(data, pos, 2)
    end = pos + 2 + count * (2 if wide else 1)
    if end > len(data):
        raise _Malformed
    raw = data[pos + 2 : end]
    text = raw.decode("utf-16-le", "replace") if wide else _ansi(raw)
    return text.lstrip("\ufeff").rstrip("\0"), end  # Cygwin shortcuts may carry a BOM


def parse_lnk(data: bytes) -> EmulatedLink | None:
    """Extract the target of a Windows shortcut (``.lnk``), or ``None`` if malformed.

    Candidates, in order: RELATIVE_PATH (portable between machines), the LinkInfo local
    path (LocalBasePath[Unicode] + CommonPathSuffix), the LinkInfo network path, then the
    NAME_STRING (where Cygwin shortcuts keep the target) and WORKING_DIR.  The first that
    names a cache blob wins; failing that, the first of the three real paths.
    """
    data = bytes(data)
    if not _LNK_HEADER_SIZE <= len(data) <= LNK_LIMIT:
        return None
    try:
        if _uint(data, 0) != _LNK_HEADER_SIZE or data[4:20] != _LNK_CLSID:
            return None
        flags, pos = _uint(data, 20), _LNK_HEADER_SIZE
        if flags & _HAS_ID_LIST:
            pos += 2 + _uint(data, pos, 2)
        local = network = None
        if flags & _HAS_LINK_INFO:
            size, local, network = _link_info(data, pos)
            pos += size
        strings: dict[int, str] = {}
        for bit in (_HAS_NAME, _HAS_RELATIVE_PATH, _HAS_WORKING_DIR):
            if flags & bit:
                strings[bit], pos = _string_data(data, pos, bool(flags & _IS_UNICODE))
    except _Malformed:
        return None
    paths = [p for p in (strings.get(_HAS_RELATIVE_PATH), local, network) if p]
    extras = [strings.get(_HAS_NAME), strings.get(_HAS_WORKING_DIR)]
    chosen = next((p for p in [*paths, *extras] if p and _names_cache_file(p)), None)
    chosen = chosen or next(iter(paths), None)
    return None if chosen is None else EmulatedLink("lnk", chosen)
