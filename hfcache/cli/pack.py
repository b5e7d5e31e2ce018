"""``hfcache pack`` and ``hfcache unpack``: carry repos to an offline machine as one verified file."""

from __future__ import annotations

import shlex
import sys
from enum import Enum
from pathlib import Path

import typer

from hfcache.bundle.pack import pack
from hfcache.bundle.packed import PackResult
from hfcache.cli.errors import handled
from hfcache.cli.output import JSON_OPTION, QUIET_OPTION, Output
from hfcache.errors import BadInputError
from hfcache.oci.pack import OciPackResult, pack_oci
from hfcache.pyz.carry import CarriedPyz, WithPyz, carry_pyz, check_destination, destination, find_pyz
from hfcache.units import human_size


class PackFormat(str, Enum):
    """The ``--format`` choices: hfcache's tar bundle, or an OCI image layout of ModelPack artifacts."""

    bundle = "bundle"
    oci = "oci"


class RepoType(str, Enum):
    """The ``--repo-type`` choices (shown in ``--help``)."""

    model = "model"
    dataset = "dataset"
    space = "space"


def pack_command(
    repo_ids: list[str] = typer.Argument(
        ...,
        metavar="REPO...",
        help="Repos to pack: org/name, datasets/org/name or spaces/org/name, each optionally "
        "@revision (a branch, tag or commit).",
        show_default=False,
    ),
    output: str | None = typer.Option(
        None,
        "-o",
        "--output",
        metavar="FILE",
        help="Bundle file to write, or '-' for stdout (a pipe); with --format oci, the layout folder. "
        "Default: <name>.tar (<name>.oci) here.",
        show_default=False,
    ),
    fmt: PackFormat = typer.Option(
        PackFormat.bundle,
        "--format",
        help="bundle: one verified tar for hfcache unpack; oci: an OCI image layout folder holding one "
        "CNCF ModelPack artifact per revision, for skopeo, oras and registries (docs/oci.md).",
    ),
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", metavar="DIR", help="Hub cache to read (default: huggingface_hub's)."
    ),
    repo_type: RepoType = typer.Option(
        RepoType.model,
        "--repo-type",
        "--type",
        help="Type of repos named without a datasets/ or spaces/ prefix.",
    ),
    revision: str = typer.Option(
        "main", "--revision", metavar="REV", help="Branch, tag or commit for repos named without @revision."
    ),
    include: list[str] = typer.Option(
        [],
        "--include",
        metavar="GLOB",
        help="Only files matching this glob (repeatable).",
        show_default=False,
    ),
    exclude: list[str] = typer.Option(
        [],
        "--exclude",
        metavar="GLOB",
        help="Leave out files matching this glob (repeatable).",
        show_default=False,
    ),
    allow_incomplete: bool = typer.Option(
        False,
        "--allow-incomplete",
        help="Pack what is sound even if files are missing or broken: those are left out and "
        "recorded in the manifest, and unpack reports them.",
    ),
    split_size: str | None = typer.Option(
        None,
        "--split-size",
        metavar="SIZE",
        help="Write numbered volumes of at most SIZE (4G = 4 GiB, 500M, 4GB = 4*10^9), plus a "
        "sha256sum file; 'fat32' is the largest FAT32 holds (4 GiB - 1 byte).",
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing bundle file."),
    exclude_present: Path | None = typer.Option(
        None,
        "--exclude-present",
        metavar="FILE",
        help="Make a delta: leave out every blob the target holds, as FILE says (its `hfcache inventory`, "
        "or a bundle carried there earlier, or that bundle's manifest). Unpack completes it from the target.",
    ),
    with_hfcache: bool = typer.Option(
        False,
        "--with-hfcache",
        help="Also write hfcache.pyz beside the bundle: hfcache in one file, for a server with only "
        "Python 3.10+ (copied from $HFCACHE_PYZ, or from the hfcache.pyz this runs as; docs/pyz.md).",
    ),
    json_out: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Pack repos of the local cache into one portable, verified tar bundle. Needs no network.

    Every file is hashed as it is written; a corrupt or incomplete revision is refused (all its
    problems named) unless --allow-incomplete.

    Examples:
      hfcache pack hfl/rbt3                          # writes rbt3.tar
      hfcache pack hfl/rbt3@v1.0 datasets/org/data -o two.tar
      hfcache pack org/big --split-size fat32 -o /media/usb/big.tar
      hfcache pack hfl/rbt3 -o - | ssh gpu1 hfcache unpack -
      hfcache pack hfl/rbt3 --format oci -o rbt3.oci  # then: skopeo copy oci:rbt3.oci:main docker://…
      hfcache pack hfl/rbt3@v2 --exclude-present offline.json  # only what the offline cache lacks

    Exit codes: 0 packed, 1 refused (problems in the cache) or failed, 2 bad input.
    """
    out = Output(json_out, quiet=quiet, data_to_stderr=output == "-")
    pyz = None
    with handled(out):  # before packing: a missing or clashing hfcache.pyz wastes no copy
        if with_hfcache:
            if output == "-":
                raise BadInputError("--with-hfcache writes hfcache.pyz beside the bundle: give -o FILE")
            pyz = (*find_pyz(), destination(output))
            check_destination(pyz[0], pyz[2], force)
    if fmt is PackFormat.oci:
        with handled(out):
            if split_size is not None or allow_incomplete or exclude_present is not None:
                raise BadInputError(
                    "--split-size, --allow-incomplete and --exclude-present are for bundles, not --format oci"
                )
            oci = pack_oci(
                repo_ids,
                output,
                cache_dir=str(cache_dir) if cache_dir else None,
                repo_type=repo_type.value,
                revision=revision,
                include=include,
                exclude=exclude,
                overwrite=force,
                progress=out.progress(),
            )
            ref = oci.ref_names[0][0] if oci.ref_names and oci.ref_names[0] else "main"
            carried = carry_pyz(*pyz, f"oci:{Path(oci.path).name}:{ref}") if pyz else None
        out.finish(WithPyz(oci, carried) if carried else oci, lambda: _render_oci(out, oci, carried))
        return
    with handled(out):
        if output == "-" and sys.stdout.isatty():
            raise BadInputError(
                "refusing to write a binary bundle to a terminal: redirect it (> file) or pipe it"
            )
        result = pack(
            repo_ids,
            output,
            cache_dir=str(cache_dir) if cache_dir else None,
            repo_type=repo_type.value,
            revision=revision,
            include=include,
            exclude=exclude,
            allow_incomplete=allow_incomplete,
            split_size=split_size,
            overwrite=force,
            exclude_present=str(exclude_present) if exclude_present else None,
            progress=out.progress(),
        )
        carried = carry_pyz(*pyz, Path(result.paths[0]).name) if pyz else None
    out.finish(WithPyz(result, carried) if carried else result, lambda: _render_pack(out, result, carried))


def _render_carried(out: Output, carried: CarriedPyz) -> None:
    """The pyz, and exactly what to type on the server, in the folder holding both."""
    out.say(
        f"wrote {carried.path} ({human_size(carried.size)}, hfcache {carried.info.hfcache_version}; "
        f"runs {carried.info.platforms()}). On the offline server, in the folder holding both:"
    )
    for command in carried.commands:
        out.say(f"  {command}")


def _render_pack(out: Output, result: PackResult, carried: CarriedPyz | None = None) -> None:
    m = result.manifest
    for r in m.repos:
        size = sum(f.size for f in r.files)
        out.say(
            f"packed {r.repo_type} {r.repo_id} @ {r.commit[:8]} ({r.revision}): {len(r.files)} files, "
            f"{human_size(size)}"
        )
    out.say(f"wrote {human_size(result.bytes_written)} to {_where(result)}")
    if result.manifest.is_delta:
        blobs, nbytes = result.left_out
        out.say(
            f"delta: left out {blobs} blob(s), {human_size(nbytes)}, that {result.manifest.against} says "
            "the target holds; unpack takes them from there (and refuses, installing nothing, without them)"
        )
    if result.checksum_file:
        out.say(
            f"checksums of the volumes: {result.checksum_file} "
            f"(check a copy: hfcache unpack --check {shlex.quote(result.paths[0])})"
        )
    allowed = [f for f in result.problems if f.folded_into is None]  # each file once
    for f in allowed:
        out.say(f"left out (--allow-incomplete): {f.code}: {f.text}")
    if allowed:
        out.say(f"{len(allowed)} problem(s) were allowed and are recorded in the manifest")
    if result.source_problems:
        codes = ", ".join(sorted({f.code for f in result.source_problems}))
        out.say(
            f"the cache's own copy has {len(result.source_problems)} problem(s) the bundle does not carry "
            f"({codes}): each file went in with its verified bytes. `hfcache doctor --fix` repairs the cache."
        )
    if carried is not None:
        _render_carried(out, carried)
    elif result.paths and result.paths != ("-",):
        out.say(f"On the offline machine: hfcache unpack {shlex.quote(result.paths[0])}")


def _render_oci(out: Output, result: OciPackResult, carried: CarriedPyz | None = None) -> None:
    for a in result.artifacts:
        size = sum(layer.file.size for layer in a.layers)
        out.say(
            f"packed {a.repo.repo_type} {a.repo.repo_id} @ {a.commit[:8]} as {a.name}: "
            f"{len(a.layers)} layers, {human_size(size)}, manifest {a.digest[:19]}…, tags {', '.join(a.tags)}"
        )
    out.say(
        f"wrote the OCI layout {result.path} ({human_size(result.bytes_total)}): {result.linked} blob(s) "
        f"hard-linked from the cache, {result.copied} copied, {result.kept} already there"
    )
    first = result.ref_names[0][0] if result.ref_names and result.ref_names[0] else "TAG"
    name = result.artifacts[0].name if result.artifacts else "org/name"
    tag = first.rsplit(":", 1)[-1]
    out.say(f"Push it: skopeo copy oci:{shlex.quote(result.path)}:{first} docker://REGISTRY/{name}:{tag}")
    if carried is not None:
        _render_carried(out, carried)


def _where(result: PackResult) -> str:
    """Where the bundle went: standard output, one file, or its volumes as a range."""
    paths = result.paths
    if result.to_stdout:
        return "standard output"
    if len(paths) == 1:
        return paths[0]
    return f"{paths[0]} … {paths[-1]} ({len(paths)} volumes)"
