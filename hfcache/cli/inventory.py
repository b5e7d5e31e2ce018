"""``hfcache inventory``: what a cache holds, as a small JSON document to carry out."""

from __future__ import annotations

import shlex
from pathlib import Path

import typer

from hfcache.bundle.inventory import Inventory
from hfcache.cli.errors import handled
from hfcache.cli.output import JSON_OPTION, QUIET_OPTION, Output
from hfcache.fs import fsops
from hfcache.inventory.take import take_inventory
from hfcache.units import human_size

DEFAULT_OUTPUT = "inventory.json"


def inventory_command(
    sources: list[str] = typer.Argument(
        None,
        metavar="SOURCE...",
        help="Caches (an HF_HOME, a hub cache, a repo folder), bundles or OCI layouts to list; "
        "default: huggingface_hub's cache.",
        show_default=False,
    ),
    output: Path | None = typer.Option(
        None,
        "-o",
        "--output",
        metavar="FILE",
        help=f"Write the inventory here (default: {DEFAULT_OUTPUT} in this folder, unless --json).",
        show_default=False,
    ),
    verify: bool = typer.Option(
        False, "--verify", help="Count only blobs whose bytes hash to their name (else: present, right size)."
    ),
    json_out: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """List every blob a cache holds (id and size), per repo and revision, with the refs: a
    small JSON document to carry to the machine that packs, so that `pack --exclude-present`
    leaves out what is already here. No file contents, no secrets. Needs no network.

    Examples:
      hfcache inventory -o offline.json                  # huggingface_hub's cache
      hfcache inventory /data/hf/hub --verify -o offline.json
      hfcache inventory /data/hf/hub --json | less       # the document on stdout

    Exit codes: 0 listed, 1 failed, 2 bad input.
    """
    out = Output(json_out, quiet=quiet)
    with handled(out):
        inv = take_inventory(sources or [None], verify=verify, progress=out.progress())
        target = str(output) if output is not None else (None if json_out else DEFAULT_OUTPUT)
        if target is not None:
            fsops.write_atomic(target, inv.to_bytes())
    out.finish(inv, lambda: _render(out, inv, target))


def _render(out: Output, inv: Inventory, target: str | None) -> None:
    revisions = sum(len(r["revisions"]) for r in inv.repos)
    how = "hashed to their names" if inv.verified else "present and not found damaged"
    out.say(
        f"{len(inv.repos)} repo(s), {revisions} revision(s), {len(inv.blobs)} blob(s) "
        f"({human_size(inv.total_bytes)}) {how}, in {', '.join(inv.sources)}"
    )
    if target is not None:
        out.say(f"wrote {target}")
        out.message(f"Where you pack: hfcache pack REPO... --exclude-present {shlex.quote(target)}")
