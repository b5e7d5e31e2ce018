"""A pickle's bytes as CPython's C unpickler reads them: FRAME boundaries enforced, sizes bounded.

The C unpickler reads a whole ``FRAME`` into its buffer; an opcode, argument or line that runs
past the frame's end is read there from the bytes *after* the frame, where ``pickletools`` and
the pure-Python unpickler read straight on. Such a pickle shows one program to one reader and
another to the next, so crossing a frame end raises :class:`Ambiguous` here rather than picking
one reading. Also the errors every decoding step raises, and the two byte helpers they share.
"""

from __future__ import annotations

from typing import BinaryIO

MAX_PICKLE_BYTES = 64 * 1024 * 1024
"""Most bytes one pickle may take (a state dict of 400,000 tensors takes about 40 MB)."""
MAX_LINE = 16 * 1024 * 1024
"""Longest text argument (protocol 0 strings can be long; a long line is also how a pickle pushes
its hidden part past the C unpickler's read buffer, so it must be followed, not given up on)."""


class Bad(Exception):
    """Input the scan cannot follow: it ends the scan with an ``error``."""


class Ambiguous(Bad):
    """Input that readers decode differently (framing): the scan ends ``ambiguous``."""


class Source:
    """Bytes read as the C unpickler reads them, FRAME boundaries enforced."""

    def __init__(self, f: BinaryIO, limit: int) -> None:
        self.f = f
        self.pos = 0
        self.limit = limit
        self.frame_end: int | None = None

    def read(self, n: int) -> bytes:
        if n > self.limit - self.pos:
            raise Bad(f"the pickle is larger than {self.limit} bytes, or an argument says it is")
        if self.frame_end is not None and self.pos + n > self.frame_end:
            raise Ambiguous("an opcode or argument runs past the end of its FRAME")
        data = self.f.read(n)
        if len(data) < n:
            raise Bad("the pickle ends early (truncated)")
        self._advance(n)
        return data

    def readline(self) -> bytes:
        room = min(MAX_LINE, self.limit - self.pos)
        if self.frame_end is not None:
            room = min(room, self.frame_end - self.pos)
        line = self.f.readline(room)
        if not line.endswith(b"\n"):
            if self.frame_end is not None and len(line) == self.frame_end - self.pos:
                raise Ambiguous("a text argument runs past the end of its FRAME")
            raise Bad("a text argument has no end of line (truncated, or too long)")
        self._advance(len(line))
        return line

    def _advance(self, n: int) -> None:
        self.pos += n
        if self.pos == self.frame_end:
            self.frame_end = None

    def frame(self, length: int) -> None:
        if self.frame_end is not None:
            raise Ambiguous("a FRAME begins before the previous one ends")
        if length > self.limit - self.pos:
            raise Bad("a FRAME is longer than the pickle")
        if length:
            self.frame_end = self.pos + length


def u(data: bytes) -> int:
    """An unsigned little-endian integer (the pickle's length and index arguments)."""
    return int.from_bytes(data, "little")


def text(data: bytes, encoding: str, errors: str = "strict") -> str:
    """Bytes decoded as the C unpickler decodes them; undecodable bytes are :class:`Bad`."""
    try:
        return data.decode(encoding, errors)
    except UnicodeDecodeError:
        raise Bad(f"a string that is not {encoding}") from None
