"""``hfcache quarantine``: list what ``--fix`` kept instead of deleting, and empty it when you say so."""

from __future__ import annotations

from pathlib import Path

import typer

from hfcache.cli.errors import handled
from hfcache.cli.output import JSON_OPTION, QUIET_OPTION, Output
from hfcache.quarantine import EmptyResult, empty_quarantine
from hfcache.units import human_size


def quarantine_command(
    path: Path | None = typer.Argument(
        None,
        help="HF_HOME folder, hub cache or one models--org--name folder. Default: huggingface_hub's cache.",
        show_default=False,
    ),
    empty: bool = typer.Option(
        False, "--empty", help="Delete the items listed (a dry run unless --yes is given too)."
    ),
    yes: bool = typer.Option(False, "--yes", help="With --empty: really delete them."),
    older_than: float | None = typer.Option(
        None, "--older-than", metavar="DAYS", help="Only items older than this many days."
    ),
    json_out: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """List the quarantine that doctor --fix keeps (nothing it replaced is deleted), or empty it.

    Without --empty this only lists. --empty alone is a dry run that says what would go;
    --empty --yes deletes those items.

    Examples:
      hfcache quarantine                             # the cache huggingface_hub uses
      hfcache quarantine ~/.cache/huggingface --empty --older-than 30
      hfcache quarantine ~/.cache/huggingface --empty --yes

    Exit codes: 0 listed (or emptied), 1 failed, 2 bad input.
    """
    out = Output(json_out, quiet=quiet)
    with handled(out):
        result = empty_quarantine(path, dry_run=not (empty and yes), older_than_days=older_than)
    out.finish(result, lambda: _render(out, result, empty, yes))


def _render(out: Output, result: EmptyResult, empty: bool, yes: bool) -> None:
    q = result.quarantine
    if not q.items:
        out.say(f"The quarantine of {q.cache_root} is empty.")
        return
    chosen = {i.path for i in result.removed}
    for item in q.items:
        mark = "  " if not empty or item.path not in chosen else ("- " if yes else "? ")
        owner = item.repo or "(cache)"
        out.say(f"{mark}{owner}  {item.stamp}  {item.files} file(s), {human_size(item.bytes)}  {item.path}")
    out.say(f"{len(q.items)} item(s), {q.files} file(s), {human_size(q.bytes)}")
    if not empty:
        out.message("Nothing was deleted. `--empty` shows what would go; `--empty --yes` deletes it.")
    elif not yes:
        out.say(f"Would delete {len(result.removed)} item(s), {human_size(result.bytes)} (marked ?).")
        out.message("Dry run: nothing was deleted. Add --yes to delete them.")
    else:
        out.say(f"Deleted {len(result.removed)} item(s), {human_size(result.bytes)}.")
