"""The human doctor report: findings grouped by repo and code, the plan, what is left.

One line per (repo, code) with its count, the files it concerns (relative to the repo, commits
cut to 8 characters) and the one thing that fixes it; ``--verbose`` shows every finding in a
table instead.
"""

from __future__ import annotations

import os
import shlex
import textwrap
from collections import defaultdict

from rich.table import Table
from rich.text import Text

from hfcache.actions import Plan, Step
from hfcache.cli.output import Output
from hfcache.doctor import Report
from hfcache.findings import CODES, Finding, Severity
from hfcache.repair import FixResult
from hfcache.repair.apply import reclaimed
from hfcache.units import human_size

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "dim"}
_FOLD_INFO_OVER = 3
_SHOWN = 3
_GROUP_FIX = {
    Step.QUARANTINE_BLOB: "--fix --verify parks the corrupt blob in quarantine",
    Step.RESTORE: "--fix undoes the rewrite, where the result hashes to the blob's name",
    Step.ADOPT: "--fix verifies each copy and keeps its bytes as the blob",
    Step.LINK: "--fix relinks each to its blob (old files kept in quarantine)",
    Step.REF: "--fix rewrites the ref",
    Step.QUARANTINE_LEFTOVER: "--fix moves them into the quarantine",
}


def render_fix(out: Output, result: FixResult, *, verbose: bool = False) -> None:
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
    done = sum(1 for o in result.outcomes if o.status == "done")
    left = sum(1 for f in result.after.findings if f.severity is not Severity.INFO)
    out.out.print(
        f"Repaired {done} of {len(result.outcomes)}; {left} error(s) and warning(s) left. After the repair:"
    )
    render(out, result.after, fixed=True, verbose=verbose)


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


def _repo_label(folder: str | None, f: Finding) -> str:
    where = f.where()
    if where["repo_id"] is None:
        return folder or "(the cache itself)"
    kind = "" if where["repo_type"] == "model" else f" ({where['repo_type']})"
    return f"{where['repo_id']}{kind}"


def _in_repo(f: Finding, root: str) -> str:
    """A finding's file for people: its path in the repo and short commit, else relative to the repo."""
    where = f.where()
    if where["path_in_repo"] and where["commit"]:
        return f"{where['path_in_repo']} @ {str(where['commit'])[:8]}"
    return short_path(f.path, root)


def _group_lines(code: str, group: list[Finding], root: str) -> list[Text]:
    first = group[0]
    count = f" x{len(group)}" if len(group) > 1 else ""
    head = Text("  ")
    head.append(f"{first.severity.value:<7}", style=_STYLE[first.severity])
    head.append(f" {code}{count}: {CODES[code].title}")
    files = [_in_repo(f, root) for f in group[:_SHOWN]]
    more = f" and {len(group) - _SHOWN} more" if len(group) > _SHOWN else ""
    lines = [head, Text(f"{', '.join(files)}{more}")]
    fixable = [f for f in group if f.fix is not None]
    if fixable and fixable[0].fix is not None:
        part = "" if len(fixable) == len(group) else f" ({len(fixable)} of {len(group)})"
        lines.append(Text(f"fix{part}: {_GROUP_FIX[fixable[0].fix.step]}", style="green"))
    if len(fixable) < len(group):
        advice = next(f for f in group if f.fix is None).message
        lines.append(Text(advice, style="dim" if first.severity is Severity.INFO else ""))
    return lines


def _wrapped(out: Output, text: Text, indent: str = "") -> None:
    """Print ``text`` wrapped at word boundaries to the output's width, each line indented."""
    width = max(40, out.out.width)
    for line in textwrap.wrap(text.plain, width, initial_indent=indent, subsequent_indent=indent or "    "):
        out.out.print(Text(line, style=text.style), soft_wrap=True)


def _grouped(out: Output, report: Report) -> None:
    root = report.cache.root
    by_repo: dict[str | None, list[Finding]] = defaultdict(list)
    for f in report.findings:
        by_repo[f.repo].append(f)
    for folder, findings in by_repo.items():
        out.out.print(Text(_repo_label(folder, findings[0]), style="bold"))
        by_code: dict[str, list[Finding]] = defaultdict(list)
        for f in sorted(findings, key=lambda f: (f.severity.rank, f.code, f.path)):
            by_code[f.code].append(f)
        for code, group in by_code.items():
            head, *rest = _group_lines(code, group, root)
            out.out.print(head, soft_wrap=True)
            for line in rest:
                _wrapped(out, line, " " * 10)


def _table(out: Output, report: Report) -> None:
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


def render(out: Output, report: Report, *, fixed: bool = False, verbose: bool = False) -> None:
    """The human report: findings (grouped, or every one with ``verbose``), a summary, the plan."""
    (_table if verbose else _grouped)(out, report)
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
            f"instead of deleted; `hfcache quarantine {shlex.quote(report.location.path)}` lists them"
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
        _wrapped(out, Text(describe_plan(report.plan)))
        verify = " --verify" if report.plan.needs_verify else ""
        out.say(f"To repair: hfcache doctor {shlex.quote(report.location.path)} --fix{verify}")
    if not report.problems:
        out.out.print("[green]No errors or warnings.[/green]")
