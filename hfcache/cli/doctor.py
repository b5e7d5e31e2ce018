"""``hfcache doctor``: diagnose a cache and, with ``--fix``, repair it."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from hfcache.actions import Plan, Step
from hfcache.cli.errors import handled
from hfcache.cli.output import JSON_OPTION, QUIET_OPTION, Output
from hfcache.doctor import Report, diagnose
from hfcache.findings import Finding, Severity
from hfcache.fs.digests import DigestStore
from hfcache.repair import FixResult
from hfcache.repair import fix as run_fix
from hfcache.repair.apply import reclaimed
from hfcache.units import human_size

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "dim"}
_FOLD_INFO_OVER = 3


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
    json_out: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Diagnose a Hugging Face cache: broken links, copies, missing shards, bad refs, corrupt blobs.

    Without --fix nothing is written; the report says what --fix would do.
    """
    out = Output(json_out, quiet=quiet)
    store = None if rehash else DigestStore.default()
    if fix:
        with handled(out):
            result = run_fix(path, verify_hashes=verify, progress=out.progress(), store=store)
        if json_out:
            out.data(result.to_json())
        else:
            render_fix(out, result)
        raise typer.Exit(1 if result.after.problems else 0)
    with handled(out):
        report = diagnose(path, verify_hashes=verify, progress=out.progress(), store=store)
    if json_out:
        out.data(report.to_json())
    else:
        render(out, report)
    raise typer.Exit(1 if report.problems else 0)


def render_fix(out: Output, result: FixResult) -> None:
    """What was found, what each action did, and what is left."""
    table = Table(title="repairs", title_justify="left")
    table.add_column("status", no_wrap=True)
    table.add_column("path", overflow="fold", max_width=40)
    table.add_column("what happened", overflow="fold", ratio=1)
    root = result.before.cache.root
    for o in result.outcomes:
        style = {"done": "green", "skipped": "yellow", "failed": "bold red"}[o.status]
        detail = o.detail + "".join(f"\nkept in quarantine: {p}" for p in o.quarantined)
        table.add_row(Text(o.status, style=style), short_path(o.action.path, root), detail)
    if result.outcomes:
        out.out.print(table)
    else:
        out.out.print("Nothing to repair.")
    freed = reclaimed(result.outcomes)
    if freed:
        out.out.print(f"Reclaimed {human_size(freed)} of duplicate copies.")
    out.out.print("After the repair:")
    render(out, result.after, fixed=True)


def _rows(findings: list[Finding]) -> list[tuple[Finding, int]]:
    """Findings to show, folding many infos of one code into one row with a count."""
    infos: dict[str, list[Finding]] = defaultdict(list)
    rows: list[tuple[Finding, int]] = []
    for f in findings:
        if f.severity is Severity.INFO:
            infos[f.code].append(f)
        else:
            rows.append((f, 1))
    for group in infos.values():
        if len(group) > _FOLD_INFO_OVER:
            rows.append((group[0], len(group)))
        else:
            rows.extend((f, 1) for f in group)
    return rows


def short_path(path: str, root: str) -> str:
    """A finding's path for people: relative to the cache, commit hashes cut to 8 characters."""
    rel = os.path.relpath(path, root) if path.startswith(root) else path
    parts = rel.split(os.sep)
    if len(parts) > 2 and parts[1] == "snapshots" and len(parts[2]) == 40:
        parts[2] = parts[2][:8]
    return "/".join(parts[1:]) if len(parts) > 1 and parts[0].count("--") else "/".join(parts)


_STEP_WORDS = {
    Step.QUARANTINE_BLOB: "park {n} corrupt blob(s) in quarantine",
    Step.RESTORE: "undo a text transfer's rewrite of {n} file(s)",
    Step.ADOPT: "verify {n} full copy(ies) and keep them as blobs",
    Step.LINK: "relink {n} snapshot entry(ies)",
    Step.REF: "rewrite {n} ref(s)",
    Step.QUARANTINE_LEFTOVER: "move {n} leftover(s) into quarantine",
}


def describe_plan(plan: Plan) -> str:
    """One line: what --fix would do, by kind of step, in the order it does it."""
    counts: dict[Step, int] = {}
    for a in plan.actions:
        counts[a.step] = counts.get(a.step, 0) + 1
    return "--fix would: " + ", ".join(_STEP_WORDS[step].format(n=n) for step, n in counts.items()) + "."


def _quote(path: str) -> str:
    return path if all(c.isalnum() or c in "/._-~+" for c in path) else "'" + path.replace("'", "'\\''") + "'"


def render(out: Output, report: Report, *, fixed: bool = False) -> None:
    """The human report: one table per repo, then a summary and what --fix would do."""
    root = report.cache.root
    by_repo: dict[str, list[Finding]] = defaultdict(list)
    for f in report.findings:
        by_repo[f.repo or "(cache)"].append(f)
    for repo, findings in by_repo.items():
        table = Table(title=repo, title_justify="left", show_lines=False, expand=False)
        table.add_column("severity", no_wrap=True)
        table.add_column("code", no_wrap=True)
        table.add_column("path", overflow="fold", max_width=40)
        table.add_column("problem and fix", overflow="fold", ratio=1)
        for f, count in _rows(findings):
            rel = short_path(f.path, root)
            text = Text(f.message)
            if count > 1:
                text = Text(f"{count} findings like this one; --json lists them all.\n") + text
            if f.fix is not None:
                text.append(f"\nfix: {f.fix.describe()}", style="green")
            table.add_row(Text(f.severity.value, style=_STYLE[f.severity]), f.code, rel, text)
        out.out.print(table)
    s = report.summary
    hashed = f", {human_size(s.bytes_hashed)} hashed" if report.verification is not None else ""
    if s.bytes_reused:
        hashed += f", {human_size(s.bytes_reused)} unchanged since an earlier --verify (not hashed again)"
    out.out.print(
        f"{report.location.kind.value} {report.location.path}: {s.repos} repo(s), {s.revisions} revision(s), "
        f"{s.files} file(s), {human_size(s.bytes)}{hashed}",
        markup=False,
    )
    if s.quarantine_items:
        out.say(
            f"quarantine: {human_size(s.quarantine_bytes)} in {s.quarantine_items} item(s) kept by --fix "
            f"instead of deleted; `hfcache quarantine {_quote(report.location.path)}` lists them"
        )
    if not report.findings:
        unhashed = (
            "" if report.verification is not None else " Contents were not hashed: add --verify for that."
        )
        out.out.print(f"[green]No problems found.[/green]{unhashed}")
        return
    line = f"{s.errors} error(s), {s.warnings} warning(s), {s.infos} note(s)"
    if s.fixable:
        line += f"; --fix can repair {s.fixable}"
        if s.reclaimable:
            line += f" and reclaim {human_size(s.reclaimable)}"
    out.out.print(line, markup=False)
    if report.plan.actions and not fixed:
        out.say(describe_plan(report.plan))
        verify = " --verify" if report.plan.needs_verify else ""
        out.say(f"To repair: hfcache doctor {_quote(report.location.path)} --fix{verify}")
    if not report.problems:
        out.out.print("[green]No errors or warnings.[/green]")
