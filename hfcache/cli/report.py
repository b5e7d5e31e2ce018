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
from hfcache.doctor.hints import download_command, needs_fetch, repair_command
from hfcache.findings import CODES, Finding, Severity
from hfcache.layout import SNAPSHOTS
from hfcache.units import human_size

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "dim"}
_FOLD_INFO_OVER = 3
_SHOWN = 3
_GROUP_FIX = {
    Step.QUARANTINE_BLOB: "--fix --verify parks the corrupt blob in quarantine",
    Step.RESTORE: "--fix undoes the rewrite, where the result hashes to the blob's name",
    Step.ADOPT: "--fix verifies each copy and keeps its bytes as the blob",
    Step.LINK: "--fix relinks each to its blob",
    Step.REF: "--fix rewrites the ref",
    Step.QUARANTINE_LEFTOVER: "--fix moves them into the quarantine",
    Step.PARK: "--fix moves each into the quarantine",
    Step.QUARANTINE_LISTING: "--fix moves it into the quarantine (the client writes a new one online)",
}


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
    Step.PARK: "move {n} file(s) in the way into quarantine",
    Step.QUARANTINE_LISTING: "move {n} unusable tree listing(s) into quarantine",
}


def describe_plan(plan: Plan) -> str:
    """One line: what --fix would do, by kind of step, in the order it does it."""
    counts: dict[Step, int] = {}
    for a in plan.actions:
        counts[a.step] = counts.get(a.step, 0) + 1
    return "--fix would: " + ", ".join(_STEP_WORDS[step].format(n=n) for step, n in counts.items()) + "."


def _repo_label(folder: str | None, f: Finding) -> str:
    where = f.place
    if where.repo_id is None:
        return folder or "(the cache itself)"
    kind = "" if where.repo_type == "model" else f" ({where.repo_type})"
    return f"{where.repo_id}{kind}"


def _files(group: list[Finding], root: str) -> str:
    """The files a group concerns, by commit: ``a.json, b.bin @ ce3ab149``, the rest counted."""
    by_commit: dict[str | None, list[str]] = defaultdict(list)
    for f in group:
        where = f.place
        if where.path_in_repo and where.commit:
            names = [where.path_in_repo, *(_rel(p, f) for p in f.about[1:])]
            by_commit[where.commit].extend(n for n in names if n not in by_commit[where.commit])
        else:
            by_commit[None].append(short_path(f.path, root))
    parts, shown, total = [], 0, sum(len(v) for v in by_commit.values())
    for commit, names in by_commit.items():
        take = names[: max(0, _SHOWN - shown)]
        shown += len(take)
        if take:
            parts.append(", ".join(take) + (f" @ {commit[:8]}" if commit else ""))
    more = f" and {total - shown} more" if total > shown else ""
    return "; ".join(parts) + more


def _rel(path: str, f: Finding) -> str:
    """An entry's path inside its snapshot (the commit dropped: the group line names it)."""
    parts = path.split(os.sep)
    return "/".join(parts[parts.index(SNAPSHOTS) + 2 :]) if SNAPSHOTS in parts else path


def _download_lines(group: list[Finding]) -> list[str]:
    """One ``hf download`` per revision for the files of ``group`` that must be fetched again."""
    wanted: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for f in group:
        where = f.place
        if not needs_fetch(f) or not (where.repo_id and where.repo_type and where.commit):
            continue
        key = (where.repo_id, where.repo_type, where.commit)
        if where.path_in_repo:
            wanted[key].add(where.path_in_repo)
        wanted[key].update(_rel(p, f) for p in f.about[1:])
    return [download_command(*key, names) for key, names in wanted.items()]


def _group_lines(code: str, group: list[Finding], root: str) -> list[Text]:
    first = group[0]
    count = f" x{len(group)}" if len(group) > 1 else ""
    head = Text("  ")
    head.append(f"{first.severity.value:<7}", style=_STYLE[first.severity])
    head.append(f" {code}{count}: {CODES[code].title}")
    lines = [head, Text(_files(group, root))]
    also = sorted({c for f in group for c in f.also})
    if also:
        lines.append(Text("also: " + "; ".join(CODES[c].title for c in also), style="dim"))
    fixable = [f for f in group if f.fix is not None]
    if len(group) == 1 and first.fix is not None and first.place.path_in_repo is None and not first.about:
        lines.append(Text(first.message))  # about the repo's structure, not a file: say it in full
    if fixable and fixable[0].fix is not None:
        part = "" if len(fixable) == len(group) else f" ({len(fixable)} of {len(group)})"
        kept = any(f.fix is not None and f.fix.replaces_file for f in fixable)
        words = _GROUP_FIX[fixable[0].fix.step] + (" (what it replaces kept in quarantine)" if kept else "")
        lines.append(Text(f"fix{part}: {words}", style="green"))
    downloads = _download_lines(group)
    if downloads:
        then = "then, " if fixable else ""
        lines.append(Text(f"{then}on a machine with access, download and copy the cache again:"))
        lines.extend(Text(c, style="bold") for c in downloads)
    elif len(fixable) < len(group):
        advice = next(f for f in group if f.fix is None).text
        lines.append(Text(advice, style="dim" if first.severity is Severity.INFO else ""))
    return lines


