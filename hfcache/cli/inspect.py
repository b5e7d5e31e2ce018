"""``hfcache inspect``: what a checkpoint holds, without torch, and what would go wrong loading it."""

from __future__ import annotations

import typer

from hfcache.cli.errors import handled
from hfcache.cli.inspect_report import render
from hfcache.cli.output import (
    CACHE_DIR_OPTION,
    JSON_OPTION,
    QUIET_OPTION,
    REVISION_OPTION,
    TARGET_ARGUMENT,
    Output,
)
from hfcache.inspect import inspect_target


def inspect_command(
    target: str = TARGET_ARGUMENT,
    revision: str | None = REVISION_OPTION,
    cache_dir: str | None = CACHE_DIR_OPTION,
    strip_prefix: list[str] = typer.Option(
        [],
        "--strip-prefix",
        metavar="PREFIX",
        help="With --write-to: remove this prefix (e.g. module.) from every tensor name; repeatable.",
        show_default=False,
    ),
    write_to: str | None = typer.Option(
        None,
        "--write-to",
        metavar="DIR",
        help="With --strip-prefix: write a safetensors copy (config and tokenizer files too) into this "
        "new folder.",
        show_default=False,
    ),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="List every tensor."),
    json_out: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Inspect a checkpoint: tensors, dtypes, totals, index, ties, quantization, key problems.

    Reads headers and pickle opcodes only: no tensor data, no torch, nothing executed.

    Examples:
      hfcache inspect hfl/rbt3                       # a repo of the cache
      hfcache inspect /models/llama --json           # a plain model folder
      hfcache inspect pytorch_model.bin              # one file: tensors, and whether it is safe
      hfcache inspect ckpt/ --strip-prefix module. --write-to ckpt-fixed/

    Exit codes: 0 nothing wrong, 1 problems (prefixed keys, unsafe pickle, broken index), 2 bad input.
    """
    out = Output(json_out, quiet=quiet)
    with handled(out):
        result = inspect_target(
            target, revision=revision, cache_dir=cache_dir, strip_prefix=strip_prefix, write_to=write_to
        )
    out.finish(result, lambda: render(out, result, verbose=verbose))
