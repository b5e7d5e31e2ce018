"""Open a header or index file safely and read a bounded part of it.

A cache can hold a symlink where a file should be, or a FIFO named ``model.safetensors``; these
open it read-only without following a final symlink unless asked, without ever blocking, and
refuse anything but a regular file. Reads take only the bytes asked for, in one buffer.
"""

from __future__ import annotations

import errno
import os
import stat

from hfcache.formats.safetensors.loader import Invalid


def open_file(path: str | os.PathLike[str], follow_symlinks: bool) -> int:
    """Open read-only, refusing a final symlink unless asked and never blocking on a FIFO."""
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_NONBLOCK", 0)
    if not follow_symlinks:
        if hasattr(os, "O_NOFOLLOW"):
            flags |= os.O_NOFOLLOW
        elif stat.S_ISLNK(os.lstat(path).st_mode):  # no O_NOFOLLOW (Windows): best effort
            raise OSError(errno.ELOOP, "is a symbolic link")
    fd = os.open(path, flags)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise Invalid("not a regular file")
    return fd


def read_exact(fd: int, count: int) -> bytes:
    """``count`` bytes, or fewer at the end of the file, read in chunks of at most 1 MiB."""
    chunks: list[bytes] = []
    while count > 0:
        chunk = os.read(fd, min(count, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def describe(exc: OSError, follow_symlinks: bool) -> str:
    """An I/O error in plain English (a refused symlink said as such)."""
    if not follow_symlinks and exc.errno in (errno.ELOOP, errno.EMLINK):
        return "is a symbolic link (not followed)"
    return f"cannot read file: {exc.strerror or exc}"


def read_into(fd: int, count: int) -> bytearray:
    """``count`` bytes (fewer at the end of the file) in one buffer, without a second copy."""
    buf = bytearray(count)
    view, got = memoryview(buf), 0
    while got < count:
        n = os.readv(fd, [view[got : got + (1 << 24)]])
        if n == 0:
            break
        got += n
    view.release()
    del buf[got:]
    return buf
