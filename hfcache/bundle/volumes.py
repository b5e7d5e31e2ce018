"""Write a bundle's bytes: one file, numbered volumes (``x.tar.001``, ``.002``...) or stdout.

Air-gapped transfers go through media and tools with size limits (FAT32's 4 GiB, upload forms,
optical discs), so ``pack`` can cut its tar stream into volumes of a fixed size whose plain
``cat`` in name order is the stream again, exactly like GNU ``split -b``; ``unpack`` reads
them back (:mod:`hfcache.bundle.volread`). Writing is crash-safe: every file grows under a
hidden temporary name and gets its final name only in :meth:`VolumeWriter.commit`, volume 001
last, so a killed or failed pack never leaves anything that looks like a finished bundle.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import stat
import sys
from typing import IO, TYPE_CHECKING

from hfcache.bundle.volnames import MAX_VOLUMES, checksum_name, numbered_siblings, partial_name, volume_name
from hfcache.errors import BadInputError
from hfcache.fs import fsops
from hfcache.fs.streamcopy import widen_pipe

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock against a concurrent pack
    fcntl = None  # type: ignore[assignment]

WRITEBACK_STEP = 32 << 20
_FADVISE = getattr(os, "posix_fadvise", None)  # Linux and BSDs
IO_BUFFER = 64 << 10  # coalesces tarfile's 512 B-10 KiB writes; larger ones bypass it (no extra copy)
__all__ = ["VolumeWriter", "checksum_name"]  # checksum_name: what pack names beside the volumes


class VolumeWriter(io.BufferedIOBase):
    """A write-only binary stream to ``target`` ("-": stdout), split into volumes if asked.

    ``volume_size`` None: one file at ``target``. Otherwise ``target.001``, ``.002``... of exactly
    ``volume_size`` bytes each but the last (at least one volume, even for an empty stream).
    Nothing gets a final name before :meth:`commit`; :meth:`abort`, and :meth:`close` or the
    ``with`` block's end without a commit (exception or not), delete every temporary. Existing
    final names (for volumes: any ``target.NNN``) raise FileExistsError unless ``overwrite``;
    then a commit also removes the earlier bundle's surplus volumes. Usable as the ``fileobj``
    of ``tarfile.open(mode="w|")``; ``write`` never copies big buffers, only coalesces small ones.
    """

    def __init__(self, target: str, volume_size: int | None = None, *, overwrite: bool = False) -> None:
        super().__init__()
        self._target, self._volume_size, self._overwrite = target, volume_size, overwrite
        self._written = 0
        self._room = 0  # bytes left in the current volume
        self._file_pos = self._kicked = 0  # bytes in the current file; where writeback was last started
        self._parts: list[tuple[str, str]] = []  # (temporary, final) of each volume so far
        self._out: IO[bytes] | None = None
        self._lock_fd: int | None = None  # holds the flock on the first temporary until the end
        self._done: list[str] | None = None  # final paths once committed
        self._digests: list[str] = []  # sha256 of each finished volume
        self._hash = hashlib.sha256()  # of the current volume (split bundles only)
        if volume_size is not None and volume_size <= 0:
            raise ValueError(f"volume size must be positive, not {volume_size}")
        if target == "-" and volume_size is not None:
            raise ValueError("standard output cannot be split into volumes: give a file name")
        if target == "-":
            self._out = sys.stdout.buffer
            widen_pipe(sys.stdout)
            return
        head = os.path.dirname(target) or "."
        if not os.path.isdir(head):
            raise FileNotFoundError(errno.ENOENT, "no such directory for the bundle", head)
        if os.path.isdir(target):
            raise IsADirectoryError(errno.EISDIR, "is a directory", target)
        for existing in [target, *numbered_siblings(target).values()]:
            st = fsops.lstat_or_none(existing)
            if st is not None and not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                # never replaced, not even with overwrite: it may be /dev/sdb or a named pipe
                raise BadInputError(
                    f"{existing} exists and is not a regular file: to write there, use -o - and >"
                )
        if not overwrite:
            taken = numbered_siblings(target) if volume_size else {}
            if volume_size is None and os.path.lexists(target):
                taken = {0: target}
            if volume_size and os.path.lexists(checksum_name(target)):
                taken[0] = checksum_name(target)
            if taken:
                first = taken[min(taken)]
                raise FileExistsError(errno.EEXIST, "already exists (overwrite to replace it)", first)
        self._out = self._open_next()

    @property
    def bytes_written(self) -> int:
        """Bytes accepted so far, over all volumes."""
        return self._written

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        """The stream position (bytes written): enough for tarfile's non-stream ``"w"`` mode."""
        return self._written

    def _open_next(self) -> IO[bytes]:
        """Create, lock (the first) and open the temporary of the next volume."""
        index = len(self._parts) + 1
        final = self._target
        if self._volume_size is not None:
            if index > MAX_VOLUMES:
                raise OSError(errno.EFBIG, f"over {MAX_VOLUMES} volumes: use a larger volume size", final)
            final = volume_name(self._target, index)
        if not self._overwrite and os.path.lexists(final):
            raise FileExistsError(errno.EEXIST, "already exists (overwrite to replace it)", final)
        temp = partial_name(final)
        # Read-write: pack's hashers read back what a one-file bundle holds (see direct()).
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
        with fsops.named(final, temp):
            fd = os.open(temp, flags, 0o666)
            try:
                if index == 1 and fcntl is not None:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        busy = "another pack is writing this bundle"
                        raise FileExistsError(errno.EBUSY, busy, final) from None
                    self._lock_fd = os.dup(fd)
                os.ftruncate(fd, 0)  # a crashed pack's leftover, unlocked: reuse it
                out = open(fd, "wb", buffering=IO_BUFFER)  # noqa: SIM115 - closed at rollover/commit/abort
            except BaseException:
                os.close(fd)
                raise
        self._parts.append((temp, final))
        self._room = self._volume_size or 0
        self._file_pos = self._kicked = 0
        return out

    def direct(self) -> tuple[int, str] | None:
        """A one-file bundle's descriptor (opened read-write) and temporary path, for writes at
        explicit offsets from :attr:`bytes_written` on (``os.pwrite``, ``os.copy_file_range``);
        None for stdout and volumes, which are written in order through :meth:`write`.

        What is buffered is flushed first. From then on the caller writes only through the
        descriptor, reports the end of what it wrote with :meth:`wrote`, and starts writeback
        itself; :meth:`commit` and :meth:`abort` work as ever."""
        if self._target == "-" or self._volume_size is not None or self._out is None or self.closed:
            return None
        with self._naming():
            self._out.flush()
        return self._out.fileno(), self._parts[-1][0]

    def wrote(self, end: int) -> None:
        """After :meth:`direct`: the bundle's bytes now reach offset ``end``."""
        self._written = max(self._written, end)
        self._file_pos = self._kicked = self._written

    def _naming(self, part: int = -1) -> contextlib.AbstractContextManager[None]:
        """OSErrors inside name volume ``part`` (the one being written), never its temporary."""
        if self._target == "-" or not self._parts:
            return contextlib.nullcontext()
        temp, final = self._parts[part]
        return fsops.named(final, temp)

    def write(self, data: ReadableBuffer) -> int:
        """Write all of ``data`` (any bytes-like object), cutting volumes where they are full.

        An OSError (a full disk) names the volume being written, never its temporary."""
        try:
            return self._write(data)
        except OSError:
            with self._naming():  # the volume being written when it failed
                raise

    def _write(self, data: ReadableBuffer) -> int:
        out = self._out
        if out is None or self.closed:
            raise ValueError("write to a closed, committed or aborted VolumeWriter")
        view = memoryview(data)
        if view.ndim != 1 or view.itemsize != 1:
            view = view.cast("B")
        total = view.nbytes
        if self._volume_size is None:
            out.write(view)
            self._written += total
            self._file_pos += total
            self._start_writeback(out)
            return total
        pos = 0
        while pos < total:
            if self._room == 0:
                out.close()  # durable later: commit fsyncs every volume
                self._out = None
                self._digests.append(self._hash.hexdigest())
                self._hash = hashlib.sha256()
                out = self._out = self._open_next()
            take = min(self._room, total - pos)
            chunk = view[pos : pos + take] if take != total else view
            out.write(chunk)
            self._hash.update(chunk)
            pos += take
            self._room -= take
            self._written += take
            self._file_pos += take
            self._start_writeback(out)
        return total

    def _start_writeback(self, out: IO[bytes]) -> None:
        """Every ``WRITEBACK_STEP`` bytes, ask the kernel to start writing the file out now.

        Without this, nothing reaches the disk until commit's fsync (Linux starts writeback
        only past a share of RAM or after 30 s), which then waits for all of it; with it, the
        disk works while the hashing does. ``POSIX_FADV_DONTNEED`` starts writeback without
        waiting and drops pages already written: packing 50 GB does not evict the page cache.
        """
        if self._target == "-" or _FADVISE is None or self._file_pos - self._kicked < WRITEBACK_STEP:
            return
        out.flush()
        start = max(0, self._kicked - WRITEBACK_STEP)  # the previous step: clean by now, dropped
        with contextlib.suppress(OSError):
            _FADVISE(out.fileno(), start, self._file_pos - start, os.POSIX_FADV_DONTNEED)
        self._kicked = self._file_pos

    def flush(self) -> None:
        if self._out is not None and self._done is None:
            with self._naming():
                self._out.flush()

    def commit(self) -> list[str]:
        """Make everything durable (fsync), then give it its final names; return those paths.

        Volumes are renamed last to first, so ``.001`` appears only once all others are in
        place. Idempotent once it succeeded; if it fails, the bundle is aborted.
        """
        if self._done is not None:
            return list(self._done)
        out = self._out
        if out is None or self.closed:
            raise ValueError("commit of an aborted VolumeWriter")
        if self._target == "-":
            out.flush()
            self._done = ["-"]
            self._out = None
            super().close()
            return ["-"]
        renamed: list[str] = []
        try:
            with self._naming():
                out.flush()
                os.fsync(out.fileno())
                out.close()
            self._out = None
            for i, (temp, _) in enumerate(self._parts[:-1]):  # closed at rollover: fsync them now
                with self._naming(i):
                    fsops.fsync_path(temp)
            finals = [final for _, final in self._parts]
            if self._volume_size is not None:
                # Renamed into place before the volumes, so a finished .001 always has it beside it.
                sums = "".join(
                    f"{d}  {os.path.basename(f)}\n"
                    for d, f in zip([*self._digests, self._hash.hexdigest()], finals, strict=True)
                )
                fsops.write_atomic(os.path.abspath(checksum_name(self._target)), sums.encode())
                renamed.append(checksum_name(self._target))
            if not self._overwrite:
                for final in finals:
                    if os.path.lexists(final):
                        raise FileExistsError(errno.EEXIST, "appeared while packing", final)
            elif self._volume_size is not None:  # first hide the old bundle, then drop its surplus
                for number, path in sorted(numbered_siblings(self._target).items()):
                    if number == 1 or number > len(finals):
                        os.unlink(path)
            for i, (temp, final) in reversed(list(enumerate(self._parts))):
                with self._naming(i):
                    os.replace(temp, final)
                renamed.append(final)
            fsops.fsync_path(os.path.dirname(self._target) or ".")
        except BaseException:
            for path in renamed:
                with contextlib.suppress(OSError):
                    os.unlink(path)
            self.abort()
            raise
        self._done = finals
        self._release()
        return list(finals)

    def abort(self) -> None:
        """Drop the bundle: close and delete every temporary (no-op after a commit)."""
        if self._done is not None or self.closed:
            return
        out, self._out = self._out, None
        if out is not None and self._target != "-":
            with contextlib.suppress(OSError):
                out.close()
        for temp, _ in self._parts:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        self._release()

    def close(self) -> None:
        """Close; without a prior :meth:`commit` this aborts (a bundle is only ever committed)."""
        if not self.closed:
            self.abort()
            self._release()

    def _release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        super().close()
