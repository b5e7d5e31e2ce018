"""``hfcache fit``: will a checkpoint load on this machine (or one described), and how to load it."""

from __future__ import annotations

import typer

from hfcache.cli.errors import handled
from hfcache.cli.fit_report import render
from hfcache.cli.output import (
    CACHE_DIR_OPTION,
    JSON_OPTION,
    QUIET_OPTION,
    REVISION_OPTION,
    TARGET_ARGUMENT,
    Output,
)
from hfcache.fit import fit_target


def fit_command(
    target: str = TARGET_ARGUMENT,
    revision: str | None = REVISION_OPTION,
    cache_dir: str | None = CACHE_DIR_OPTION,
    context: int | None = typer.Option(
        None,
        "--context",
        metavar="TOKENS",
        help="Tokens per sequence for the KV cache (default: max_position_embeddings, at most 4096).",
        show_default=False,
    ),
    batch: int = typer.Option(1, "--batch", metavar="N", help="Sequences at once."),
    dtype: str = typer.Option(
        "auto", "--dtype", metavar="DTYPE", help="bfloat16, float16, float32 or auto (the config's)."
    ),
    gpu: list[str] = typer.Option(
        [],
        "--gpu",
        metavar="SIZE",
        help="Plan for a GPU with this much free, with a unit (24GiB, 80GB); repeatable.",
        show_default=False,
    ),
    no_gpu: bool = typer.Option(False, "--no-gpu", help="Plan for no GPU."),
    ram: str | None = typer.Option(
        None, "--ram", metavar="SIZE", help="RAM available (64GiB) instead of detected.", show_default=False
    ),
    disk: str | None = typer.Option(
        None, "--disk", metavar="SIZE", help="Free disk for offload (500GB) instead.", show_default=False
    ),
    json_out: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Will a checkpoint fit this machine's GPUs, RAM and disk? The from_pretrained line to load it.

    Reads headers and config.json only; the GPUs are asked through NVML or nvidia-smi.

    Examples:
      hfcache fit hfl/rbt3                           # this machine, detected
      hfcache fit org/llama-8b --context 8192 --batch 4 --json
      hfcache fit org/llama-8b --gpu 24GiB --gpu 24GiB --ram 64GiB   # plan another machine
      hfcache fit /models/llama --no-gpu

    Exit codes: 0 it fits (a plan is printed), 1 it does not fit or no plan was made, 2 bad input.
    """
    out = Output(json_out, quiet=quiet)
    with handled(out):
        result = fit_target(
            target,
            revision=revision,
            cache_dir=cache_dir,
            gpus=gpu,
            no_gpu=no_gpu,
            ram=ram,
            disk=disk,
            context=context,
            batch=batch,
            dtype=dtype,
        )
    out.finish(result, lambda: render(out, result))
