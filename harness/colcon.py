"""Build the depth_ros package with colcon, as on a robot, without touching the repository.

The package files are copied into `<work>/src/depth_ros` and built there, so build products
(egg-info, build/, install/) never land in the checkout.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from harness.node_process import REPO_ROOT

PACKAGE = "depth_ros"
PACKAGE_FILES = ("package.xml", "setup.py", "setup.cfg", "resource", "depth_ros", "launch",
                 "config", "rviz")  # fmt: skip


class ColconError(RuntimeError):
    """colcon build failed; the message holds its output."""


def colcon_build(work: Path, timeout_s: float = 600.0) -> Path:
    """Copy the package under `work`, `colcon build` it, and return the install base."""
    source = work / "src" / PACKAGE
    if source.exists():
        shutil.rmtree(source)
    source.mkdir(parents=True)
    for name in PACKAGE_FILES:
        origin = REPO_ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, source / name)
    colcon = Path(sys.executable).parent / "colcon"
    command = [
        str(colcon), "--log-base", str(work / "log"), "build",
        "--base-paths", str(work / "src"),
        "--build-base", str(work / "build"),
        "--install-base", str(work / "install"),
    ]  # fmt: skip
    result = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=timeout_s)
    if result.returncode != 0:
        raise ColconError(f"colcon build failed:\n{result.stdout}\n{result.stderr}")
    return work / "install"


def package_prefix(install: Path) -> Path:
    """colcon's default isolated layout: <install>/<package>."""
    return install / PACKAGE


def site_packages(prefix: Path) -> Path:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return prefix / "lib" / version / "site-packages"


def installed_executable(install: Path) -> Path:
    """What `ros2 run depth_ros monodepth_node` starts."""
    return package_prefix(install) / "lib" / PACKAGE / "monodepth_node"


def install_environment(install: Path) -> dict[str, str]:
    """What `source install/setup.bash` adds for this package: its Python path and its prefix
    (on top of the environment that provides rclpy)."""
    prefix = package_prefix(install)
    return {"PYTHONPATH": str(site_packages(prefix)), "AMENT_PREFIX_PATH": str(prefix)}
