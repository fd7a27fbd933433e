"""The package's import graph: no cycles between edgepress modules, and the library never
imports the application (the CLI, the demo).

Every import counts, the ones inside functions too: a function-level import that closes a
cycle still ties the modules together (and breaks when either moves).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "edgepress"
APPLICATION = ("edgepress.cli", "edgepress.demo", "edgepress.__main__")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, modules: dict[str, Path]) -> list[str]:
    """Modules an import statement reaches: ``from a import b`` reaches ``a.b`` when that is a module, else ``a``."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: resolve against the importing module's package
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]


def import_graph() -> dict[str, set[str]]:
    """edgepress module -> the edgepress modules it imports anywhere in its body."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _imported(node, name, path.name == "__init__.py", modules):
                    if target in modules and target != name:
                        found.add(target)
        graph[name] = found
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _is_application(name: str) -> bool:
    return any(name == app or name.startswith(app + ".") for app in APPLICATION)


def test_the_graph_sees_function_level_imports() -> None:
    graph = import_graph()
    # edgepress.demo imports edgepress.conversion only inside run_demo
    assert "edgepress.conversion" in graph["edgepress.demo"]
    assert "edgepress.cli.main" in graph["edgepress.__main__"]


def test_no_import_cycles_between_edgepress_modules() -> None:
    graph = import_graph()
    # the package face imports lazily by name (edgepress.__getattr__); only its own helpers count
    graph["edgepress"] = {m for m in graph["edgepress"] if m == "edgepress._version"}
    assert cycles(graph) == []


def test_the_library_never_imports_the_cli_or_the_demo() -> None:
    graph = import_graph()
    up = {name: sorted(t for t in targets if _is_application(t)) for name, targets in graph.items() if not _is_application(name)}
    assert {name: bad for name, bad in up.items() if bad} == {}


def test_cycles_are_found_where_they_exist() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
