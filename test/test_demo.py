"""`make demo` on a short recording: generate, train, export, colcon build, the installed node
over real DDS, and the report; plus which frames it streams and when it reuses a run."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("torch", reason="torch is not installed: the demo trains a model, the node "
                    "does not need it")

from demo.__main__ import TRAIN_CONFIG, finished_with, main, run_config
from demo.recording import held_out_frames
from training.config import load_config, save_config
from training.datasets.rosbag2 import RosbagDataset
from training.synthetic.rosbag2 import camera_matrix, generate_robot

FRAMES = 60  # 6 s at 10 Hz: the robot's stop, then enough moving frames for both splits


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short robot recording at a camera size other than the model's (320 x 240)."""
    root = tmp_path_factory.mktemp("robot_demo")
    generate_robot(root, frames=FRAMES, width=160, height=120, seed=0)
    return root


def write_run_config(run: Path, overrides: list[str]) -> None:
    """config.yaml as the trainer writes it for a run of the demo's config."""
    run.mkdir(parents=True)
    save_config(run_config(run, overrides), run / "config.yaml")


def test_a_run_of_the_current_config_is_reused(tmp_path: Path) -> None:
    overrides = [f"data.root={tmp_path / 'data'}"]
    write_run_config(tmp_path / "run", overrides)
    assert finished_with(tmp_path / "run", overrides)


def test_a_run_of_an_older_config_is_not_reused(tmp_path: Path) -> None:
    overrides = [f"data.root={tmp_path / 'data'}"]
    steps = run_config(tmp_path / "run", overrides).optim.max_steps
    write_run_config(tmp_path / "run", [*overrides, f"optim.max_steps={steps + 1}"])
    assert not finished_with(tmp_path / "run", overrides)


def test_a_run_without_a_readable_config_is_not_reused(tmp_path: Path) -> None:
    overrides = [f"data.root={tmp_path / 'data'}"]
    assert not finished_with(tmp_path / "absent", overrides)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.yaml").write_text("model: [unclosed\n")
    assert not finished_with(tmp_path / "broken", overrides)


def test_the_demo_config_trains_on_odometry_motion_with_metric_depth() -> None:
    cfg = load_config(TRAIN_CONFIG)
    assert cfg.data.dataset == "rosbag2" and cfg.data.odometry and not cfg.data.use_stereo
    assert cfg.model.pose_source == "odometry" and cfg.loss.velocity_weight == 0.0
    assert cfg.data.depth_topic and cfg.optim.max_steps > 0


def test_held_out_frames_are_the_last_block_at_camera_resolution(recording: Path) -> None:
    data = run_config(Path("unused"), [f"data.root={recording}"]).data
    held_out = held_out_frames(data)
    training = RosbagDataset(data, data.train_split, train=False)
    last_training_stamp = max(training.frame_stamp(e, e.frame_index) for e in training.entries)
    stamps = [frame.stamp for frame in held_out.frames]
    assert len(stamps) == len(RosbagDataset(data, data.val_split, train=False).entries) > 0
    assert stamps == sorted(stamps) and stamps[0] > last_training_stamp
    for frame in held_out.frames:
        assert frame.rgb.shape == (120, 160, 3) and frame.rgb.dtype == np.uint8
        assert frame.gt.shape == (120, 160) and frame.gt.dtype == np.float32
        assert 0.1 < np.median(frame.gt[frame.gt > 0]) < 20.0  # metres in a room
    k = camera_matrix(160, 120)
    camera = held_out.camera
    assert (camera.width, camera.height) == (160, 120)
    assert np.allclose([camera.fx, camera.fy, camera.cx, camera.cy],
                       [k[0, 0], k[1, 1], k[0, 2], k[1, 2]])
    assert held_out.frame_id == "camera_optical_frame"


def test_make_demo_runs_end_to_end_on_a_short_recording(tmp_path: Path) -> None:
    output = tmp_path / "demo_output"
    code = main(["--workdir", str(tmp_path), "--output", str(output), "--frames", str(FRAMES),
                 "--set", "optim.max_steps=2"])
    assert code == 0
    metrics = json.loads((output / "metrics.json").read_text())
    node, training = metrics["node"], metrics["training"]
    assert metrics["model"]["units"] == "metric" and metrics["model"]["metres_per_unit"] == 1.0
    assert node["frames_published"] == metrics["recording"]["held_out_frames"]
    assert 0 < node["frames_received"] <= node["frames_published"]  # a busy node may drop some
    for key in ("abs_rel", "abs_rel_unscaled", "scale_ratio"):
        assert np.isfinite(node[key]) and node[key] > 0
    assert training["steps"] == 2
    for key in ("untrained", "prior", "trained"):
        assert 0 < training[key]["abs_rel"] < 10
    assert training["trained"]["scale_ratio"] > 0
    strips = cv2.imread(str(output / "strips.png"))
    assert strips.shape[1] == 3 * 320  # input | depth | ground truth at camera width
    cloud = cv2.imread(str(output / "cloud.png"))
    assert cloud is not None and cloud.std() > 5  # something besides the background was drawn
    assert (output / "cloud.ply").stat().st_size > 1000
