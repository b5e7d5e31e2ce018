"""Turn the library's deliberate errors into one line on stderr and an exit code."""

from __future__ import annotations

import contextlib
import errno
import sys
from collections.abc import Iterator

import typer

from hfcache.errors import HfcacheError

# A path the user gave that cannot be used is bad input (2); anything else (a full disk, an
# I/O error) is a problem met while working (1).
_BAD_PATH = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM, errno.EEXIST, errno.EROFS}


def describe_os_error(e: OSError) -> str:
    """``what: path`` in one line, without Python's ``[Errno N]`` prefix."""
    what = e.strerror or str(e)
    return f"{what}: {e.filename}" if e.filename else what


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Run a command body; on :class:`HfcacheError`, an OSError or Ctrl-C, print one line and exit."""
    try:
        yield
    except HfcacheError as e:
        sys.stderr.write(f"hfcache: error: {e}\n")
        raise typer.Exit(e.exit_code) from None
    except OSError as e:
        sys.stderr.write(f"hfcache: error: {describe_os_error(e)}\n")
        raise typer.Exit(2 if e.errno in _BAD_PATH else 1) from None
    except KeyboardInterrupt:
        sys.stderr.write("hfcache: interrupted\n")
        raise typer.Exit(130) from None
