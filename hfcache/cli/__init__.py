"""The ``hfcache`` command line: thin typer commands over the library.

Each command parses its options, calls one library function and renders the result through
:class:`hfcache.cli.output.Output`. Errors the library raises on purpose become one line on
stderr (and a JSON document with ``--json``) and an exit code from the table in
:mod:`hfcache.cli.errors`; nothing here ever shows a traceback for them.
"""

from __future__ import annotations

import json
import sys
from typing import ClassVar

import typer

from hfcache import __version__, _hf
from hfcache.cli.helptext import LazyGroup
from hfcache.cli.output import SCHEMA_VERSION


class _Commands(LazyGroup):
    commands_by_name: ClassVar[dict[str, tuple[str, str]]] = {
        "doctor": ("hfcache.cli.doctor", "doctor"),
        "pack": ("hfcache.cli.pack", "pack_command"),
        "unpack": ("hfcache.cli.unpack", "unpack_command"),
        "quarantine": ("hfcache.cli.quarantine", "quarantine_command"),
        "inventory": ("hfcache.cli.inventory", "inventory_command"),
        "serve": ("hfcache.cli.serve", "serve_command"),
        "inspect": ("hfcache.cli.inspect", "inspect_command"),
        "fit": ("hfcache.cli.fit", "fit_command"),
    }


app = typer.Typer(
    name="hfcache",
    help="Diagnose, repair and carry Hugging Face caches to offline machines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_Commands,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hfcache {__version__} (huggingface_hub {_hf.VERSION})")
        from hfcache.pyz.info import running_info

        pyz = running_info()
        if pyz is not None:  # which compiled code it runs with, and what it left out
            typer.echo(pyz.describe())
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """Diagnose, repair and carry Hugging Face caches to offline machines."""


def _usage_error(e: Exception) -> int:
    """A command-line mistake: one line naming the ``--help`` of the command it was made on (and a
    JSON document with ``--json``), exit 2. A bare ``hfcache`` prints its help once, exit 0."""
    message = str(e.format_message()) if hasattr(e, "format_message") else str(e)
    if type(e).__name__ == "NoArgsIsHelpError":  # a bare hfcache, on clicks (or typer's own) from 8.2
        sys.stdout.write(message.rstrip("\n") + "\n")
        return 0
    if "--json" in sys.argv[1:]:
        doc = {"schema_version": SCHEMA_VERSION, "error": {"code": "usage", "message": message}}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    ctx = getattr(e, "ctx", None)
    where = getattr(ctx, "command_path", None) or "hfcache"
    sys.stderr.write(f"hfcache: error: {message} (see {where} --help)\n")
    return int(getattr(e, "exit_code", 2))


def main() -> None:
    """Console-script entry point."""
    for stream in (sys.stdout, sys.stderr):  # a file name that is not UTF-8 never ends a report
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    try:
        code = app(standalone_mode=False, prog_name="hfcache")
    except Exception as e:
        # click's UsageError and friends, from whichever click this typer uses.
        if hasattr(e, "exit_code") and hasattr(e, "format_message"):
            sys.exit(_usage_error(e))
        raise
    sys.exit(code if isinstance(code, int) else 0)
