"""Tests for hfcache.formats.linkforms: every sample is built here, byte by byte, from the specs."""

from __future__ import annotations

import hashlib
import json
import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from linkbytes import cygwin_new, cygwin_old, interix, link_info, lnk, xsym
from linkbytes import lfs as _lfs

from hfcache.formats.linkforms import (
    LNK_LIMIT,
    SNIFF_LIMIT,
    EmulatedLink,
    LfsPointer,
    TargetInfo,
    parse_lnk,
    parse_target,
    sniff,
)

SHA1 = "0123456789abcdef0123456789abcdef01234567"
SHA256 = "a3" + "0123456789abcdef" * 3 + "0123456789abcd"
assert len(SHA256) == 64


def lfs(oid: str = SHA256, size: str = "1234", newline: str = "\n", extra: str = "") -> bytes:
    return _lfs(oid, size, newline, extra)


WIN_ABS = "C:\\Users\\me\\.cache\\huggingface\\hub\\models--a--b\\blobs\\" + SHA1


# --- link text ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"../../blobs/{SHA1}",
        f"../../blobs/{SHA256}",
        f"..\\..\\blobs\\{SHA1}",
        f"../../../blobs/{SHA1}",
        f"../../blobs/{SHA1.upper()}",
        f"/home/alice/.cache/huggingface/hub/models--a--b/blobs/{SHA1}",
        WIN_ABS,
        f"../../blobs/a3/{SHA256}",
    ],
)
@pytest.mark.parametrize("ending", ["", "\n", "\r\n"])
def test_link_text(text: str, ending: str) -> None:
    assert sniff((text + ending).encode()) == EmulatedLink("link-text", text)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"# My model\n\nSome README text.\n",
        json.dumps({"architectures": ["BertModel"], "hidden_size": 768}).encode(),
        b"../../blobs/not-a-hash",
        b"../../blobs/" + SHA1[:39].encode(),
        f"../../blobs/{SHA1}\n\n".encode(),
        f" ../../blobs/{SHA1}".encode(),
        f"../../blobs/{SHA1}\nsecond line".encode(),
        f"../../blobs/{SHA1}\0".encode(),
        f"../../blobs/ff/{SHA256}".encode(),  # shard folder must match the hash
        f"../../snapshots/{SHA1}".encode(),
        b"\xff\xfe\x00garbage",
        os.urandom(64),
        ("x" * SNIFF_LIMIT + f"/blobs/{SHA1}").encode(),  # over the size limit
    ],
)
def test_not_link_text(content: bytes) -> None:
    assert sniff(content) is None


# --- Cygwin, XSym, Interix ----------------------------------------------------------------------


def test_cygwin_new_style() -> None:
    assert sniff(cygwin_new(f"../../blobs/{SHA1}")) == EmulatedLink("cygwin", f"../../blobs/{SHA1}")
    assert sniff(cygwin_new("/tmp/élan")) == EmulatedLink("cygwin", "/tmp/élan")


def test_cygwin_old_style() -> None:
    assert sniff(cygwin_old("../../blobs/x")) == EmulatedLink("cygwin", "../../blobs/x")
    assert sniff(cygwin_old("target", padding=200)) == EmulatedLink("cygwin", "target")


@pytest.mark.parametrize(
    "content",
    [
        b"!<symlink>",
        b"!<symlink>\0",
        b"!<symlink>\xff\xfe\0\0",
        b"!<symlink>\xff\xfe\x41",
        b"!<symlink>a\nb\0",
    ],
)
def test_cygwin_bad(content: bytes) -> None:
    assert sniff(content) is None


def test_xsym() -> None:
    data = xsym(f"../../blobs/{SHA1}")
    assert len(data) == 1067
    assert sniff(data) == EmulatedLink("xsym", f"../../blobs/{SHA1}")
    upper = xsym("a/b", md5=hashlib.md5(b"a/b").hexdigest().upper())
    assert sniff(upper) == EmulatedLink("xsym", "a/b")
    assert sniff(xsym("x" * 1024)) == EmulatedLink("xsym", "x" * 1024)


