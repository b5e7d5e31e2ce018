"""What ``doctor --fix`` did, for people: one line per repo and kind of repair; ``-v`` a table."""

from __future__ import annotations

import os
from collections import defaultdict

from rich.table import Table
from rich.text import Text

from hfcache import layout
from hfcache.actions import Step
from hfcache.cli.output import Output
from hfcache.cli.report import render, short_path, wrapped
from hfcache.doctor.hints import link_text
from hfcache.findings import Severity
from hfcache.repair import FixResult
from hfcache.repair.apply import reclaimed
from hfcache.repair.steps import Outcome
from hfcache.units import human_size

_DONE = {
    (Step.QUARANTINE_BLOB, ""): "parked {n} corrupt blob(s) in quarantine",
    (Step.RESTORE, ""): "undid a text transfer's rewrite of {n} file(s)",
    (Step.ADOPT, "kept"): "kept {n} verified full copy(ies) as blobs",
    (Step.ADOPT, "deduplicated"): "replaced {n} full copy(ies) with links to the verified blobs (same bytes)",
    (Step.ADOPT, ""): "adopted {n} full copy(ies)",
    (Step.LINK, ""): "relinked {n} file(s)",
    (Step.REF, ""): "rewrote {n} ref(s)",
    (Step.QUARANTINE_LEFTOVER, ""): "moved {n} leftover(s) into quarantine",
    (Step.PARK, ""): "moved {n} file(s) in the way into quarantine",
    (Step.QUARANTINE_LISTING, ""): "moved {n} unusable tree listing(s) into quarantine",
}
_SHOWN = 3


def _repo_label(folder: str | None) -> str:
    parsed = layout.parse_repo_folder(folder) if folder else None
    if parsed is None:
        return folder or "(the cache itself)"
    kind, repo_id = parsed
    return repo_id if kind == "model" else f"{repo_id} ({kind})"


def _name(o: Outcome, root: str) -> str:
    """The file a repair was about: its path in the snapshot, or the blob cut short."""
    parts = o.action.path.split(os.sep)
    if layout.SNAPSHOTS in parts:
        return "/".join(parts[parts.index(layout.SNAPSHOTS) + 2 :])
    return link_text(short_path(o.action.path, root))


def _grouped(out: Output, result: FixResult) -> None:
    root = result.before.root
    groups: dict[tuple[str | None, str, Step, str], list[Outcome]] = defaultdict(list)
    for o in result.outcomes:
        groups[(o.action.repo, o.status, o.action.step, o.effect)].append(o)
    for repo in dict.fromkeys(key[0] for key in groups):
        out.out.print(Text(_repo_label(repo), style="bold"))
        for (r, status, step, effect), outcomes in groups.items():
            if r != repo:
                continue
            names = [_name(o, root) for o in outcomes[:_SHOWN]]
            more = f" and {len(outcomes) - _SHOWN} more" if len(outcomes) > _SHOWN else ""
            verb = _DONE[(step, effect)].format(n=len(outcomes))
            if status != "done":
                verb = f"{status}: {verb.split(' ', 1)[1]} ({outcomes[0].detail})"
            style = {"done": "green", "skipped": "yellow", "failed": "bold red"}[status]
            wrapped(out, Text(f"{verb}: {', '.join(names)}{more}", style=style), "  ", " " * 6)
            kept = sorted({os.path.dirname(os.path.dirname(q)) for o in outcomes for q in o.quarantined})
            for folder in kept:
                wrapped(
                    out, Text(f"old bytes kept in {link_text(short_path(folder, root))}"), " " * 6, " " * 8
                )


def _table(out: Output, result: FixResult) -> None:
    table = Table(title="repairs", title_justify="left")
    for column in ("status", "repo", "file", "what happened"):
        table.add_column(column, overflow="fold")
    root = result.before.root
    for o in result.outcomes:
        style = {"done": "green", "skipped": "yellow", "failed": "bold red"}[o.status]
        detail = link_text(o.detail) + "".join(
            f"\nkept in {link_text(short_path(p, root))}" for p in o.quarantined
        )
        table.add_row(Text(o.status, style=style), _repo_label(o.action.repo), _name(o, root), detail)
    out.out.print(table)


def render_fix(out: Output, result: FixResult, *, verbose: bool = False) -> None:
    """What each repair did, what it reclaimed, and the report of the cache after the repair."""
    if not result.outcomes:
        out.out.print("Nothing to repair.")
    else:
        (_table if verbose else _grouped)(out, result)
    freed = reclaimed(result.outcomes)
    if freed:
        out.out.print(f"Reclaimed {human_size(freed)} of duplicate copies.")
    done = sum(1 for o in result.outcomes if o.status == "done")
    left = sum(1 for f in result.after.findings if f.severity is not Severity.INFO and f.folded_into is None)
    out.out.print(f"repaired {done}, {left} left (errors and warnings). After the repair:")
    render(out, result.after, fixed=True, verbose=verbose)
