"""The code's shape, checked on every run: no import cycle among the project's modules, and a
decision core that imports nothing but the standard library. (``lint-imports`` checks the
layers; see docs/architecture.md.)"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("agents", "config", "leads", "notifications", "routing")
CORE = ("routing.engine", "routing.windows")


def project_modules() -> dict[str, Path]:
    found = {}
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules (and the top-level names of other packages) ``name`` imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            submodules = [f"{base}.{alias.name}" for alias in node.names]
            # ``from package import module`` imports the module; the package only for names.
            names = [m for m in submodules if m not in modules]
            targets = [*([base] if names or not submodules else []),
                       *(m for m in submodules if m in modules)]
        for target in targets:
            if target in modules:
                found.add(target)
            elif target.split(".")[0] not in APPS:
                found.add(target.split(".")[0])
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: {t for t in imports_of(name, path, modules) if t in modules}
            for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

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
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_no_import_cycle_among_the_projects_modules():
    graph = import_graph()
    found = cycles(graph)
    assert found == [], "\n".join(
        " <-> ".join(group) + "\n  " + "\n  ".join(
            f"{a} -> {b}" for a in group for b in sorted(graph[a]) if b in group)
        for group in found)


def test_the_decision_core_imports_only_the_standard_library():
    modules = project_modules()
    for name, path in modules.items():
        if not name.startswith(CORE):
            continue
        outside = {t for t in imports_of(name, path, modules)
                   if not t.startswith(CORE) and t not in sys.stdlib_module_names
                   and t != "__future__"}
        assert outside == set(), f"{name} imports {sorted(outside)}"
