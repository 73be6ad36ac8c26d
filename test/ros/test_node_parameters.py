"""Parameters over the real set_parameters / get_parameters services: bad values are rejected
with a reason and change nothing; range, scale and colormap changes apply to the next frame;
a new model path reloads the model, a broken one is rejected and the old model keeps running;
the shipped config files hold only parameters the node declares, with values it accepts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import CameraInfo, Image

from depth_ros.image_codec import image_to_array
from harness.node_process import REPO_ROOT
from harness.onnx_models import constant_depth_model, plane_depth_model
from harness.ros_link import (
    RosHarness,
    camera_info_message,
    diagnostic_values,
    image_message,
    send_until_received,
    stamp_of,
    wait_until,
)
from harness.scenes import (
    FRAME_ID,
    METRES_PER_UNIT,
    PLANE_DISTANCE,
    PLANE_NORMAL,
    image_camera,
    node_parameters,
    plane_contract,
    plane_model_depth,
    random_rgb,
)

pytestmark = pytest.mark.ros


class Camera:
    """Publishes numbered frames (with camera_info) and returns the node's outputs for each."""

    def __init__(self, ros: RosHarness) -> None:
        self.depth = ros.record(Image, "depth/image_rect")
        self.preview = ros.record(Image, "depth/colorized")
        self._image_pub = ros.publisher(Image, "image")
        self._info_pub = ros.publisher(CameraInfo, "camera_info")
        self._index = 0
        ros.wait_for_subscribers(self._image_pub)

    def frame(self, with_preview: bool = False) -> tuple[np.ndarray, Image | None]:
        """Depth (metres, 32 x 64) and, if asked, the preview of one new frame."""
        self._index += 1
        stamp = stamp_of(self._index)
        image = image_message(random_rgb(self._index), "rgb8", FRAME_ID, stamp)
        info = camera_info_message(image_camera(plane_contract()), FRAME_ID, stamp)
        pairs = [(self._info_pub, info), (self._image_pub, image)]
        depth = send_until_received(pairs, self.depth, stamp)
        preview = send_until_received(pairs, self.preview, stamp) if with_preview else None
        return image_to_array(depth).copy(), preview


def test_bad_values_are_rejected_with_a_reason_and_change_nothing(
    ros: RosHarness, start_node, tmp_path: Path
) -> None:
    contract = plane_contract()
    model = plane_depth_model(tmp_path / "plane.onnx", PLANE_NORMAL, PLANE_DISTANCE, contract)
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x01 this is not a protobuf")
    node = start_node(node_parameters(model, **{"range.max": 80.0}))
    ros.wait_for_node()
    camera = Camera(ros)
    expected = METRES_PER_UNIT * plane_model_depth(contract)
    np.testing.assert_allclose(camera.frame()[0], expected, rtol=1e-5)

    bad_values = {  # parameter: (value, words the reason must contain)
        "range.min": (-1.0, "out of range"),
        "cloud.decimation": (0, "out of range"),
        "scale.mode": ("magic", "expected one of metadata, fixed, ground_plane, none"),
        "colorized.colormap": ("rainbow", "turbo"),
        "output_resolution": ("huge", "model, input"),
        "range.max": ("far", "type"),
        "image_transport": ("compressed", "read-only"),
        "model": (str(tmp_path / "missing.onnx"), "does not exist"),
    }
    for name, (value, words) in bad_values.items():
        (result,) = ros.set_parameters({name: value})
        assert not result.successful, f"{name}={value!r} was accepted"
        assert words in result.reason, f"{name}={value!r}: reason {result.reason!r}"
    (result,) = ros.set_parameters({"range.min": 90.0})  # above range.max = 80
    assert not result.successful and "must be below range.max" in result.reason
    (result,) = ros.set_parameters({"model": str(corrupt)})
    assert not result.successful and "could not be loaded" in result.reason

    current = ros.get_parameters(["range.min", "scale.mode", "model", "cloud.decimation"])
    assert current == {
        "range.min": 0.1, "scale.mode": "metadata", "model": str(model), "cloud.decimation": 1
    }  # fmt: skip
    np.testing.assert_allclose(camera.frame()[0], expected, rtol=1e-5)  # old model still runs
    assert node.alive()
    assert "rejected parameter change" in node.log_text()