@pytest.mark.parametrize(
    "content",
    [
        xsym("a/b", md5="0" * 32),
        xsym("a/b")[:-1],
        xsym("a/b") + b" ",
        xsym("a/b").replace(b"0003", b"0004", 1),
        xsym("a/b").replace(b"0003", b"9999", 1),
        xsym("a/b").replace(b"0003", b"0000", 1),
        xsym("a/b").replace(b"XSym", b"XSyn", 1),
    ],
)
def test_xsym_bad(content: bytes) -> None:
    assert sniff(content) is None


def test_interix() -> None:
    assert sniff(interix(f"..\\..\\blobs\\{SHA1}")) == EmulatedLink("interix", f"..\\..\\blobs\\{SHA1}")
    assert sniff(interix("/dev/fs/C/x") + b"\0\0") == EmulatedLink("interix", "/dev/fs/C/x")
    assert sniff(interix("abc") + b"\0") is None  # odd length
    assert sniff(b"IntxLNK\x01") is None
    assert sniff(b"IntxLNK\x01\x00\xd8") is None  # lone surrogate


# --- Git LFS ------------------------------------------------------------------------------------


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_lfs_pointer(newline: str) -> None:
    assert sniff(lfs(newline=newline)) == LfsPointer(SHA256, 1234)


def test_lfs_variants() -> None:
    assert sniff(lfs(oid=SHA256.upper())) == LfsPointer(SHA256, 1234)
    assert sniff(lfs(extra="ext-0-foo sha256:" + "0" * 64)) == LfsPointer(SHA256, 1234)
    assert sniff(lfs().rstrip(b"\n")) == LfsPointer(SHA256, 1234)
    legacy = lfs().replace(b"git-lfs.github.com", b"hawser.github.com")
    assert sniff(legacy) == LfsPointer(SHA256, 1234)
    assert sniff(lfs(size="0")) == LfsPointer(SHA256, 0)


@pytest.mark.parametrize(
    "content",
    [
        lfs(size="-1"),
        lfs(size="+1"),
        lfs(size="1.5"),
        lfs(oid="z" * 64),
        lfs(oid=SHA256[:63]),
        lfs().replace(b"spec/v1", b"spec/v2"),
        lfs().replace(b"oid sha256:", b"oid sha1:"),
        lfs().replace(b"size 1234\n", b""),
        lfs() + b"size 1\n",
        lfs() + b"\n",
        lfs(extra="Upper-Case value"),
        lfs(extra="novalue"),
        lfs(extra="x" * 1024),
        lfs(newline="\r"),
        b"version https://git-lfs.github.com/spec/v1\n",
    ],
)
def test_lfs_bad(content: bytes) -> None:
    assert sniff(content) is None


# --- Windows shortcuts ----------------------------------------------------------------------------


def test_lnk_relative_path() -> None:
    data = lnk(relative=f".\\..\\..\\blobs\\{SHA1}", working_dir="C:\\x")
    assert parse_lnk(data) == EmulatedLink("lnk", f".\\..\\..\\blobs\\{SHA1}")


@pytest.mark.parametrize("wide", [False, True])
def test_lnk_link_info(wide: bool) -> None:
    base, suffix = WIN_ABS[:20], WIN_ABS[20:]
    assert parse_lnk(lnk(info=link_info(base, suffix, wide=wide))) == EmulatedLink("lnk", WIN_ABS)
    assert parse_lnk(lnk(info=link_info(WIN_ABS, wide=wide), id_list=False)) == EmulatedLink("lnk", WIN_ABS)


def test_lnk_unicode_local_path_wins_over_ansi() -> None:
    path = "C:\\Ünïcode\\models--a--b\\blobs\\" + SHA1
    assert parse_lnk(lnk(info=link_info(path, wide=True))) == EmulatedLink("lnk", path)


def test_lnk_network_path() -> None:
    info = link_info(net="\\\\server\\share", suffix=f"hub\\models--a--b\\blobs\\{SHA1}")
    expected = f"\\\\server\\share\\hub\\models--a--b\\blobs\\{SHA1}"
    assert parse_lnk(lnk(info=info)) == EmulatedLink("lnk", expected)


