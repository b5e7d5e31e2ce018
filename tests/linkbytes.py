"""Byte-exact builders of emulated links, shared by the format tests and the damage helpers.

Each follows its format's own documentation (Cygwin path.cc, Minshall-French XSym, Interix,
MS-SHLLINK), written independently of the parsers they test.
"""

from __future__ import annotations

import hashlib
import struct

CLSID = bytes.fromhex("0114020000000000c000000000000046")


def cygwin_new(target: str) -> bytes:
    return b"!<symlink>\xff\xfe" + target.encode("utf-16-le") + b"\0\0"


def cygwin_old(target: str, padding: int = 1) -> bytes:
    return b"!<symlink>" + target.encode() + b"\0" * padding


def xsym(target: str, md5: str | None = None) -> bytes:
    raw = target.encode()
    digest = md5 or hashlib.md5(raw).hexdigest()
    body = b"XSym\n%04d\n%s\n%s\n" % (len(raw), digest.encode(), raw)
    return body[:1067] + b" " * (1067 - len(body))


def interix(target: str) -> bytes:
    return b"IntxLNK\x01" + target.encode("utf-16-le")


def lfs(oid: str, size: str = "1234", newline: str = "\n", extra: str = "") -> bytes:
    lines = ["version https://git-lfs.github.com/spec/v1", f"oid sha256:{oid}", f"size {size}"]
    if extra:
        lines.insert(1, extra)
    return "".join(line + newline for line in lines).encode()


CLSID = bytes.fromhex("0114020000000000c000000000000046")


def lnk_string(text: str, unicode: bool) -> bytes:
    raw = text.encode("utf-16-le") if unicode else text.encode("cp1252")
    return struct.pack("<H", len(text)) + raw


def link_info(
    local: str | None = None, suffix: str = "", net: str | None = None, wide: bool = False
) -> bytes:
    """A LinkInfo structure per MS-SHLLINK 2.3, with optional Unicode offsets (header 0x24)."""
    header_size = 0x24 if wide else 0x1C
    body = b""
    offsets = {"volume": 0, "local": 0, "net": 0, "suffix": 0, "local_w": 0, "suffix_w": 0}
    flags = 0

    def put(key: str, blob: bytes) -> None:
        nonlocal body
        offsets[key] = header_size + len(body)
        body += blob

    if local is not None:
        flags |= 1
        put("volume", struct.pack("<IIII", 0x11, 3, 0x1234ABCD, 0x10) + b"\0")
        put("local", local.encode("cp1252", "replace") + b"\0")
    if net is not None:
        flags |= 2
        name = net.encode() + b"\0"
        put("net", struct.pack("<IIIII", 0x14 + len(name), 2, 0x14, 0, 0x00020000) + name)
    put("suffix", suffix.encode("cp1252", "replace") + b"\0")
    if wide:
        if local is not None:
            put("local_w", local.encode("utf-16-le") + b"\0\0")
        put("suffix_w", suffix.encode("utf-16-le") + b"\0\0")
    head = struct.pack(
        "<IIIIIII",
        header_size + len(body),
        header_size,
        flags,
        offsets["volume"],
        offsets["local"],
        offsets["net"],
        offsets["suffix"],
    )
    if wide:
        head += struct.pack("<II", offsets["local_w"], offsets["suffix_w"])
    return head + body


def lnk(
    *,
    relative: str | None = None,
    info: bytes | None = None,
    name: str | None = None,
    working_dir: str | None = None,
    unicode: bool = True,
    id_list: bool = True,
    extra_flags: int = 0,
) -> bytes:
    """A shell link per MS-SHLLINK: header, IDList, LinkInfo, StringData, terminal block."""
    flags = extra_flags | (0x80 if unicode else 0)
    parts = [b""]
    if id_list:
        flags |= 1
        item = struct.pack("<H", 20) + b"\x1f\x50" + bytes(16)  # a "My Computer" item
        parts.append(struct.pack("<H", len(item) + 2) + item + b"\0\0")
    if info is not None:
        flags |= 2
        parts.append(info)
    for bit, text in ((4, name), (8, relative), (0x10, working_dir)):
        if text is not None:
            flags |= bit
            parts.append(lnk_string(text, unicode))
    header = struct.pack("<I16sIIQQQIIIHHII", 0x4C, CLSID, flags, 0x20, 0, 0, 0, 42, 0, 1, 0, 0, 0, 0)
    assert len(header) == 0x4C
    return header + b"".join(parts) + b"\0\0\0\0"
