"""The package's shape, checked: layers point one way, no cycles, modules and functions stay small.

Read from the source with :mod:`ast` (nothing is imported), so an import inside a
function counts as much as one at the top; imports under ``if TYPE_CHECKING:``
do not (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gctrace_nb"
MAX_MODULE_LINES = 700
MAX_FUNCTION_LINES = 120


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str) -> set[str]:
    """The package modules that ``module`` imports at run time (at any depth of its code)."""
    path = MODULES[module]
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node)
            named = [f"{base}.{alias.name}" for alias in node.names]
            # ``from pkg import submodule`` imports the submodule; ``from pkg import value`` the package
            targets = [n for n in named if n in MODULES] or [base]
        for target in targets:
            # the longest package module the name denotes (``from . import x`` may name a module or a value)
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target.startswith("gctrace_nb") and target != module:
                found.add(target)
    return found


GRAPH = {name: _imports(name) for name in MODULES}


def _in(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_nothing_outside_the_cli_imports_the_cli():
    bad = sorted(
        f"{m} -> {t}" for m, ts in GRAPH.items() if not _in(m, "gctrace_nb.cli", "gctrace_nb.__main__")
        for t in ts if _in(t, "gctrace_nb.cli")
    )
    assert bad == []


def test_the_exact_analysis_imports_no_model_picture_ui_client_or_cli():
    forbidden = ("gctrace_nb.core.model", "gctrace_nb.core.summary", "gctrace_nb.render", "gctrace_nb.report",
                 "gctrace_nb.ui", "gctrace_nb.api", "gctrace_nb.cli", "gctrace_nb.delivery", "gctrace_nb.batch")
    reached = _reachable("gctrace_nb.core.analysis")
    assert sorted(t for t in reached if _in(t, *forbidden)) == []


def test_core_is_pure():
    """core/ reaches no HTTP, picture, UI or CLI module (it may be used by all of them)."""
    forbidden = ("gctrace_nb.api", "gctrace_nb.render", "gctrace_nb.report", "gctrace_nb.ui", "gctrace_nb.cli",
                 "gctrace_nb.delivery", "gctrace_nb.batch", "gctrace_nb.simulator")
    bad = sorted(f"{m} -> {t}" for m, ts in GRAPH.items() if _in(m, "gctrace_nb.core") for t in ts if _in(t, *forbidden))
    assert bad == []


def test_the_client_imports_no_picture_ui_or_cli():
    forbidden = ("gctrace_nb.render", "gctrace_nb.report", "gctrace_nb.ui", "gctrace_nb.cli")
    bad = sorted(f"{m} -> {t}" for m, ts in GRAPH.items() if _in(m, "gctrace_nb.api") for t in ts if _in(t, *forbidden))
    assert bad == []


def _reachable(start: str) -> set[str]:
    seen, stack = set(), [start]
    while stack:
        for t in GRAPH[stack.pop()]:
            if t not in seen:
                seen.add(t)
                stack.append(t)
    return seen


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in GRAPH:
        if root in index:
            continue
        work = [(root, iter(sorted(GRAPH[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(GRAPH[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def test_no_import_cycles():
    assert _cycles() == []


def test_no_module_is_too_long():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_no_function_is_too_long():
    long = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{module}.{node.name}: {length} lines")
    assert long == []


@pytest.mark.parametrize("module", ["gctrace_nb.core.analysis", "gctrace_nb.api.client"])
def test_the_graph_sees_real_imports(module):
    """Guard against a parser that finds nothing (every rule above would then pass)."""
    assert GRAPH[module], module
    assert "gctrace_nb.errors" in _reachable("gctrace_nb.api.client")
