"""The one-view structure, kept by reading the code: revisions are read through the view, rules
are written once, a finding code's behaviour lives in its table, routes are data, and the CLI
renders results it never builds. A change that goes around them fails here, by name."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import hfcache
from hfcache.findings import CODES
from hfcache.results import Result
from hfcache.serve.routes import ROUTES

ROOT = Path(hfcache.__file__).parent
CONSUMERS = ("bundle", "serve", "inspect", "fit")
"""Commands that read revisions: through hfcache.view / hfcache.sources, never a scan."""


def _modules(*units: str) -> list[Path]:
    return sorted(p for unit in units for p in (ROOT / unit).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_commands_read_revisions_through_the_view() -> None:
    """No consumer scans a cache or diagnoses entries itself (a bundle's own format aside)."""
    around = {"hfcache.scan", "hfcache.scan.entries", "hfcache.scan.cache", "hfcache.doctor.content"}
    wrong = [
        f"{p.relative_to(ROOT)} imports {name}"
        for p in _modules(*CONSUMERS)
        for name in _imports(p)
        if name in around or name.startswith(("hfcache.scan.", "hfcache.doctor.checks"))
    ]
    assert wrong == []


def test_the_view_holds_no_doctor_rules() -> None:
    """view.py is the boundary: types, the protocol and the one resolve rule; no cache internals."""
    names = _imports(ROOT / "view.py")
    assert not any(n.startswith(("hfcache.scan", "hfcache.doctor", "hfcache.model")) for n in names)


def test_one_grammar_for_repo_ids_and_revisions() -> None:
    """Only repoid.py holds a repo-id or ref-name pattern; every entry point calls it. (oci/names.py
    holds the OCI distribution grammar of tags, another grammar, written once there.)"""
    pattern = re.compile(r"re\.compile\(r?[\"'][^\"']*A-Za-z0-9")
    own = {"repoid.py", "oci/names.py"}
    elsewhere = [
        str(p.relative_to(ROOT))
        for p in ROOT.rglob("*.py")
        if str(p.relative_to(ROOT)) not in own and pattern.search(p.read_text())
    ]
    assert elsewhere == []
    for module in ("bundle/pack.py", "serve/protocol.py", "inspect/target.py"):
        assert "hfcache.repoid" in {n.rsplit(".", 1)[0] for n in _imports(ROOT / module)} | _imports(
            ROOT / module
        )


def test_one_resolve_rule() -> None:
    """Revisions are resolved by view.resolve_revision alone: no other module matches commit prefixes."""
    offenders = [
        str(p.relative_to(ROOT))
        for p in ROOT.rglob("*.py")
        if p.name != "view.py" and re.search(r"\.startswith\((wanted|revision)", p.read_text())
    ]
    assert offenders == []


def test_a_codes_behaviour_lives_in_its_table() -> None:
    """No module outside the checks that make them compares finding codes to string literals."""
    allowed = {"findings.py", "doctor/checks/hashes.py", "doctor/verify.py"}
    compare = re.compile(r"\.code\s*(==|!=|in|not in)\s*[\"'(\[{]")
    offenders = [
        str(p.relative_to(ROOT))
        for p in ROOT.rglob("*.py")
        if str(p.relative_to(ROOT)) not in allowed and compare.search(p.read_text())
    ]
    assert offenders == []
    assert all(c.cause is None or c.severity.value != "info" for c in CODES.values())


def test_serve_routes_are_a_table() -> None:
    assert ROUTES and len({(r.methods, r.pattern) for r in ROUTES}) == len(ROUTES)
    assert all(r.scope.value in ("none", "repo", "revision") for r in ROUTES)
    refs = [r for r in ROUTES if r.pattern.endswith("/refs")]
    assert refs and all(r.scope.value == "repo" for r in refs)


def test_the_cli_builds_no_json_and_every_command_ends_with_its_result() -> None:
    """Commands end with ``out.finish(result, render)``; only the sink and the error envelope
    write a JSON document."""
    for path in _modules("cli"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "data"
            ):
                assert path.name == "errors.py" or not isinstance(node.args[0], ast.Dict), path.name
    for command in ("doctor", "pack", "unpack", "quarantine", "inspect", "fit"):
        assert "out.finish(" in (ROOT / "cli" / f"{command}.py").read_text(), command


def test_results_honour_the_contract() -> None:
    from hfcache.bundle.listing import Listing
    from hfcache.bundle.packed import PackResult
    from hfcache.bundle.unpack import UnpackResult
    from hfcache.doctor import Report
    from hfcache.fit.result import FitResult
    from hfcache.inspect import Inspection
    from hfcache.quarantine import EmptyResult
    from hfcache.repair import FixResult
    from hfcache.serve import Started

    for kind in (
        Report,
        FixResult,
        PackResult,
        UnpackResult,
        Listing,
        EmptyResult,
        Inspection,
        FitResult,
        Started,
    ):
        assert callable(getattr(kind, "to_json", None)) and hasattr(kind, "exit_code"), kind
    assert Result  # the protocol they follow
