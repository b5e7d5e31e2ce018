"""Turn the library's deliberate errors into one line on stderr and an exit code."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import typer

from hfcache.errors import HfcacheError


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Run a command body; on :class:`HfcacheError` or Ctrl-C, print one line and exit."""
    try:
        yield
    except HfcacheError as e:
        sys.stderr.write(f"hfcache: error: {e}\n")
        raise typer.Exit(e.exit_code) from None
    except KeyboardInterrupt:
        sys.stderr.write("hfcache: interrupted\n")
        raise typer.Exit(130) from None
