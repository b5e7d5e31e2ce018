"""The ``hfcache`` command line: thin typer commands over the library.

Each command parses its options, calls one library function and renders the result through
:class:`hfcache.cli.output.Output`. Errors the library raises on purpose become one line on
stderr and an exit code (2 for bad input); nothing here ever shows a traceback for them.
"""

from __future__ import annotations

import typer

from hfcache import __version__
from hfcache.cli import doctor, pack

app = typer.Typer(
    name="hfcache",
    help="Diagnose, repair and carry Hugging Face caches to offline machines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command(name="doctor")(doctor.doctor)
app.command(name="pack")(pack.pack_command)
app.command(name="unpack")(pack.unpack_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hfcache {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """Diagnose, repair and carry Hugging Face caches to offline machines."""


def main() -> None:
    """Console-script entry point."""
    app()