def test_lnk_prefers_a_path_naming_a_blob() -> None:
    data = lnk(relative="..\\elsewhere\\file.txt", info=link_info(WIN_ABS), unicode=False)
    assert parse_lnk(data) == EmulatedLink("lnk", WIN_ABS)
    data = lnk(relative="..\\elsewhere\\file.txt", info=link_info("C:\\other"))
    assert parse_lnk(data) == EmulatedLink("lnk", "..\\elsewhere\\file.txt")


def test_lnk_cygwin_style_description() -> None:
    data = lnk(name="\ufeff" + f"../../blobs/{SHA1}", id_list=True)
    assert parse_lnk(data) == EmulatedLink("lnk", f"../../blobs/{SHA1}")
    assert parse_lnk(lnk(name="just a comment")) is None


def test_lnk_ansi_strings() -> None:
    data = lnk(relative=f"..\\..\\blobs\\{SHA1}", unicode=False)
    assert parse_lnk(data) == EmulatedLink("lnk", f"..\\..\\blobs\\{SHA1}")


# The sample of MS-SHLLINK section 3 (a shortcut to C:\test\a.txt), as hex: the header with
# its flags 0x0008009B, then (after an IDList we stand in for) the LinkInfo and StringData.
SPEC_HEADER = bytes.fromhex(
    "4c000000 01140200 00000000 c0000000 00000046 9b000800 20000000 d0e9eef2 1515c901"
    "d0e9eef2 1515c901 d0e9eef2 1515c901 00000000 00000000 01000000 00000000 00000000 00000000"
)
SPEC_LINK_INFO = bytes.fromhex(
    "3c000000 1c000000 01000000 1c000000 2d000000 00000000 3b000000 11000000 03000000"
    "818a7a30 10000000 00433a5c 74657374 5c612e74 78740000"
)
SPEC_RELATIVE = bytes.fromhex("07002e005c0061002e00740078007400")
SPEC_WORKING_DIR = bytes.fromhex("070043003a005c007400650073007400")
SPEC_ID_LIST = struct.pack("<H", 20) + struct.pack("<H", 18) + b"\x1f\x50" + bytes(14) + b"\0\0"


def test_lnk_spec_sample() -> None:
    assert len(SPEC_HEADER) == 0x4C and len(SPEC_LINK_INFO) == 0x3C
    body = SPEC_ID_LIST + SPEC_LINK_INFO
    sample = SPEC_HEADER + body + SPEC_RELATIVE + SPEC_WORKING_DIR + bytes(4)
    assert parse_lnk(sample) == EmulatedLink("lnk", ".\\a.txt")
    without_relative = bytearray(SPEC_HEADER + body + SPEC_WORKING_DIR + bytes(4))
    without_relative[20] &= ~0x08  # clear HasRelativePath: the LinkInfo path is next in line
    assert parse_lnk(bytes(without_relative)) == EmulatedLink("lnk", "C:\\test\\a.txt")


def test_lnk_every_truncation_is_none() -> None:
    data = lnk(relative=f"..\\..\\blobs\\{SHA1}", info=link_info(WIN_ABS, wide=True), name="n")
    assert parse_lnk(data) is not None
    for cut in range(len(data) - 4):  # the 4-byte terminal block is not needed
        assert parse_lnk(data[:cut]) is None, cut


def test_lnk_malformed() -> None:
    good = lnk(relative=f"..\\..\\blobs\\{SHA1}")
    assert parse_lnk(b"\x4d" + good[1:]) is None  # header size
    assert parse_lnk(good[:4] + bytes(16) + good[20:]) is None  # CLSID
    assert parse_lnk(good + bytes(LNK_LIMIT)) is None  # over the limit
    bad_info = bytearray(link_info(WIN_ABS))
    struct.pack_into("<I", bad_info, 16, 0xFFFF)  # LocalBasePathOffset out of range
    assert parse_lnk(lnk(info=bytes(bad_info))) is None
    struct.pack_into("<I", bad_info, 16, 4)  # LocalBasePathOffset inside the header
    assert parse_lnk(lnk(info=bytes(bad_info))) is None
    huge_id_list = bytearray(good)
    struct.pack_into("<H", huge_id_list, 0x4C, 0xFFFF)
    assert parse_lnk(bytes(huge_id_list)) is None
    assert parse_lnk(lnk()) is None  # nothing to point at
    assert parse_lnk(b"") is None


