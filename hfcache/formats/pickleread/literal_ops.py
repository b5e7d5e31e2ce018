"""Opcodes that push plain data: the protocol and FRAME headers, constants, numbers, strings, bytes.

Text arguments (``INT``, ``LONG``, ``FLOAT``, ``STRING``) are accepted only in the forms
``_pickle.c`` and Python's own parsers read alike; anything else is refused rather than guessed.
"""

from __future__ import annotations

import codecs
import re
import struct

from hfcache.formats.pickleread.machine import Handler, Machine, registrar
from hfcache.formats.pickleread.source import Bad, text, u

HIGHEST_PROTOCOL = 5
HANDLERS: dict[int, Handler] = {}
"""These opcodes' handlers, by opcode byte."""
_op = registrar(HANDLERS)

_INT_LINE = re.compile(rb"-?(0|[1-9][0-9]*)\n")
_LONG_LINE = re.compile(rb"-?(0|[1-9][0-9]*)L?\n")
_FLOAT_LINE = re.compile(rb"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\n|[-+]?(inf|nan)\n")


# -- protocol and framing
@_op("\x80")
def _proto(m: Machine) -> None:
    proto = m.src.read(1)[0]
    if proto > HIGHEST_PROTOCOL:
        raise Bad(f"unsupported pickle protocol {proto}")
    m.out.proto = proto


@_op("\x95")
def _frame(m: Machine) -> None:
    m.src.frame(u(m.src.read(8)))


# -- constants and numbers
@_op("N")
def _none(m: Machine) -> None:
    m.push(None)


@_op("\x88\x89")
def _bool(m: Machine) -> None:
    m.push(m.last == 0x88)


@_op("I")
def _int(m: Machine) -> None:
    line = m.line()
    if line in (b"00\n", b"01\n"):
        m.push(line == b"01\n")
    elif _INT_LINE.fullmatch(line):
        m.push(int(line))
    else:
        raise Bad("an INT argument in a form hfcache does not read")


@_op("L")
def _long(m: Machine) -> None:
    line = m.line()
    if not _LONG_LINE.fullmatch(line):
        raise Bad("a LONG argument in a form hfcache does not read")
    m.push(int(line.rstrip(b"L\n")))


@_op("F")
def _float(m: Machine) -> None:
    line = m.line()
    if not _FLOAT_LINE.fullmatch(line):
        raise Bad("a FLOAT argument in a form hfcache does not read")
    m.push(float(line))


@_op("J")
def _binint(m: Machine) -> None:
    m.push(int.from_bytes(m.src.read(4), "little", signed=True))


@_op("K")
def _binint1(m: Machine) -> None:
    m.push(m.src.read(1)[0])


@_op("M")
def _binint2(m: Machine) -> None:
    m.push(u(m.src.read(2)))


@_op("\x8a")
def _long1(m: Machine) -> None:
    n = m.src.read(1)[0]
    m.push(int.from_bytes(m.src.read(n), "little", signed=True))


@_op("\x8b")
def _long4(m: Machine) -> None:
    n = int.from_bytes(m.src.read(4), "little", signed=True)
    if n < 0:
        raise Bad("LONG4 with a negative byte count")
    if n > 1 << 16:
        raise Bad("an integer too large to follow")
    m.push(int.from_bytes(m.src.read(n), "little", signed=True))


@_op("G")
def _binfloat(m: Machine) -> None:
    m.push(struct.unpack(">d", m.src.read(8))[0])


# -- strings and bytes
@_op("S")
def _string(m: Machine) -> None:
    line = m.line()[:-1]
    if len(line) < 2 or line[0] != line[-1] or line[:1] not in (b"'", b'"'):
        raise Bad("a STRING argument that is not quoted")
    try:
        raw = codecs.escape_decode(line[1:-1])[0]
    except ValueError:
        raise Bad("a STRING argument with a bad escape") from None
    m.push(text(raw, "utf-8"))


@_op("T")
def _binstring(m: Machine) -> None:
    m.push(text(m.src.read(u(m.src.read(4))), "utf-8"))


@_op("U")
def _short_binstring(m: Machine) -> None:
    m.push(text(m.src.read(m.src.read(1)[0]), "utf-8"))


@_op("V")
def _unicode(m: Machine) -> None:
    m.push(text(m.line()[:-1], "raw_unicode_escape"))


@_op("X")
def _binunicode(m: Machine) -> None:
    m.push(text(m.src.read(u(m.src.read(4))), "utf-8", "surrogatepass"))


@_op("\x8c")
def _short_binunicode(m: Machine) -> None:
    m.push(text(m.src.read(m.src.read(1)[0]), "utf-8", "surrogatepass"))


@_op("\x8d")
def _binunicode8(m: Machine) -> None:
    m.push(text(m.src.read(u(m.src.read(8))), "utf-8", "surrogatepass"))


@_op("B")
def _binbytes(m: Machine) -> None:
    m.push(m.src.read(u(m.src.read(4))))


@_op("C")
def _short_binbytes(m: Machine) -> None:
    m.push(m.src.read(m.src.read(1)[0]))


@_op("\x8e\x96")
def _binbytes8(m: Machine) -> None:
    m.push(m.src.read(u(m.src.read(8))))
