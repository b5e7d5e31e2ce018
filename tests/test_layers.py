"""The layers are visible in the folder tree, and this test keeps them: no module imports from a
layer above its own, and there are no import cycles. Private huggingface_hub modules are imported
in hfcache/_hf.py alone."""

from __future__ import annotations

import ast
from pathlib import Path

import hfcache

ROOT = Path(hfcache.__file__).parent

# Lowest first. A module may import from its own layer and the ones below.
LAYERS: list[set[str]] = [
    {"errors", "units", "progress", "results", "_hf", "layout", "repoid"},
    {"fs", "formats"},
    {"actions", "findings", "model"},
    {"scan", "view", "quarantine"},
    {"doctor"},
    {"sources"},
    {"repair", "bundle", "fit", "inspect", "pyz"},
    {"oci"},
    {"serve", "inventory"},
    {"cli", "__main__"},
]
LEVEL = {name: i for i, names in enumerate(LAYERS) for name in names}


def _unit(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    return rel.parts[0]


def _module(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(["hfcache", *parts])


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:`` (annotations only, never imported)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    return [n for n in ast.walk(tree) if id(n) not in skip]


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def _sources() -> list[Path]:
    return [p for p in ROOT.rglob("*.py") if p.name != "__init__.py" or p.parent != ROOT]


def test_every_module_has_a_layer() -> None:
    assert {_unit(p) for p in _sources()} <= LEVEL.keys()


def test_no_import_from_a_higher_layer() -> None:
    wrong = []
    for path in _sources():
        mine = LEVEL[_unit(path)]
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] != "hfcache" or len(parts) < 2 or parts[1] not in LEVEL:
                continue
            if LEVEL[parts[1]] > mine:
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert wrong == []


def test_no_import_cycles() -> None:
    modules = {_module(p): p for p in ROOT.rglob("*.py")}
    graph = {
        name: {m for i in _imports(path) for m in (i, i.rsplit(".", 1)[0]) if m in modules and m != name}
        for name, path in modules.items()
    }
    # A package's __init__ re-exporting its own modules is not a cycle between them.
    for name in graph:
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt] if nxt in stack else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_private_huggingface_hub_only_in_the_guard() -> None:
    private = []
    for path in ROOT.rglob("*.py"):
        if path.name == "_hf.py":
            continue
        for name in _imports(path):
            if name.startswith("huggingface_hub") and any(p.startswith("_") for p in name.split(".")[1:]):
                private.append(f"{path.relative_to(ROOT)}: {name}")
    assert private == []
