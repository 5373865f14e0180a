"""The decision core stays plain Python: the engine imports the standard library and
``routing.windows`` only (no Django, no other project module), so it runs without a database."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROUTING = Path(__file__).resolve().parent.parent / "routing"
FILES = sorted((ROUTING / "engine").glob("*.py")) + [ROUTING / "windows.py"]
ALLOWED = ("routing.engine", "routing.windows")


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import"
            names.add(node.module or "")
    return names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_engine_imports_only_the_standard_library_and_windows(path: Path):
    for name in imported(path):
        top = name.split(".")[0]
        allowed = top in sys.stdlib_module_names or top == "__future__" or any(
            name == a or name.startswith(a + ".") for a in ALLOWED)
        assert allowed, f"{path.name} imports {name}"


def test_every_engine_module_is_checked():
    assert {p.stem for p in FILES} >= {"__init__", "types", "matching", "selection", "decide",
                                       "handoff", "preview", "trace", "windows"}