def wrapped(out: Output, text: Text, indent: str = "", hanging: str | None = None) -> None:
    """Print ``text`` wrapped at word boundaries to the output's width: the first line indented
    by ``indent``, the others by ``hanging`` (default: ``indent``, or four spaces)."""
    width = max(40, out.out.width)
    lines = textwrap.wrap(
        text.plain,
        width,
        initial_indent=indent,
        subsequent_indent=hanging if hanging is not None else indent or "    ",
        break_long_words=False,
        break_on_hyphens=False,
    )
    for line in lines:
        out.out.print(Text(line, style=text.style), soft_wrap=True)


def _grouped(out: Output, report: Report) -> None:
    root = report.root
    by_repo: dict[str | None, list[Finding]] = defaultdict(list)
    for f in report.findings:
        if f.folded_into is None:
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
                if line.plain.startswith("hf download "):  # a command to paste stays one line
                    out.out.print(Text(" " * 12) + line, soft_wrap=True)
                else:
                    wrapped(out, line, " " * 10)


def _table(out: Output, report: Report) -> None:
    root = report.root
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
            text = Text(f.text)
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
        again = f", {human_size(s.bytes_hashed)} hashed now" if s.bytes_hashed else ""
        hashed = f", {human_size(s.bytes_reused)} verified by an earlier --verify and unchanged{again}"
    judged = report.revision
    if judged is not None:
        kind = "" if judged["repo_type"] == "model" else f" ({judged['repo_type']})"
        refs = f" ({', '.join(judged['refs'])})" if judged["refs"] else ""
        scope = f"revision {judged['commit']}{refs} of {judged['repo_id']}{kind}, {s.files} file(s)"
        wrapped(out, Text(f"judged {scope} in {report.root}{hashed}"))
    else:
        wrapped(
            out,
            Text(
                f"{report.location.kind.value} {report.location.path}: {s.repos} repo(s), "
                f"{s.revisions} revision(s), {s.files} file(s), {human_size(s.bytes)}{hashed}"
            ),
        )
    if s.quarantine_items:
        out.say(
            f"quarantine: {human_size(s.quarantine_bytes)} in {s.quarantine_items} item(s) kept by --fix "
            f"instead of deleted; `hfcache quarantine {shlex.quote(report.location.path)}` lists them"
        )
    if not report.findings and not s.repos:
        out.out.print("No models cached yet.", markup=False)
        return
    if not report.findings:
        unhashed = (
            "" if report.verification is not None else " Contents were not hashed: add --verify for that."
        )
        out.out.print(f"[green]No problems found.[/green]{unhashed}")
        return
    shown = [f for f in report.findings if f.folded_into is None]
    count = {v: sum(1 for f in shown if f.severity is v) for v in Severity}
    line = f"{count[Severity.ERROR]} error(s), {count[Severity.WARNING]} warning(s), "
    line += f"{count[Severity.INFO]} note(s)"
    if len(shown) < len(report.findings) and not verbose:
        line += f" ({len(report.findings) - len(shown)} more folded into them; -v lists every one)"
    if s.fixable:
        line += f"; --fix can repair {s.fixable}"
        if s.reclaimable:
            line += f" and reclaim {human_size(s.reclaimable)}"
    if s.prunable:
        line += f"; {human_size(s.prunable)} unused, which `hf cache prune` reclaims"
    wrapped(out, Text(line))
    if report.plan.actions and not fixed:
        wrapped(out, Text(describe_plan(report.plan)))
        out.say(f"To repair: {repair_command(report.location.path, verify=report.plan.needs_verify)}")
    if not report.problems:
        out.out.print("[green]No errors or warnings.[/green]")
