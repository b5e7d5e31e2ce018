"""Documentation keeps up with the code: every command, option and finding code is documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer

from hfcache.cli import app
from hfcache.findings import CODES

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _commands() -> dict[str, Any]:
    """The app's commands, through typer's public ``get_command`` (typer ships its own click)."""
    group = typer.main.get_command(app)
    ctx = typer.Context(group)
    return {name: group.get_command(ctx, name) for name in group.list_commands(ctx)}


def test_every_finding_code_has_a_section() -> None:
    text = (DOCS / "findings.md").read_text()
    documented = set(re.findall(r"^### `([a-z-]+)`", text, flags=re.MULTILINE))
    assert documented == set(CODES)


def test_documented_severity_matches_the_code() -> None:
    text = (DOCS / "findings.md").read_text()
    for code, info in CODES.items():
        section = text.split(f"### `{code}`", 1)[1]
        assert section.lstrip().startswith(f"*{info.severity.value}"), code


def test_every_command_has_a_page_naming_each_option() -> None:
    commands = _commands()
    assert commands
    for name, command in commands.items():
        page = DOCS / f"{name}.md"
        assert page.exists(), f"docs/{name}.md is missing"
        text = page.read_text()
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("-"):
                    assert f"`{opt}`" in text, f"{opt} of {name} is not documented"
            if param.param_type_name == "argument":
                shown = (param.metavar or param.name.upper()).rstrip(".")
                assert f"`{shown}`" in text, f"argument {shown} of {name}"


def test_readme_links_every_doc_page() -> None:
    readme = (DOCS.parent / "README.md").read_text()
    for page in DOCS.glob("*.md"):
        assert f"docs/{page.name}" in readme, page.name


def test_every_finding_code_is_caused_by_some_test() -> None:
    """A new code needs a test that makes it happen, not only a line in the table."""
    tests = "".join(
        p.read_text() for p in Path(__file__).parent.glob("test_*.py") if p.name != "test_docs.py"
    )
    untested = [code for code in CODES if f'"{code}"' not in tests]
    assert untested == []


def test_unpack_docs_state_the_free_space_margin_the_output_prints() -> None:
    """unpack prints the margin with human_size (decimal MB); the docs give the same number."""
    from hfcache.bundle.dryrun import SPACE_MARGIN
    from hfcache.units import human_size

    stated = re.findall(r"(\d+) MB safety margin", (DOCS / "unpack.md").read_text())
    assert len(stated) >= 2  # the dry run, and the check before installing
    assert {f"{n}.0 MB" for n in stated} == {human_size(SPACE_MARGIN)}
    assert {int(n) * 1000 * 1000 for n in stated} == {SPACE_MARGIN}
