"""``hfcache doctor``: diagnose a cache and, with ``--fix``, repair it."""

from __future__ import annotations

from pathlib import Path

import typer

from hfcache.cli.errors import handled
from hfcache.cli.output import JSON_OPTION, QUIET_OPTION, Output
from hfcache.cli.repairs import render_fix
from hfcache.cli.report import render
from hfcache.doctor import diagnose
from hfcache.fs.digests import DigestStore
from hfcache.repair import fix as run_fix


def doctor(
    path: Path | None = typer.Argument(
        None,
        help="HF_HOME folder, hub cache, one models--org--name folder, or a plain model folder. "
        "Default: the cache huggingface_hub uses (HF_HUB_CACHE / HF_HOME).",
        show_default=False,
    ),
    verify: bool = typer.Option(
        False, "--verify", help="Hash every blob and copy and compare with its name."
    ),
    fix: bool = typer.Option(
        False, "--fix", help="Repair what can be repaired without losing data, then check again."
    ),
    rehash: bool = typer.Option(
        False,
        "--rehash",
        help="With --verify: hash every file again, even those unchanged since an earlier run.",
    ),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="List every finding, not one line per kind."),
    json_out: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Diagnose a Hugging Face cache: broken links, copies, missing shards, bad refs, corrupt blobs.

    Without --fix nothing is written; the report says what --fix would do.

    Examples:
      hfcache doctor                                 # the cache huggingface_hub uses
      hfcache doctor ~/.cache/huggingface --verify   # also hash every blob against its name
      hfcache doctor /mnt/usb/hub --fix --verify     # repair, then check again
      hfcache doctor /models/rbt3 -v --json          # a plain model folder, every finding

    Exit codes: 0 no errors or warnings (after the repair, with --fix), 1 problems found or
    left, 2 bad input (no such path, not a cache).
    """
    out = Output(json_out, quiet=quiet)
    store = None if rehash else DigestStore.default()
    if fix:
        with handled(out):
            result = run_fix(path, verify_hashes=verify, progress=out.progress(), store=store)
        out.finish(result, lambda: render_fix(out, result, verbose=verbose))
    with handled(out):
        progress = out.progress()
        report = diagnose(path, verify_hashes=verify, progress=progress, store=store, keep_digests=False)
    out.finish(report, lambda: render(out, report, verbose=verbose))