def test_range_scale_and_colormap_changes_apply_live(
    ros: RosHarness, start_node, tmp_path: Path
) -> None:
    contract = plane_contract()
    model = plane_depth_model(tmp_path / "plane.onnx", PLANE_NORMAL, PLANE_DISTANCE, contract)
    start_node(node_parameters(model, **{"range.max": 1000.0}))
    camera = Camera(ros)
    units = plane_model_depth(contract)
    depth, turbo = camera.frame(with_preview=True)
    np.testing.assert_allclose(depth, METRES_PER_UNIT * units, rtol=1e-5)

    limit = float(np.median(depth))
    assert all(r.successful for r in ros.set_parameters({"range.max": limit}))
    depth = camera.frame()[0]
    beyond = METRES_PER_UNIT * units > limit
    assert 0 < beyond.sum() < beyond.size
    assert np.isnan(depth[beyond]).all() and np.isfinite(depth[~beyond]).all()

    assert all(r.successful for r in ros.set_parameters({"range.max": 1000.0}))
    assert all(
        r.successful for r in ros.set_parameters({"scale.factor": 3.0, "scale.mode": "fixed"})
    )
    np.testing.assert_allclose(camera.frame()[0], 3.0 * units, rtol=1e-5)
    assert all(r.successful for r in ros.set_parameters({"scale.mode": "none"}))
    np.testing.assert_allclose(camera.frame()[0], units, rtol=1e-5)

    assert all(r.successful for r in ros.set_parameters({"colorized.colormap": "bone"}))
    _, bone = camera.frame(with_preview=True)
    # Same depth range, other colours: bone is grey (B = G = R within its ramp), turbo is not.
    turbo_pixels = image_to_array(turbo).astype(int)
    bone_pixels = image_to_array(bone).astype(int)
    assert np.abs(turbo_pixels - bone_pixels).mean() > 20
    assert np.abs(bone_pixels[..., 0] - bone_pixels[..., 2]).max() < np.abs(
        turbo_pixels[..., 0] - turbo_pixels[..., 2]
    ).max()


def test_new_model_path_reloads_the_model(ros: RosHarness, start_node, tmp_path: Path) -> None:
    contract = plane_contract()
    first = plane_depth_model(tmp_path / "plane.onnx", PLANE_NORMAL, PLANE_DISTANCE, contract)
    second = constant_depth_model(tmp_path / "seven.onnx", 7.0, contract)
    node = start_node(node_parameters(first))
    diagnostics = ros.record(DiagnosticArray, "/diagnostics")
    camera = Camera(ros)
    np.testing.assert_allclose(
        camera.frame()[0], METRES_PER_UNIT * plane_model_depth(contract), rtol=1e-5
    )

    (result,) = ros.set_parameters({"model": str(second)})
    assert result.successful, result.reason
    np.testing.assert_allclose(camera.frame()[0], 7.0 * METRES_PER_UNIT, rtol=1e-6)
    node.wait_for_log(f"reloaded model {second}", timeout=5.0)
    wait_until(
        lambda: any(diagnostic_values(d)["model"] == str(second) for d in diagnostics.messages),
        timeout=5.0,
        what="diagnostics reporting the new model",
    )


def flatten(tree: dict, prefix: str = "") -> dict:
    """{'range': {'min': 0.1}} -> {'range.min': 0.1}, as ROS reads nested params files."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@pytest.mark.parametrize("config", ["monodepth.yaml", "monodepth_indoor.yaml"])
def test_config_file_holds_only_declared_parameters_the_node_accepts(
    ros: RosHarness, start_node, tmp_path: Path, config: str
) -> None:
    """ROS silently ignores undeclared names in a params file, so a typo would go unnoticed:
    start the node with the file and read every value back."""
    path = REPO_ROOT / "config" / config
    values = flatten(yaml.safe_load(path.read_text())["/**"]["ros__parameters"])
    model = constant_depth_model(tmp_path / "two.onnx", 2.0, plane_contract())
    overrides = {"model": str(model), "providers": ["CPUExecutionProvider"]}
    node = start_node(overrides, extra_params_files=[path])
    ros.wait_for_node()
    served = ros.get_parameters(sorted(values))
    values.update({k: v for k, v in overrides.items() if k in values})
    assert served == values
    assert node.alive() and node.stop() == 0
