"""The layer order of DESIGN.md holds: a module imports only from layers below it."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

PACKAGE = Path(__file__).parents[1] / "src" / "leitplanke"
# top to bottom; packages on one row are siblings and may not import each other
LAYERS = [
    {"cli", "service", "agent"},
    {"insights"},  # reads delivery's events (DORA), as pyproject's import-linter contract says
    {"delivery"},
    {"catalog"},
    {"governance"},
    {"reports", "store", "alerts"},
    {"engine", "sources"},
    {"core"},
]
LEVEL = {name: index for index, row in enumerate(LAYERS) for name in row}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("leitplanke."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.ImportFrom) and node.module == "leitplanke":
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("leitplanke."))
    return found


def _violations() -> list[str]:
    bad: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).parts
        if len(relative) < 2 or relative[0] not in LEVEL:
            continue
        own = relative[0]
        for target in _imports(path):
            if target == own or target not in LEVEL:
                continue
            if LEVEL[target] <= LEVEL[own]:
                bad.append(f"{'/'.join(relative)} imports leitplanke.{target}")
    return bad


def test_every_package_imports_only_from_layers_below_it() -> None:
    assert _violations() == []


def test_the_layer_check_notices_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from leitplanke.cli import main\nimport leitplanke.engine.cel\n", encoding="utf-8")
    assert _imports(module) == {"cli", "engine"}


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return sorted(found)


def test_no_modules_import_each_other_even_from_inside_a_function() -> None:
    # grimp sees imports inside functions too: moving one there does not hide a cycle
    assert _cycles(grimp.build_graph("leitplanke", cache_dir=None)) == []


def test_re2_is_imported_by_its_adapter_alone() -> None:
    graph = grimp.build_graph("leitplanke", include_external_packages=True, cache_dir=None)
    assert graph.find_modules_that_directly_import("re2") == {"leitplanke.engine.regexes"}
