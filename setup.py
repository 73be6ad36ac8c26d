"""ament_python packaging of the ROS 2 runtime; `training/` stays in the repository."""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "depth_ros"


def share_files(folder: str, pattern: str) -> tuple[str, list[str]]:
    """Map every file of a folder into the package's share directory."""
    files = sorted(str(p) for p in Path(folder).glob(pattern))
    return (f"share/{PACKAGE}/{folder}", files)


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        share_files("launch", "*.launch.py"),
        share_files("config", "*.yaml"),
        share_files("rviz", "*.rviz"),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="depth_ros maintainers",
    maintainer_email="maintainers@depth-ros.dev",
    description="Monocular depth estimation node for ROS 2 (ONNX Runtime).",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "monodepth_node = depth_ros.node:main",
            "depth_infer = depth_ros.offline:main",
        ],
    },
)
