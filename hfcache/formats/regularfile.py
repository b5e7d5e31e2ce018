"""Open a file to parse it: non-blocking, and only if it is a regular file.

A FIFO or a device named like a checkpoint would make a plain ``open`` and ``read`` wait
forever (a FIFO with no writer) or read without end (``/dev/zero``). ``O_NONBLOCK`` makes the
open itself return at once, and the ``fstat`` of the descriptor opened (not of the name, which
could be swapped in between) refuses anything that is not a regular file before a byte is read.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)


class NotRegularFile(OSError):
    """The path is a FIFO, socket, device or folder: nothing to parse."""


def open_regular(path: str | os.PathLike[str]) -> tuple[BinaryIO, int]:
    """``(file, size)`` for reading ``path``; raises :class:`NotRegularFile` or ``OSError``."""
    fd = os.open(path, _FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(f"not a regular file: {os.fspath(path)}")
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    return f, st.st_size
