"""colcon packaging, the launch file, the RViz view, and the installed executable.

`colcon build` of a copy of the package (conftest's session fixture, in a temp dir) must give an
install tree that `ros2 run` / `ros2 launch` can use: the ament index marker, package.xml, the
launch, config and rviz files under share/depth_ros, and the monodepth_node executable under
lib/depth_ros. One test starts the node from that installed executable, over DDS.

The launch file is checked statically (parsed with `ast`, not executed): the `launch` and
`launch_ros` packages are not on PyPI, so they cannot be installed here, and importing the file
would fail. What can be checked without them is checked: the declared arguments and their
defaults, and that the executable, params file and RViz config it names exist in the install
tree.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import pytest
import yaml
from sensor_msgs.msg import Image

from harness.colcon import (
    PACKAGE,
    install_environment,
    installed_executable,
    package_prefix,
    site_packages,
)
from harness.node_process import REPO_ROOT, ros_environment
from harness.onnx_models import constant_depth_model
from harness.ros_link import RosHarness, image_message, send_until_received, stamp_of
from harness.scenes import FRAME_ID, node_parameters, plane_contract, random_rgb

pytestmark = pytest.mark.ros

LAUNCH_ARGUMENTS = {
    "model", "image", "camera_info", "params_file", "namespace", "use_sim_time", "rviz",
    "fixed_frame",
}  # fmt: skip


def test_install_tree_holds_what_ros2_run_and_launch_need(colcon_install: Path) -> None:
    prefix = package_prefix(colcon_install)
    share = prefix / "share" / PACKAGE
    for path in (
        prefix / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE,
        share / "package.xml",
        share / "launch" / "monodepth.launch.py",
        share / "config" / "monodepth.yaml",
        share / "config" / "monodepth_indoor.yaml",
        share / "rviz" / "monodepth.rviz",
        site_packages(prefix) / PACKAGE / "node.py",
    ):
        assert path.is_file(), f"{path} missing from the colcon install tree"
    # spelled out rather than installed_executable(): this checks the layout that helper assumes
    executable = prefix / "lib" / PACKAGE / "monodepth_node"
    assert executable.is_file() and os.access(executable, os.X_OK)
    manifest = ElementTree.parse(share / "package.xml").getroot()
    assert manifest.get("format") == "3" and manifest.findtext("name") == PACKAGE
    assert manifest.findtext("export/build_type") == "ament_python"
    depends = {element.text for element in manifest.iter("exec_depend")}
    assert {"rclpy", "sensor_msgs", "diagnostic_msgs", "rcl_interfaces", "launch_ros"} <= depends
    assert "python3-rosbags-pip" in depends  # depth_infer reads bags
    assert "rviz2" not in depends  # optional: headless robots have no screen
    onnxruntime_keys = [key for key in depends if "onnxruntime" in key]
    assert onnxruntime_keys == ["python3-onnxruntime-pip"]  # one runtime; GPU robots skip it


def test_colcon_can_select_the_package() -> None:
    """The README's `colcon build --packages-select depth_ros` needs colcon-package-selection
    in the project's colcon set (requirements.txt pins it)."""
    colcon = Path(sys.executable).parent / "colcon"
    result = subprocess.run([str(colcon), "build", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--packages-select" in result.stdout, result.stderr
    pins = (REPO_ROOT / "requirements.txt").read_text().splitlines()
    assert any(line.startswith("colcon-package-selection==") for line in pins)


def test_tests_collect_without_torch_and_say_why_training_is_skipped(tmp_path: Path) -> None:
    """`colcon test` on a robot: torch is missing there (hidden here by a stand-in module
    that fails to import as a missing one does)."""
    hidden = tmp_path / "torch"
    hidden.mkdir()
    (hidden / "__init__.py").write_text(
        'raise ModuleNotFoundError("No module named \'torch\'", name="torch")\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "test", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "SKIPPED [1] test/training/conftest.py" in result.stdout
    assert "torch is not installed: the training tests need it, the ROS node does not" in (
        result.stdout
    )
    assert "test/runtime/test_camera_fit.py::" in result.stdout  # the rest is still collected


class LaunchCalls(ast.NodeVisitor):
    """Calls of DeclareLaunchArgument / Node / PathJoinSubstitution in a launch file."""

    def __init__(self) -> None:
        self.calls: dict[str, list[ast.Call]] = {}

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name):
            self.calls.setdefault(node.func.id, []).append(node)
        self.generic_visit(node)


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def literal(node: ast.expr | None) -> Any:
    return ast.literal_eval(node) if node is not None else None


def path_parts(node: ast.expr | None) -> list[str]:
    """The string parts of PathJoinSubstitution([share, "config", "x.yaml"])."""
    assert isinstance(node, ast.Call) and node.func.id == "PathJoinSubstitution"  # type: ignore[union-attr]
    (items,) = node.args
    assert isinstance(items, ast.List)
    return [item.value for item in items.elts if isinstance(item, ast.Constant)]


def test_launch_file_arguments_and_what_it_starts_exist_in_the_install_tree(
    colcon_install: Path,
) -> None:
    prefix = package_prefix(colcon_install)
    share = prefix / "share" / PACKAGE
    tree = ast.parse((share / "launch" / "monodepth.launch.py").read_text())
    functions = {f.name for f in tree.body if isinstance(f, ast.FunctionDef)}
    assert "generate_launch_description" in functions
    visitor = LaunchCalls()
    visitor.visit(tree)

    arguments = {literal(call.args[0]): call for call in visitor.calls["DeclareLaunchArgument"]}
    assert set(arguments) == LAUNCH_ARGUMENTS
    assert all(keyword(call, "description") is not None for call in arguments.values())
    assert keyword(arguments["model"], "default_value") is None  # required: no good default
    defaults = {
        name: literal(keyword(call, "default_value"))
        for name, call in arguments.items()
        if isinstance(keyword(call, "default_value"), ast.Constant)
    }
    assert defaults == {
        "image": "image", "camera_info": "camera_info", "namespace": "",
        "use_sim_time": "false", "rviz": "false", "fixed_frame": FRAME_ID,
    }  # fmt: skip
    params_default = path_parts(keyword(arguments["params_file"], "default_value"))
    assert (share.joinpath(*params_default)).is_file(), params_default

    nodes = {literal(keyword(call, "executable")): call for call in visitor.calls["Node"]}
    assert set(nodes) == {"monodepth_node", "rviz2"}
    depth_node = nodes["monodepth_node"]
    package = depth_node.keywords[[k.arg for k in depth_node.keywords].index("package")].value
    assert isinstance(package, ast.Name) and package.id == "PACKAGE"  # PACKAGE = "depth_ros"
    assert installed_executable(colcon_install).is_file()
    remapped = [
        literal(pair.elts[0]) for pair in keyword(depth_node, "remappings").elts  # type: ignore[union-attr]
    ]
    assert remapped == ["image", "image/compressed", "camera_info"]
    parameters = ast.unparse(keyword(depth_node, "parameters"))
    assert "params_file" in parameters and "'model'" in parameters
    assert "'use_sim_time'" in parameters

    rviz = nodes["rviz2"]
    assert ast.unparse(keyword(rviz, "condition")) == "IfCondition(rviz)"
    rviz_arguments = keyword(rviz, "arguments")
    assert isinstance(rviz_arguments, ast.List)
    assert literal(rviz_arguments.elts[0]) == "-d" and literal(rviz_arguments.elts[2]) == "-f"
    assert share.joinpath(*path_parts(rviz_arguments.elts[1])).is_file()


def test_rviz_config_shows_input_depth_preview_and_cloud_in_the_optical_frame() -> None:
    config = yaml.safe_load((REPO_ROOT / "rviz" / "monodepth.rviz").read_text())
    manager = config["Visualization Manager"]
    displays = {
        (display["Class"], display["Topic"]["Value"])
        for display in manager["Displays"]
        if "Topic" in display and display["Enabled"]
    }
    assert displays == {
        ("rviz_default_plugins/Image", "image"),
        ("rviz_default_plugins/Image", "depth/image_rect"),
        ("rviz_default_plugins/Image", "depth/colorized"),
        ("rviz_default_plugins/PointCloud2", "depth/points"),
    }
    assert manager["Global Options"]["Fixed Frame"] == FRAME_ID


def test_installed_executable_runs_the_node_with_the_installed_config(
    colcon_install: Path, ros: RosHarness, start_node, tmp_path: Path
) -> None:
    prefix = package_prefix(colcon_install)
    env = install_environment(colcon_install)
    probe = subprocess.run(
        [sys.executable, "-c", "import depth_ros.node; print(depth_ros.node.__file__)"],
        cwd=tmp_path, env={**ros_environment(0), **env}, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    assert probe.stdout.strip().startswith(str(prefix)), probe.stdout  # not the repository

    model = constant_depth_model(tmp_path / "two.onnx", 2.0, plane_contract())
    node = start_node(
        node_parameters(model),
        executable=[str(installed_executable(colcon_install))],
        extra_params_files=[prefix / "share" / PACKAGE / "config" / "monodepth.yaml"],
        extra_env=env,
    )
    depth_rec = ros.record(Image, "depth/image_rect")
    image_pub = ros.publisher(Image, "image")
    ros.wait_for_subscribers(image_pub)
    image = image_message(random_rgb(1), "rgb8", FRAME_ID, stamp_of(1))
    depth = send_until_received([(image_pub, image)], depth_rec, stamp_of(1))
    assert (depth.encoding, depth.width, depth.height) == ("32FC1", 64, 32)
    assert node.stop() == 0
