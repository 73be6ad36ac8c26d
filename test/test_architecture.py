"""The project's shape: no import cycles, and the two halves stay apart.

The node must run on a robot without torch, and training must run on a workstation without ROS 2,
so each half is imported whole in a fresh interpreter with the other's framework made unimportable.
"""

from __future__ import annotations

import ast
import graphlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("depth_ros", "training", "harness", "demo", "bench")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        if (REPO / package).is_dir()
        for path in sorted((REPO / package).rglob("*.py"))
    }


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """Project modules a file imports anywhere in it (function-local imports count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # `from package import module` imports the module; `from module import name` the module
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [name if name in known else node.module for name in names]
        else:
            continue
        found.update(name for name in names if name in known)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    known = set(modules)
    return {name: imported_modules(path, known) - {name} for name, path in modules.items()}


def test_the_graph_sees_the_project() -> None:
    graph = import_graph()
    assert len(graph) > 100
    assert "training.tasks.build" in graph["training.trainer"]
    assert "training.datasets.kitti" in graph["training.datasets.build"]
    assert "depth_ros.inference" in graph["depth_ros.node"]


def test_no_import_cycles() -> None:
    try:
        graphlib.TopologicalSorter(import_graph()).prepare()
    except graphlib.CycleError as error:
        cycle = " -> ".join(error.args[1])
        pytest.fail(f"import cycle: {cycle}")


def test_a_cycle_would_be_found(tmp_path: Path) -> None:
    """The checker itself: two modules importing each other make a cycle it reports."""
    (tmp_path / "a.py").write_text("def f():\n    from b import g\n")
    (tmp_path / "b.py").write_text("import a\n")
    known = {"a", "b"}
    graph = {name: imported_modules(tmp_path / f"{name}.py", known) for name in known}
    with pytest.raises(graphlib.CycleError):
        graphlib.TopologicalSorter(graph).prepare()


BLOCKER = """
import importlib, importlib.abc, pkgutil, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked: {PACKAGE} must not need it")
        return None

sys.meta_path.insert(0, Block())
package = importlib.import_module(PACKAGE)
count = 1
for info in pkgutil.walk_packages(package.__path__, PACKAGE + "."):
    if info.name.rsplit(".", 1)[-1] != "__main__":
        importlib.import_module(info.name)
        count += 1
loaded = sorted(name for name in BLOCKED if name in sys.modules)
assert not loaded, loaded
print(count)
"""


def import_whole_package(package: str, blocked: tuple[str, ...]) -> subprocess.CompletedProcess:
    code = f"PACKAGE = {package!r}\nBLOCKED = {blocked!r}\n{BLOCKER}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)


ROS = ("rclpy", "rosidl_runtime_py", "sensor_msgs", "std_msgs", "nav_msgs", "geometry_msgs",
       "diagnostic_msgs", "tf2_msgs", "rcl_interfaces")


@pytest.mark.parametrize(
    ("package", "blocked"),
    [("depth_ros", ("torch", "torchvision")), ("training", ROS)],
)
def test_each_half_imports_without_the_other_framework(package: str, blocked: tuple) -> None:
    result = import_whole_package(package, blocked)
    assert result.returncode == 0, result.stderr[-3000:]
    modules = [name for name in project_modules() if name.split(".")[0] == package]
    runnable = [name for name in modules if not name.endswith("__main__")]
    assert int(result.stdout.split()[-1]) == len(runnable)


def test_the_blocker_bites() -> None:
    result = import_whole_package("training", ("torch",))
    assert result.returncode != 0 and "torch is blocked" in result.stderr
