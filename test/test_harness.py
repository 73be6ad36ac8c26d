"""harness/ imports in a plain interpreter, as the benches and the demo run it, not only under
pytest: outside pytest `test` is the standard library's package, so a `test.` import fails
there, and the demo imports the harness, so the harness must not import the demo."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
HARNESS_FILES = sorted((REPO_ROOT / "harness").glob("*.py"))
HARNESS_MODULES = [f"harness.{path.stem}" for path in HARNESS_FILES if path.stem != "__init__"]
FORBIDDEN_ROOTS = {"test", "demo"}


def imported_roots(path: Path) -> set[str]:
    """The top-level package of every absolute import in a module."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.ros  # harness.ros_link needs rclpy
def test_every_harness_module_imports_outside_pytest() -> None:
    assert HARNESS_MODULES, "no modules under harness/"
    code = "; ".join(f"import {module}" for module in HARNESS_MODULES)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_harness_imports_neither_test_nor_demo() -> None:
    offenders = {
        path.name: sorted(imported_roots(path) & FORBIDDEN_ROOTS)
        for path in HARNESS_FILES
        if imported_roots(path) & FORBIDDEN_ROOTS
    }
    assert not offenders, offenders
