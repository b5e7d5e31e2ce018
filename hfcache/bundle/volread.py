"""Read a bundle back: standard input, one file, or numbered volumes as one seekable file.

Volumes written by :class:`hfcache.bundle.volumes.VolumeWriter` (or GNU ``split``) are read in
name order until one is missing. Files are read in place, so the tar reader can seek and
:func:`range_copier` can copy a member's bytes in the kernel (``copy_file_range``) instead of
through Python buffers.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import io
import os
import stat
import sys
import threading
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, BinaryIO

from hfcache.bundle.checksums import missing_volumes
from hfcache.bundle.volnames import MAX_VOLUMES, VOLUME_NAME, volume_name
from hfcache.errors import BadInputError, BundleError
from hfcache.fs.streamcopy import widen_pipe
from hfcache.fs.writeback import will_need

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

IO_BUFFER = 64 << 10  # coalesces tarfile's 512 B header reads; larger reads bypass it (no extra copy)
_COPY_FILE_RANGE = [hasattr(os, "copy_file_range")]  # cleared once the kernel refuses it


class _VolumeReader(io.RawIOBase):
    """The concatenation of ``first`` and, for a ``.NNN`` name, the next numbers until one is
    missing, as one seekable file. Volume sizes are taken when opened; a volume that is shorter
    when read ends the stream there (the tar reader sees truncation). One volume is open at a
    time; read errors are re-raised naming the file.
    """

    def __init__(self, first: str) -> None:
        super().__init__()
        self.name = first
        self._paths = volume_paths(first)
        self._starts = [0]
        for path in self._paths:
            self._starts.append(self._starts[-1] + os.stat(path).st_size)
        self._pos = 0
        self._index = -1
        self._file: io.FileIO | None = None
        self._open(0)
        self._fds: dict[int, int] = {}  # for read_at, from any thread: one descriptor per volume
        self._fds_lock = threading.Lock()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._starts[-1]}[whence]
        if base + offset < 0:
            raise OSError(errno.EINVAL, "negative seek position", self.name)
        self._pos = base + offset
        return self._pos

    def _open(self, index: int) -> io.FileIO:
        if index != self._index or self._file is None:
            if self._file is not None:
                self._file.close()
                self._file = None
            self._file = io.FileIO(self._paths[index], "rb")
            self._index = index
        return self._file

    def _locate(self, pos: int) -> tuple[int, int, int]:
        """(volume index, offset in it, bytes left in it) of stream position ``pos``."""
        index = bisect.bisect_right(self._starts, pos) - 1
        return index, pos - self._starts[index], self._starts[index + 1] - pos

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        if self._pos >= self._starts[-1] or not len(view):
            return 0
        index, offset, left = self._locate(self._pos)
        try:
            f = self._open(index)
            f.seek(offset)
            n = f.readinto(view[: min(len(view), left)]) or 0
        except OSError as exc:
            raise OSError(exc.errno, f"{exc.strerror or exc} (reading a volume)", self._paths[index]) from exc
        self._pos += n
        return n

    def copy_to(self, fd: int, offset: int, size: int) -> None:
        """Write bytes ``offset`` to ``offset + size`` of the stream to ``fd``, in the kernel
        where it can (``copy_file_range``: no copy through Python, a reflink on some
        filesystems). EOFError if the volumes end first."""
        while size:
            index, local, left = self._locate(offset) if offset < self._starts[-1] else (0, 0, 0)
            if not left:
                raise EOFError(f"stream ended {size} bytes early: truncated")
            want = min(size, left)
            try:
                n = _copy_range(self._open(index).fileno(), fd, local, want)
            except OSError as exc:
                raise OSError(
                    exc.errno, f"{exc.strerror or exc} (copying from a volume)", self._paths[index]
                ) from exc
            if not n:
                raise EOFError(f"volume {self._paths[index]} is shorter than when it was opened: truncated")
            offset, size = offset + n, size - n

    def _fd(self, index: int) -> int:
        with self._fds_lock:
            fd = self._fds.get(index)
            if fd is None:
                fd = self._fds[index] = os.open(self._paths[index], os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            return fd

    def will_need(self, offset: int, size: int) -> None:
        """Have the kernel start reading ``size`` bytes from stream position ``offset`` into the
        page cache (``POSIX_FADV_WILLNEED``): workers reading several blobs at once from one file
        defeat its sequential read-ahead, so each asks for its next window itself."""
        end = min(offset + size, self._starts[-1])
        while offset < end:
            index, local, left = self._locate(offset)
            n = min(left, end - offset)
            with contextlib.suppress(OSError):
                will_need(self._fd(index), local, n)
            offset += n

    def read_at(self, view: memoryview, offset: int) -> int:
        """Read into ``view`` from stream position ``offset``, leaving the stream's position alone
        (safe from any thread); bytes read, fewer only at the end of the stream (or of a volume
        that got shorter since it was opened)."""
        got = 0
        while got < len(view) and offset + got < self._starts[-1]:
            index, local, left = self._locate(offset + got)
            path = self._paths[index]
            try:
                n = os.preadv(self._fd(index), [view[got : got + min(len(view) - got, left)]], local)
            except OSError as exc:
                raise OSError(exc.errno, f"{exc.strerror or exc} (reading a volume)", path) from exc
            if not n:
                break
            got += n
        return got

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        with self._fds_lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()
        super().close()


def _copy_range(src: int, dst: int, offset: int, size: int) -> int:
    """Copy up to ``size`` bytes at ``offset`` of ``src`` to ``dst``'s position; bytes copied."""
    if _COPY_FILE_RANGE[0]:
        try:
            return os.copy_file_range(src, dst, size, offset)
        except OSError as exc:  # old kernels, across filesystems, or a filesystem without it
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM):
                raise
            _COPY_FILE_RANGE[0] = False
    data = os.pread(src, min(size, 1 << 20), offset)
    if data:
        _write_fd(dst, data)
    return len(data)