# --- parse_target ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (f"../../blobs/{SHA1}", TargetInfo(SHA1, None, None, False, False)),
        (f"..\\..\\blobs\\{SHA1.upper()}", TargetInfo(SHA1, None, None, False, True)),
        (f"../../../blobs/{SHA256}", TargetInfo(SHA256, None, None, False, False)),
        (f"./../.././blobs//{SHA1}", TargetInfo(SHA1, None, None, False, False)),
        (WIN_ABS, TargetInfo(SHA1, "models--a--b", None, True, True)),
        ("C:/hub/datasets--x--y/blobs/" + SHA1, TargetInfo(SHA1, "datasets--x--y", None, True, False)),
        (
            f"/home/alice/.cache/huggingface/hub/models--a--b/blobs/{SHA1}",
            TargetInfo(SHA1, "models--a--b", None, True, False),
        ),
        ("\\\\?\\" + WIN_ABS, TargetInfo(SHA1, "models--a--b", None, True, True)),
        (
            f"\\\\?\\UNC\\srv\\share\\spaces--s\\blobs\\{SHA1}",
            TargetInfo(SHA1, "spaces--s", None, True, True),
        ),
        (f"\\\\srv\\share\\models--gpt2\\blobs\\{SHA1}", TargetInfo(SHA1, "models--gpt2", None, True, True)),
        (f"../../blobs/a3/{SHA256}", TargetInfo(None, None, SHA256, False, False)),
        (f"/c/hub/blobs/A3/{SHA256.upper()}", TargetInfo(None, None, SHA256, True, False)),
        (f"../../blobs/00/{SHA256}", TargetInfo(None, None, None, False, False)),
        (f"../../blobs/{SHA1}x", TargetInfo(None, None, None, False, False)),
        (f"../../Blobs/{SHA1}", TargetInfo(None, None, None, False, False)),
        ("/hub/models--a--b/snapshots/main/x", TargetInfo(None, "models--a--b", None, True, False)),
        ("garbage", TargetInfo(None, None, None, False, False)),
        ("", TargetInfo(None, None, None, False, False)),
        ("models--", TargetInfo(None, None, None, False, False)),
    ],
)
def test_parse_target(target: str, expected: TargetInfo) -> None:
    assert parse_target(target) == expected


# --- never raise ------------------------------------------------------------------------------------

_prefixes = st.sampled_from(
    [b"", b"!<symlink>", b"!<symlink>\xff\xfe", b"XSym\n", b"IntxLNK\x01", b"version ", lnk()[:0x4C]]
)


@settings(max_examples=400, deadline=None)
@given(prefix=_prefixes, tail=st.binary(max_size=2048))
def test_random_bytes_never_raise(prefix: bytes, tail: bytes) -> None:
    data = prefix + tail
    result = sniff(data)
    assert result is None or isinstance(result, (EmulatedLink, LfsPointer))
    assert parse_lnk(data) is None or isinstance(parse_lnk(data), EmulatedLink)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_lnk_never_raises(data: st.DataObject) -> None:
    good = bytearray(lnk(relative="..\\x", info=link_info(WIN_ABS, net="\\\\s\\h", wide=True), name="n"))
    for _ in range(data.draw(st.integers(1, 8))):
        index = data.draw(st.integers(0, len(good) - 1))
        good[index] = data.draw(st.integers(0, 255))
    result = parse_lnk(bytes(good))
    assert result is None or isinstance(result, EmulatedLink)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab0f/\\.:?C -UNC") | st.characters(), max_size=200))
def test_parse_target_never_raises(target: str) -> None:
    assert isinstance(parse_target(target), TargetInfo)
