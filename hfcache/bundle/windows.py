"""The bundle file as aligned 4 MiB windows: filled by any thread, each written once complete.

pack's one-file way (:mod:`hfcache.bundle.packstream`) knows where every member lands before it
reads a byte, so worker threads read each member straight into the windows it covers and hash
it there; a writer thread writes each window as soon as it is complete. Where the file system
allows it the windows are written with ``O_DIRECT``: the disk DMAs from the window, nothing is
copied into or kept in the page cache. Elsewhere they go through the page cache, their writeback
started as each is written.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import queue
import threading

from hfcache.fs.writeback import start_writeback

WINDOW = 4 << 20  # the unit of writing: aligned in the file and in memory
ALIGN = 4096  # O_DIRECT offsets, lengths and buffers: a multiple of any common device's block
WRITERS = 2  # windows being written at once (the disk's queue)
_O_DIRECT = getattr(os, "O_DIRECT", 0)


def named_error(e: OSError, path: str) -> OSError:
    """``e`` again, naming ``path`` (the file it is about, as the user knows it)."""
    return type(e)(e.errno, e.strerror or str(e), path)


class Window:
    __slots__ = ("buf", "index", "left", "size")

    def __init__(self, index: int, buf: mmap.mmap, size: int) -> None:
        self.index, self.buf, self.size, self.left = index, buf, size, size


class Windows:
    """The bundle file as aligned windows: filled by any thread, each written once complete.

    Buffers come from a fixed pool (memory stays flat); filling threads wait for one when all
    are taken. Errors of the writer threads surface from :meth:`span` and :meth:`finish`."""

    def __init__(self, fd: int, direct: bool, buffers: int, name: str) -> None:
        self.fd, self.direct, self.name = fd, direct, name
        self._pool: queue.SimpleQueue[mmap.mmap] = queue.SimpleQueue()
        for _ in range(buffers):
            self._pool.put(mmap.mmap(-1, WINDOW))
        self._open: dict[int, Window] = {}
        self._lock = threading.Lock()
        self._todo: queue.SimpleQueue[Window | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self.total = -1  # set by the last task: the bundle's size (the last window may be short)
        self._writers = [threading.Thread(target=self._write_loop, daemon=True) for _ in range(WRITERS)]
        for t in self._writers:
            t.start()

    def _take(self) -> mmap.mmap:
        while True:
            if self._error is not None:
                raise self._error
            with contextlib.suppress(queue.Empty):
                return self._pool.get(timeout=0.1)

    def span(self, at: int, n: int) -> tuple[Window, memoryview]:
        """The window holding offset ``at`` and a view of up to ``n`` bytes from there in it."""
        index = at // WINDOW
        with self._lock:
            window = self._open.get(index)
        if window is None:
            buf = self._take()
            with self._lock:
                window = self._open.get(index)
                spare = window is not None  # another thread opened it meanwhile
                if window is None:
                    window = self._open[index] = Window(index, buf, WINDOW)
            if spare:
                self._pool.put(buf)
        start = at - index * WINDOW
        return window, memoryview(window.buf)[start : min(WINDOW, start + n)]

    def filled(self, window: Window, n: int) -> None:
        """``n`` more bytes of ``window`` are in place; a complete window is handed to a writer."""
        with self._lock:
            window.left -= n
            complete = window.left == 0
            if complete:
                del self._open[window.index]
        if complete:
            self._todo.put(window)

    def end_at(self, total: int) -> None:
        """The bundle ends at ``total``: the window holding the end is complete once filled to it."""
        self.total = total
        used = total % WINDOW
        if used:
            window, _ = self.span(total, 0)
            self.filled(window, WINDOW - used)

    def write(self, data: bytes, at: int) -> None:
        """``data`` at ``at`` (any thread): through the windows it spans."""
        view = memoryview(data)
        while view:
            window, dest = self.span(at, len(view))
            dest[:] = view[: len(dest)]
            self.filled(window, len(dest))
            view, at = view[len(dest) :], at + len(dest)

    def _write_loop(self) -> None:
        while (window := self._todo.get()) is not None:
            try:
                if self._error is None:
                    self._write_window(window)
            except BaseException as e:  # reported by span() and finish()
                if self._error is None:
                    self._error = e if not isinstance(e, OSError) else named_error(e, self.name)
            finally:
                self._pool.put(window.buf)

    def _write_window(self, window: Window) -> None:
        at = window.index * WINDOW
        size = WINDOW if self.total < 0 else min(WINDOW, self.total - at)
        length = -(-size // ALIGN) * ALIGN if self.direct else size
        view = memoryview(window.buf)[:length]
        if length > size:
            view[size:] = bytes(length - size)  # past the end: cut off after (see finish)
        while view:
            try:
                n = os.pwrite(self.fd, view, at)
            except OSError as e:
                if not (self.direct and e.errno == errno.EINVAL):
                    raise
                self._no_direct()  # the file system wants another alignment: through the page cache
                continue
            view, at = view[n:], at + n
        if not self.direct:
            start_writeback(self.fd, window.index * WINDOW, size)

    def _no_direct(self) -> None:
        with self._lock:
            if self.direct:
                import fcntl

                fcntl.fcntl(self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) & ~_O_DIRECT)
                self.direct = False

    def finish(self) -> None:
        """Wait until every window is written; raise the first write error."""
        for _ in self._writers:
            self._todo.put(None)
        for t in self._writers:
            t.join()
        if self._error is not None:
            raise self._error
        if self._open:
            raise RuntimeError(f"{len(self._open)} window(s) of the bundle were never completed")

    def stop(self) -> None:
        """On failure: let the writers go, write nothing more."""
        if self._error is None:
            self._error = RuntimeError("pack stopped")
        for _ in self._writers:
            self._todo.put(None)
        for t in self._writers:
            t.join()


def direct_fd(path: str) -> int | None:
    """``path`` opened for ``O_DIRECT`` writes, or None where the file system refuses it."""
    if not _O_DIRECT:
        return None
    try:
        return os.open(path, os.O_RDWR | _O_DIRECT | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