def _write_fd(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def open_volumes(first: str) -> BinaryIO:
    """A read-only stream over a bundle: stdin ("-"), one file, or volumes.

    ``first`` ending in ``.NNN`` reads that file, then ``.NNN+1``... until one is missing: a
    missing middle volume ends the stream early, which the tar reader then sees as truncation.
    Files and volumes are seekable (stdin and named pipes are not); use :func:`range_copier` to copy a
    member's bytes in the kernel. A missing or unreadable first file raises an OSError subclass
    naming it; read errors name the volume.
    """
    if first == "-":
        widen_pipe(sys.stdin)
        return sys.stdin.buffer
    if not stat.S_ISREG(os.stat(first).st_mode):  # a pipe, e.g. `hfcache unpack <(ssh host cat b.tar)`
        stream = open(first, "rb", buffering=IO_BUFFER)  # noqa: SIM115 (the caller closes it)
        widen_pipe(stream)
        return stream
    return io.BufferedReader(_VolumeReader(first), buffer_size=IO_BUFFER)


def range_reader(stream: IO[bytes]) -> _VolumeReader | None:
    """The reader under a stream from :func:`open_volumes` when it is files (else None), for
    positional reads any thread may make while the stream is read on (``read_at``, ``will_need``)."""
    raw = getattr(stream, "raw", None)
    return raw if isinstance(raw, _VolumeReader) and hasattr(os, "preadv") else None


def range_copier(stream: IO[bytes]) -> Callable[[int, int, int], None] | None:
    """``copy(fd, offset, size)`` over a stream from :func:`open_volumes`, if it is files, else None."""
    raw = getattr(stream, "raw", None)
    return raw.copy_to if isinstance(raw, _VolumeReader) else None


def first_volume(name: str) -> str:
    """The file to read for a bundle the user named: ``name``, or ``name.001`` when only volumes
    exist. :class:`BadInputError` for a later volume given first, naming the file to pass."""
    if name == "-" or os.path.exists(name):
        match = VOLUME_NAME.fullmatch(name)
        if match is not None and int(match.group(2)) > 1 and os.path.exists(volume_name(match.group(1), 1)):
            raise BadInputError(
                f"{name} is volume {int(match.group(2))} of a split bundle: pass the first one, "
                f"{volume_name(match.group(1), 1)}"
            )
        return name
    if os.path.exists(volume_name(name, 1)):
        return volume_name(name, 1)
    return name  # os.stat names it in the error


def volume_paths(first: str) -> list[str]:
    """The files :func:`open_volumes` would read (none for "-"); FileNotFoundError if ``first`` is missing.

    A gap (``.001`` and ``.003`` without ``.002``) is :class:`BundleError` naming the missing volume.
    """
    if first == "-":
        return []
    os.stat(first)
    match = VOLUME_NAME.fullmatch(first)
    if match is None:
        return [first]
    paths = [first]
    index = int(match.group(2)) + 1
    while os.path.exists(path := volume_name(match.group(1), index)):
        paths.append(path)
        index += 1
    later = [volume_name(match.group(1), i) for i in range(index + 1, MAX_VOLUMES + 1)]
    beyond = next((p for p in later if os.path.exists(p)), None)
    if beyond is not None:
        raise BundleError(
            f"volume {volume_name(match.group(1), index)} is missing (there is {beyond}): copy it"
        )
    listed: list[str] = []
    with contextlib.suppress(BundleError):  # an unreadable checksum file only loses this hint
        listed = missing_volumes(first, paths)
    if listed:
        raise BundleError(f"volume {listed[0]} is missing (the checksum file lists it): copy it")
    return paths


def open_bundle(source: str) -> tuple[str, BinaryIO, list[str]]:
    """A bundle as the user named it (a file, any volume of a set, or ``-``): its first volume,
    one stream over every volume, and the volumes' paths. ``BadInputError`` if it cannot be read."""
    first = first_volume(source)
    try:
        stream = open_volumes(first)
    except OSError as e:
        raise BadInputError(f"cannot read {first}: {e.strerror or e}") from None
    return first, stream, volume_paths(first)

