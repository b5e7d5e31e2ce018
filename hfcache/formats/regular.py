"""Open a file for reading only if it is a regular file, and never block doing so.

``open(path)`` on a FIFO waits for a writer forever: a FIFO named ``model.safetensors`` in a
folder would hang any command that reads it. Opening with ``O_NONBLOCK`` returns at once for
every kind of file; the file is then refused unless ``fstat`` calls it a regular file. (For a
regular file ``O_NONBLOCK`` changes nothing.)
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
)


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """``open(path, "rb")`` for a regular file (links followed); ``OSError`` for anything else."""
    fd = os.open(path, _FLAGS)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def open_regular_sized(path: str | os.PathLike[str]) -> tuple[BinaryIO, int]:
    """:func:`open_regular` and the size of the file opened (its ``fstat``, not the name's)."""
    f = open_regular(path)
    return f, os.fstat(f.fileno()).st_size
