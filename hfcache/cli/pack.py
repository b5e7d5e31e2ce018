"""``hfcache pack`` and ``hfcache unpack``: carry repos to an offline machine as one verified file."""

from __future__ import annotations

from pathlib import Path

import typer

from hfcache.bundle.pack import PackResult, pack
from hfcache.bundle.unpack import UnpackResult, unpack
from hfcache.cli.errors import handled
from hfcache.cli.output import JSON_OPTION, QUIET_OPTION, Output
from hfcache.errors import BadInputError
from hfcache.units import human_size


def pack_command(
    repo_ids: list[str] = typer.Argument(..., metavar="REPO_ID...", help="Repos to pack, e.g. hfl/rbt3."),
    output: str = typer.Option(..., "-o", "--output", help="Bundle file to write; '-' for stdout."),
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", help="Hub cache to read (default: huggingface_hub's)."
    ),
    repo_type: str = typer.Option("model", "--repo-type", help="model, dataset or space."),
    revision: str = typer.Option("main", "--revision", help="Branch, tag or commit to pack."),
    include: list[str] = typer.Option([], "--include", help="Only files matching this glob (repeatable)."),
    exclude: list[str] = typer.Option(
        [], "--exclude", help="Leave out files matching this glob (repeatable)."
    ),
    allow_incomplete: bool = typer.Option(
        False,
        "--allow-incomplete",
        help="Pack even if files are missing or broken (recorded in the manifest).",
    ),
    split_size: str | None = typer.Option(
        None, "--split-size", help="Write numbered volumes of this size (4G)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing bundle file."),
    json_out: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Pack repos of the local cache into one portable, verified tar bundle. Needs no network."""
    out = Output(json_out, quiet=quiet, data_to_stderr=output == "-")
    with handled(out):
        try:
            result = pack(
                repo_ids,
                output,
                cache_dir=str(cache_dir) if cache_dir else None,
                repo_type=repo_type,
                revision=revision,
                include=include,
                exclude=exclude,
                allow_incomplete=allow_incomplete,
                split_size=split_size,
                overwrite=force,
                progress=out.progress(),
            )
        except FileExistsError as e:
            raise BadInputError(f"{e.filename or output} exists; use --force to overwrite it") from None
    _render_pack(out, result)


def _render_pack(out: Output, result: PackResult) -> None:
    m = result.manifest
    if out.json_mode:
        out.data(
            {
                "paths": list(result.paths),
                "bytes_written": result.bytes_written,
                "repos": [
                    {
                        "repo_id": r.repo_id,
                        "repo_type": r.repo_type,
                        "revision": r.revision,
                        "commit": r.commit,
                        "files": len(r.files),
                        "problems": r.problems,
                    }
                    for r in m.repos
                ],
            }
        )
        return
    for r in m.repos:
        size = sum(f.size for f in r.files)
        out.say(
            f"packed {r.repo_type} {r.repo_id} @ {r.commit[:8]} ({r.revision}): {len(r.files)} files, "
            f"{human_size(size)}"
        )
    where = ", ".join(result.paths) if result.paths else "stdout"
    out.say(f"wrote {human_size(result.bytes_written)} to {where}")
    if result.problems:
        out.say(f"{len(result.problems)} problem(s) were allowed and are recorded in the manifest")


def unpack_command(
    file: str = typer.Argument(
        ..., metavar="FILE", help="Bundle, its first volume (.001), or '-' for stdin."
    ),
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", help="Hub cache to install into (default: huggingface_hub's)."
    ),
    local_dir: Path | None = typer.Option(
        None, "--local-dir", help="Write plain files here instead of a cache."
    ),
    check: bool = typer.Option(False, "--check", help="Verify the bundle completely; install nothing."),
    json_out: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Verify a bundle, then install it into a cache or a plain folder. Refuses bad bundles."""
    out = Output(json_out, quiet=quiet)
    with handled(out):
        result = unpack(
            file,
            cache_dir=str(cache_dir) if cache_dir else None,
            local_dir=str(local_dir) if local_dir else None,
            check_only=check,
            progress=out.progress(),
        )
    _render_unpack(out, result)
    problems = [f for r in result.reports for f in r.problems]
    raise typer.Exit(1 if problems else 0)


def _render_unpack(out: Output, result: UnpackResult) -> None:
    if out.json_mode:
        out.data(result.to_json())
        return
    for r in result.manifest.repos:
        out.say(f"{r.repo_type} {r.repo_id} @ {r.commit[:8]}: {len(r.files)} files verified")
    if result.installed is None:
        out.say(f"bundle OK: {human_size(result.bytes_verified)} verified, nothing installed (--check)")
        return
    inst = result.installed
    out.say(
        f"installed into {result.target}: {inst.blobs_written} blob(s) written "
        f"({human_size(inst.bytes_written)}), "
        f"{inst.blobs_kept} already there and verified"
    )
    for p in inst.quarantined:
        out.say(f"kept what was replaced in {p}")
    for f in (f for r in result.reports for f in r.problems):
        out.say(f"problem after install: {f.code} {f.path}: {f.message}")
    out.say("On this server, set:" if not result.local_dir else "Load it with:")
    for line in result.hints():
        out.say(f"  {line}")
