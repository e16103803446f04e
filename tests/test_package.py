"""The package reads as the pipeline: every subpackage and module says what it does, and
no module imports another that imports it back, even from inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

SRC = ROOT / "src"
PACKAGE = SRC / "publisher"
STAGES = ("source", "render", "epub", "pdf", "pdf/weasyprint", "check", "app")


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every publisher module `path` imports, at the top or inside a function; imports
    for type checking only are left out (they never run)."""
    tree = ast.parse(path.read_text())
    typing_only = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only |= {id(n) for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("publisher"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in modules else str(node.module))
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("publisher")}
    return found & modules.keys()


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, path)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return cycles


def test_no_import_cycles_even_through_function_local_imports() -> None:
    modules = _modules()
    graph = {name: _imports(path, modules) - {name} for name, path in modules.items()}
    # A package's __init__ imports nothing, so importing a stage costs nothing.
    assert {n: sorted(g) for n, g in graph.items() if modules[n].name == "__init__.py" and g} == {}
    assert _cycles(graph) == []


def test_every_stage_and_module_says_what_it_does() -> None:
    for stage in STAGES:
        assert (PACKAGE / stage / "__init__.py").is_file(), stage
    undocumented = [
        str(path.relative_to(SRC))
        for path in _modules().values()
        if path.name != "__main__.py" and not ast.get_docstring(ast.parse(path.read_text()))
    ]
    assert undocumented == []


def test_the_stages_below_the_app_never_reach_up_into_it() -> None:
    """The pipeline knows nothing of the command line: only app/ imports app/."""
    modules = _modules()
    upward = {
        name: sorted(t for t in _imports(path, modules) if t.startswith("publisher.app"))
        for name, path in modules.items()
        if not name.startswith("publisher.app") and name != "publisher.__main__"
    }
    assert {name: found for name, found in upward.items() if found} == {}


def test_publisher_never_imports_invoke_which_only_the_repository_tasks_need() -> None:
    """Invoke is a dev dependency (tasks.py); the installed `publisher` has none."""
    importers = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n == "invoke" or n.startswith("invoke.") for n in names):
                importers.append(name)
    assert importers == []
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("invoke") for d in project["dependencies"])
    assert any(d.startswith("invoke") for d in project["optional-dependencies"]["dev"])
    assert "\ninvoke==" in (ROOT / "constraints.txt").read_text()


# WeasyPrint's documented API: what any module may import.
PUBLIC_WEASYPRINT = {"weasyprint", "weasyprint.urls", "weasyprint.text.fonts"}


def test_weasyprints_internals_are_reached_only_through_one_door() -> None:
    """Outside pdf/weasyprint/, no module imports WeasyPrint's internal modules, pydyf
    or tinyhtml5, nor reads a page's private `_page_box`."""
    door = PACKAGE / "pdf" / "weasyprint"
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.is_relative_to(door):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                root = name.split(".")[0]
                if (root == "weasyprint" and name not in PUBLIC_WEASYPRINT) or root in (
                    "pydyf",
                    "tinyhtml5",
                ):
                    found.append(f"{path.relative_to(SRC)}: {name}")
            if isinstance(node, ast.Attribute) and node.attr == "_page_box":
                found.append(f"{path.relative_to(SRC)}: ._page_box")
    assert found == []
