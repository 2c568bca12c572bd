"""The import graph of pairloop's own modules: no cycles, layers import downward only, front ends
stay apart and the use cases know no terminal or web library.

The graph is read from the source with ``ast`` (nothing is imported), counting every import:
at module level, inside functions and under ``TYPE_CHECKING``. Relative imports are resolved,
and ``from pkg import name`` is an import of the submodule ``pkg.name`` when there is one
(otherwise of ``pkg``). Importing ``a.b.c`` is an edge to ``a.b.c`` only: that Python first
runs ``a/__init__`` and ``a/b/__init__`` is no cycle, unless those import something back.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("store", "classifier", "active_learning", "annotator", "knowledge_graph", "pairloop", "migrations")
# What each layer may import besides itself (CONTRIBUTING.md); pairloop may import everything.
MAY_IMPORT = {
    "store": set(),
    "classifier": {"store"},
    "active_learning": {"classifier", "store"},
    "annotator": {"store"},
    "knowledge_graph": {"store"},
    "migrations": {"store"},
    "pairloop": set(PACKAGES),
}
USECASES_MUST_NOT_IMPORT = ("rich", "typer", "pairloop.commands", "pairloop.api", "pairloop.console")


@dataclass
class ImportGraph:
    modules: set[str] = field(default_factory=set)
    edges: dict[str, dict[str, int]] = field(default_factory=dict)  # module → {imported module of ours: line}
    imported: dict[str, dict[str, int]] = field(default_factory=dict)  # module → {any absolute name: line}

    def __repr__(self) -> str:
        return f"ImportGraph({len(self.modules)} modules)"

    def targets(self, module: str) -> dict[str, int]:
        return self.edges.get(module, {})


def module_name(root: Path, path: Path) -> tuple[str, bool]:
    """The dotted name of a source file, and whether it is a package (``__init__.py``)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def build_graph(root: Path, packages: Iterable[str]) -> ImportGraph:
    graph = ImportGraph()
    sources: list[tuple[str, bool, Path]] = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            name, is_package = module_name(root, path)
            graph.modules.add(name)
            sources.append((name, is_package, path))
    tops = set(packages)
    for name, is_package, path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        here = name if is_package else name.rpartition(".")[0]  # the package relative imports start from
        edges = graph.edges.setdefault(name, {})
        imported = graph.imported.setdefault(name, {})
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(here, node.module, node.level, path)
                names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in graph.modules else base
                         for alias in node.names if alias.name != "*"] or [base]
            else:
                continue
            for target in names:
                imported.setdefault(target, node.lineno)
                if target.split(".")[0] in tops:
                    known = _known_prefix(target, graph.modules)
                    if known and known != name:
                        edges.setdefault(known, node.lineno)
    return graph


def _absolute(package: str, module: str | None, level: int, path: Path) -> str:
    if level == 0:
        return module or ""
    parts = package.split(".") if package else []
    if level - 1 > len(parts):
        raise ValueError(f"{path}: relative import beyond the top-level package")
    base = parts[: len(parts) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _known_prefix(name: str, modules: set[str]) -> str | None:
    """``name`` if it is one of our modules, else its longest prefix that is (``import a.b.X``
    where X is a name in a.b); None for a name that is none of ours."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def cycles(graph: ImportGraph) -> list[list[str]]:
    """One shortest cycle per strongly connected component of more than one module."""
    found = []
    for component in _components(graph):
        if len(component) > 1:
            found.append(_shortest_cycle(graph, component))
    return sorted(found)


def _components(graph: ImportGraph) -> list[set[str]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[set[str]] = []
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.targets(start))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.targets(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                result.append(component)
    return result


def _shortest_cycle(graph: ImportGraph, component: set[str]) -> list[str]:
    """The shortest path from the component's first module back to itself (breadth first)."""
    start = min(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph.targets(node)):
                if child not in component:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle through {start} in {sorted(component)}")


def _layer(module: str) -> str:
    return module.split(".")[0]


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _listing(offences: Iterable[str]) -> str:
    return "\n  " + "\n  ".join(sorted(offences))


@pytest.fixture(scope="module")
def graph() -> ImportGraph:
    return build_graph(REPO, PACKAGES)


def test_the_graph_sees_the_project(graph):
    """A guard for the reader itself: known imports of each kind are found."""
    assert {"store", "pairloop.cli", "pairloop.commands.llm", "migrations.env"} <= graph.modules
    assert "pairloop.commands.llm" in graph.targets("pairloop.cli")  # from pairloop.commands import llm
    assert "annotator.agreement" in graph.targets("pairloop.usecases.llm")
    assert "classifier.evaluation" in graph.targets("pairloop.usecases.llm")  # inside a function
    assert "sklearn.metrics" in graph.imported["annotator.agreement"]  # a third party, inside a function


def test_no_import_cycles(graph):
    found = cycles(graph)
    assert not found, "import cycles:" + _listing(" → ".join(cycle) for cycle in found)


def test_layers_import_downward_only(graph):
    offences = [
        f"{module} → {target} (line {line})"
        for module in graph.modules
        for target, line in graph.targets(module).items()
        if _layer(target) != _layer(module) and _layer(target) not in MAY_IMPORT[_layer(module)]
    ]
    assert not offences, "imports against the layering (see CONTRIBUTING.md):" + _listing(offences)


# A group's sub-command kept in a module of its own: the group registers it.
SUB_COMMAND_MODULES = {("pairloop.commands.llm", "pairloop.commands.llm_adapt")}


def test_command_modules_import_no_other_command_module(graph):
    allowed = {"pairloop.commands.options"}
    offences = [
        f"{module} → {target} (line {line})"
        for module in graph.modules if _within(module, "pairloop.commands")
        for target, line in graph.targets(module).items()
        if _within(target, "pairloop.commands") and target not in allowed
        and (module, target) not in SUB_COMMAND_MODULES
    ]
    assert not offences, "command modules importing each other (share code below pairloop.commands):" + _listing(
        offences)


def test_the_cli_and_the_api_never_import_each_other(graph):
    sides = ("pairloop.commands", "pairloop.api")
    offences = [
        f"{module} → {target} (line {line})"
        for module in graph.modules
        for target, line in graph.targets(module).items()
        for mine, other in (sides, sides[::-1])
        if _within(module, mine) and _within(target, other)
    ]
    assert not offences, "front ends importing each other:" + _listing(offences)


def test_use_cases_import_no_front_end_or_terminal_library(graph):
    offences = [
        f"{module} → {name} (line {line})"
        for module in graph.modules if _within(module, "pairloop.usecases")
        for name, line in graph.imported[module].items()
        if any(_within(name, banned) for banned in USECASES_MUST_NOT_IMPORT)
    ]
    assert not offences, "use cases importing a front end or a terminal library:" + _listing(offences)


def test_the_reader_resolves_relative_and_submodule_imports_and_finds_cycles(tmp_path):
    files = {
        "pkg/__init__.py": "from pkg import a\n",
        "pkg/a.py": "def f():\n    from .sub import b\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .. import c\n",
        "pkg/c.py": "import pkg.a\nfrom pkg.sub.b import name\n",
        "pkg/d.py": "from pkg import VALUE\nimport pkg.sub\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    toy = build_graph(tmp_path, ["pkg"])
    assert toy.targets("pkg") == {"pkg.a": 1}
    assert toy.targets("pkg.a") == {"pkg.sub.b": 2}
    assert toy.targets("pkg.sub.b") == {"pkg.c": 3}
    assert toy.targets("pkg.d") == {"pkg": 1, "pkg.sub": 2}
    assert cycles(toy) == [["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]]
