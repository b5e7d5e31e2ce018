"""The one table from exceptions to exit codes, and how an error is shown (a line, or JSON).

Problems found *in* a cache are findings, never exceptions; what lands here means "cannot
continue": bad input (2), a refusal or a failure met while working (1), Ctrl-C (130).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Iterator
from typing import Any

import typer

from hfcache.cli.output import Output
from hfcache.errors import (
    ArtifactError,
    BadInputError,
    BundleError,
    HfcacheError,
    PackRefusedError,
    RegistryError,
)

# A path the user gave that cannot be used is bad input (2); anything else (a full disk, an
# I/O error) is a problem met while working (1).
_BAD_PATH = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM, errno.EEXIST, errno.EROFS}

ERROR_TABLE: tuple[tuple[type[BaseException], int, str], ...] = (
    (BadInputError, 2, "bad-input"),
    (ArtifactError, 2, "bad-artifact"),
    (BundleError, 2, "bad-bundle"),
    (RegistryError, 1, "registry"),
    (PackRefusedError, 1, "pack-refused"),
    (HfcacheError, 1, "failed"),
    (KeyboardInterrupt, 130, "interrupted"),
)
"""(exception type, exit code, error code), first match wins; OSError is judged by its errno."""


def describe_os_error(e: OSError) -> str:
    """``what: path`` in one line, without Python's ``[Errno N]`` prefix.

    The library raises errors that name the user's files (never its own temporaries), so the path
    is shown as it is."""
    what = e.strerror or str(e)
    return f"{what}: {os.fsdecode(e.filename)}" if e.filename else what


def classify(e: BaseException) -> tuple[int, str, str]:
    """(exit code, error code, one-line message) for an exception the CLI reports."""
    if isinstance(e, OSError) and not isinstance(e, HfcacheError):
        bad = e.errno in _BAD_PATH
        return (2 if bad else 1), ("bad-input" if bad else "os-error"), describe_os_error(e)
    for kind, code, name in ERROR_TABLE:
        if isinstance(e, kind):
            return code, name, str(e) or "interrupted"
    raise e


def _details(e: BaseException) -> dict[str, Any]:
    if isinstance(e, PackRefusedError):
        return {"problems": [f.to_json() for f in e.problems]}
    return {}


def report(out: Output, e: BaseException) -> int:
    """Show ``e`` as the command's result (JSON on stdout with ``--json``) and return its exit code."""
    code, name, message = classify(e)
    details = _details(e)
    if out.json_mode:
        out.data({"error": {"code": name, "message": message, **details}})
    for problem in details.get("problems", []):  # each file once: its consequences are folded in
        if problem.get("folded_into") is None:
            also = f" (also: {', '.join(problem['also'])})" if problem.get("also") else ""
            out.message(f"  {problem['code']}: {problem['message']}{also}")
    out.error(message if name != "interrupted" else "interrupted")
    return code


@contextlib.contextmanager
def handled(out: Output) -> Iterator[None]:
    """Run a command body; a deliberate error, an OSError or Ctrl-C becomes one line and an exit code."""
    try:
        yield
    except BrokenPipeError:
        # The reader went away (``pack -o - | head``): end quietly, as ``cat`` does, with the
        # shell's code for SIGPIPE; stdout is pointed at /dev/null so the final flush cannot fail.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(141) from None
    except (HfcacheError, OSError, KeyboardInterrupt) as e:
        raise typer.Exit(report(out, e)) from None
