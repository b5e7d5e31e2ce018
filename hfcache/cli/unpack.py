"""``hfcache unpack``: verify a bundle, then install it; ``--check`` and ``--list`` install nothing."""

from __future__ import annotations

from pathlib import Path

import typer

from hfcache.bundle.dryrun import SPACE_MARGIN, InstallPlan
from hfcache.bundle.listing import Listing, list_bundle
from hfcache.bundle.manifest import Manifest
from hfcache.bundle.unpack import UnpackResult, unpack
from hfcache.cli.errors import handled
from hfcache.cli.output import JSON_OPTION, QUIET_OPTION, Output
from hfcache.errors import BadInputError
from hfcache.oci.open import artifact_source, is_artifact
from hfcache.oci.unpack import unpack_oci
from hfcache.units import human_size


def unpack_command(
    file: str = typer.Argument(
        ...,
        metavar="FILE",
        help="Bundle, its first volume (.001; the name without .001 works too), or '-' for stdin; or an "
        "OCI image layout of ModelPack artifacts (DIR, or oci:DIR:TAG) or a registry's "
        "(oci://HOST[:PORT]/NAME[:TAG]) (docs/oci.md).",
        show_default=False,
    ),
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", metavar="DIR", help="Hub cache to install into (default: huggingface_hub's)."
    ),
    local_dir: Path | None = typer.Option(
        None,
        "--local-dir",
        metavar="DIR",
        help="Write plain files here instead of a cache (DIR/org/name for each of several repos).",
    ),
    check: bool = typer.Option(
        False,
        "--check",
        help="Verify the bundle (and its volumes' checksum file) completely; install nothing. With "
        "--cache-dir/--local-dir, also say what an install there would write, skip and replace.",
    ),
    listing: bool = typer.Option(
        False,
        "--list",
        help="List the bundle's repos, revisions, files, sizes and recorded problems; verify nothing.",
    ),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="With --list: every file and its size."),
    repo_id: str | None = typer.Option(
        None,
        "--repo-id",
        metavar="ORG/NAME",
        help="For an OCI artifact: the repo to install it as (needed for one that another tool made "
        "and that names no Hub repo; renames one that hfcache made).",
    ),
    plain_http: bool = typer.Option(
        False, "--plain-http", help="For oci://: speak plain HTTP to a registry without TLS (a local one)."
    ),
    ca_file: Path | None = typer.Option(
        None,
        "--ca-file",
        metavar="FILE",
        help="For oci://: trust the CA certificates in FILE, not the system's.",
    ),
    authfile: Path | None = typer.Option(
        None,
        "--authfile",
        metavar="FILE",
        help="For oci://: registry credentials in docker's config.json format (default: REGISTRY_AUTH_FILE, "
        "~/.docker/config.json; or HFCACHE_REGISTRY_USERNAME/PASSWORD/TOKEN). Never logged.",
    ),
    json_out: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Verify a bundle, then install it into a cache or a plain folder. Refuses bad bundles.

    Nothing reaches the target before every byte of the bundle is verified; what an install
    replaces is kept in quarantine. A file already there with the right bytes is not written again.

    Examples:
      hfcache unpack rbt3.tar                        # into huggingface_hub's cache
      hfcache unpack rbt3.tar.001 --local-dir /models/rbt3
      hfcache unpack --check /media/usb/big.tar.001  # check a stick before it leaves
      hfcache unpack --check big.tar --cache-dir /data/hf/hub   # what an install would do
      hfcache unpack --list big.tar
      ssh laptop hfcache pack hfl/rbt3 -o - | hfcache unpack -
      hfcache unpack oci://harbor.lan/hfl/rbt3:main     # a ModelPack artifact from a registry
      hfcache unpack oci:rbt3.oci:main --local-dir /models/rbt3

    Exit codes: 0 installed (or verified) and clean, 1 problems after install, a listed
    bundle cut short, or failed; 2 bad input or a bad bundle.
    """
    out = Output(json_out, quiet=quiet)
    if is_artifact(file):
        with handled(out):
            if listing:
                raise BadInputError("--list reads bundles; for an OCI layout, read its index.json")
            source = artifact_source(
                file,
                plain_http=plain_http,
                ca_file=str(ca_file) if ca_file else None,
                authfile=str(authfile) if authfile else None,
            )
            result = unpack_oci(
                source,
                cache_dir=str(cache_dir) if cache_dir else None,
                local_dir=str(local_dir) if local_dir else None,
                check_only=check,
                repo_id=repo_id,
                progress=out.progress(),
            )
        out.finish(result, lambda: _render_unpack(out, result, what="artifact"))
    if listing:
        with handled(out):
            listed = list_bundle(file)
        out.finish(listed, lambda: _render_listing(out, listed, verbose=verbose))
    with handled(out):
        if repo_id is not None or plain_http or ca_file or authfile:
            raise BadInputError("--repo-id, --plain-http, --ca-file and --authfile are for OCI artifacts")
        result = unpack(
            file,
            cache_dir=str(cache_dir) if cache_dir else None,
            local_dir=str(local_dir) if local_dir else None,
            check_only=check,
            progress=out.progress(),
        )
    out.finish(result, lambda: _render_unpack(out, result))


def _render_unpack(out: Output, result: UnpackResult, what: str = "bundle") -> None:
    for r in result.manifest.repos:
        out.say(f"{r.repo_type} {r.repo_id} @ {r.commit[:8]}: {len(r.files)} files verified")
    _render_recorded(out, result.manifest)
    if result.installed is None:
        sums = f", volumes match {result.checksum_file}" if result.checksum_file else ""
        out.say(f"{what} OK: {human_size(result.bytes_verified)} verified{sums}; nothing installed (--check)")
        if result.plan is not None:
            _render_plan(out, result.plan)
        return
    inst = result.installed
    what = "file(s)" if result.local_dir else "blob(s)"
    out.say(
        f"installed into {result.target}: {inst.blobs_written} {what} written "
        f"({human_size(inst.bytes_written)}), {inst.blobs_kept} already there and verified"
    )
    for p in inst.quarantined:
        out.say(f"kept what was replaced in {p}")
    problems = result.problems
    for f in problems:
        out.say(f"problem after install: {f.code} {f.path}: {f.text}")
    if problems:
        out.say(f"The check after install found {len(problems)} problem(s); no load hint is given.")
        return
    out.say("On this server, set:" if not result.local_dir else "Load it with:")
    for line in result.hints():
        out.say(f"  {line}")


def _render_recorded(out: Output, manifest: Manifest) -> None:
    for r in manifest.repos:
        for p in r.problems:
            out.say(
                f"  left out when packed (--allow-incomplete): {r.repo_id}: "
                f"{p.get('code')}: {p.get('message')}"
            )


def _render_plan(out: Output, plan: InstallPlan) -> None:
    """The dry run: what an install into ``plan.target`` would write, skip and replace."""
    out.say(f"An install into {plan.target} would:")
    out.say(f"  write {len(plan.write)} file(s), {human_size(plan.bytes_needed)}")
    out.say(f"  skip {len(plan.skip)} already there with the same bytes")
    out.say(f"  replace {len(plan.replace)} (the old ones kept in quarantine)")
    for path in plan.replace:
        out.say(f"    {path}")
    for repo_id, name, old, new in plan.refs:
        out.say(f"  move ref {name} of {repo_id}: {old[:8] if old else '(none)'} -> {new[:8]}")
    verdict = "fits" if plan.fits else "does NOT fit"
    out.say(
        f"  space: {human_size(plan.bytes_needed)} needed + {human_size(SPACE_MARGIN)} margin, "
        f"{human_size(plan.bytes_free)} free: {verdict}"
    )


def _render_listing(out: Output, listed: Listing, *, verbose: bool) -> None:
    manifest = listed.manifest
    missing = set(listed.missing)
    for r in manifest.repos:
        size = sum(f.size for f in r.files)
        refs = ", ".join(sorted(r.refs)) or "none"
        out.say(
            f"{r.repo_type} {r.repo_id} @ {r.commit} (asked for {r.revision}; refs: {refs}): "
            f"{len(r.files)} files, {human_size(size)}"
        )
        for f in r.files if verbose else ():
            gone = "  (not in the bundle: cut short)" if (r.repo_id, f.path) in missing else ""
            out.say(f"  {human_size(f.size):>10}  {f.path}{gone}")
        for p in r.problems:
            out.say(f"  recorded problem: {p.get('code')}: {p.get('message')}")
    out.say(
        f"{len(manifest.repos)} repo(s), {human_size(manifest.total_bytes)}, packed {manifest.created} "
        f"by hfcache {manifest.hfcache_version}"
    )
    if listed.truncated:
        files = sum(len(r.files) for r in manifest.repos)
        out.say(
            f"CUT SHORT: {listed.truncated}. {len(listed.missing)} of its {files} file(s) are not in it "
            "(-v marks them); unpack refuses it: copy it again."
        )
