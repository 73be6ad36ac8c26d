"""Training from rosbag2 recordings: the generator's robot bags and hand-made bad bags.

Real files throughout: bags written by `rosbags` in sqlite3 and MCAP, raw and JPEG-compressed,
read back by the rosbag2 dataset. The geometry is checked against itself: the noise-free odometry
the dataset turns into odom_T, with the bag's ground-truth depth, warps a neighbour onto the target.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from depth_ros.contract import ModelContract
from harness.rosbag_files import write_bag
from training import geometry
from training.__main__ import main as training_main
from training.checkpoint import save_checkpoint
from training.config import DataConfig, TrainConfig, config_to_dict
from training.datasets import DatasetError, find_split
from training.datasets.augment import Augmentation
from training.datasets.build import build_dataset
from training.datasets.rosbag2 import MIN_MOVING_FRAMES, evaluation_data, find_bags
from training.datasets.split_frames import eval_dataset
from training.evaluate import add_arguments as evaluate_arguments
from training.evaluate import main as evaluate_main
from training.evaluation.protocol import Scaling, protocol_for
from training.evaluation.runner import evaluate_samples
from training.evaluation.samples import iter_samples
from training.model_contract import training_intrinsics
from training.synthetic.odometry import OdometryNoise
from training.synthetic.rosbag2 import (
    CAMERA_HEIGHT,
    HORIZONTAL_FOV,
    TOPICS,
    generate_robot,
)
from training.tasks.build import build_task

FRAMES = 48
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def exact_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sqlite3, raw rgb8 at 128 x 96, odometry without noise or gaps."""
    root = tmp_path_factory.mktemp("robot_exact")
    generate_robot(root, frames=FRAMES, width=128, height=96, seed=2,
                   odometry_noise=OdometryNoise())
    return root / "robot_0000"


@pytest.fixture(scope="module")
def compressed_mcap_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MCAP, JPEG images at 128 x 96, the default (noisy) robot odometry."""
    root = tmp_path_factory.mktemp("robot_mcap")
    generate_robot(root, frames=FRAMES, width=128, height=96, seed=2, compressed=True,
                   storage="mcap")
    return root / "robot_0000"


def bag_config(root: Path, **overrides: object) -> DataConfig:
    values = {"dataset": "rosbag2", "root": str(root), "height": 48, "width": 64,
              "augment": False, "frame_offsets": [0, -1, 1], "num_workers": 0,
              "depth_topic": TOPICS.depth}
    return DataConfig(**{**values, **overrides})


def true_stops(bag: Path) -> set[int]:
    """Frames at which the robot stands still, from the bag's ground-truth odometry."""
    store = get_typestore(Stores.LATEST)
    positions = {}
    with Reader(bag) as reader:
        wanted = [c for c in reader.connections if c.topic == TOPICS.true_odometry]
        for connection, stamp, raw in reader.messages(connections=wanted):
            position = store.deserialize_cdr(raw, connection.msgtype).pose.pose.position
            positions[stamp] = np.array([position.x, position.y, position.z])
    stamps = sorted(positions)
    frame_stamps = stamps[::2]  # odometry at 20 Hz starts with the first frame, camera at 10 Hz
    return {frame for frame in range(1, len(frame_stamps) - 1)
            if np.linalg.norm(positions[frame_stamps[frame + 1]]
                              - positions[frame_stamps[frame - 1]]) < 1e-6}


# The generator's recording ------------------------------------------------------------------

def test_robot_bag_has_every_topic_and_a_70_degree_camera_0_3_m_up(exact_bag: Path) -> None:
    with Reader(exact_bag) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        kinds = {c.topic: c.msgtype for c in reader.connections}
    assert counts[TOPICS.image] == counts[TOPICS.camera_info] == counts[TOPICS.depth] == FRAMES
    assert kinds[TOPICS.odometry] == kinds[TOPICS.true_odometry] == "nav_msgs/msg/Odometry"
    assert counts[TOPICS.true_odometry] == 2 * FRAMES - 1  # 20 Hz
    assert counts[TOPICS.tf_static] == 1
    dataset = build_dataset(bag_config(exact_bag, odometry=True), "all", train=False)
    mounting = dataset.camera_to_base(dataset.entries[0])
    assert mounting[2, 3] == pytest.approx(CAMERA_HEIGHT)  # above base_link on the floor
    assert mounting[:3, 2] @ np.array([1.0, 0.0, 0.0]) > 0.99  # optical z looks forward
    k = dataset.load_sample(0, Augmentation())["K"]
    fov = 2.0 * math.atan(dataset.cfg.width / 2.0 / float(k[0, 0]))
    assert fov == pytest.approx(HORIZONTAL_FOV, rel=1e-6)


def test_same_seed_same_recording(tmp_path: Path) -> None:
    def messages(root: Path) -> list[tuple[str, int, bytes]]:
        generate_robot(root, frames=6, width=32, height=24, seed=4)
        with Reader(root / "robot_0000") as reader:
            return [(c.topic, stamp, bytes(raw)) for c, stamp, raw in reader.messages()]

    first = messages(tmp_path / "a")
    assert first == messages(tmp_path / "b") and len(first) > 6 * 4
    generate_robot(tmp_path / "c", frames=6, width=32, height=24, seed=5)
    with Reader(tmp_path / "c" / "robot_0000") as reader:
        assert [bytes(raw) for _, _, raw in reader.messages()] != [raw for _, _, raw in first]


def test_generate_command_writes_a_compressed_mcap_robot_bag(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
    assert training_main(["generate", "--kind", "robot", "--out", str(tmp_path), "--frames", "6",
                          "--width", "32", "--height", "24", "--storage", "mcap",
                          "--compressed"]) == 0
    assert "robot: 1 sequences x 6 frames at 32x24" in capsys.readouterr().out
    assert list((tmp_path / "robot_0000").glob("*.mcap"))
    with Reader(tmp_path / "robot_0000") as reader:
        kinds = {c.topic: c.msgtype for c in reader.connections}
    assert kinds[TOPICS.compressed] == "sensor_msgs/msg/CompressedImage"
    assert TOPICS.image not in kinds


# Reading ------------------------------------------------------------------------------------

@pytest.mark.parametrize("bag_name", ["exact_bag", "compressed_mcap_bag"])
def test_sqlite3_raw_and_mcap_compressed_bags_give_resized_samples(
        bag_name: str, request: pytest.FixtureRequest) -> None:
    bag = request.getfixturevalue(bag_name)
    topic = TOPICS.compressed if bag_name == "compressed_mcap_bag" else TOPICS.image
    dataset = build_dataset(bag_config(bag.parent, image_topic=topic), "train", train=True)
    sample = dataset.load_sample(0, Augmentation())
    assert sample["frames"].shape == (3, 3, 48, 64)
    assert sample["depth_gt"].shape == (1, 48, 64)
    depth = sample["depth_gt"][0]
    assert 0.3 < float(depth[depth > 0].median()) < 8.0  # a room, in metres
    # K follows the resize from 128 x 96: the 70 degree lens keeps its field of view.
    assert float(sample["K"][0, 0]) == pytest.approx(32.0 / math.tan(HORIZONTAL_FOV / 2))
    assert float(sample["K"][1, 2]) == pytest.approx(24.0)


def test_compressed_frames_match_the_raw_ones_up_to_jpeg(exact_bag: Path,
                                                          compressed_mcap_bag: Path) -> None:
    raw = build_dataset(bag_config(exact_bag), "all", train=False)
    jpeg = build_dataset(bag_config(compressed_mcap_bag, image_topic=TOPICS.compressed), "all",
                         train=False)
    assert [e.frame_index for e in raw.entries][:5] == [e.frame_index for e in jpeg.entries][:5]
    a = raw.load_sample(3, Augmentation())["frames"][0]
    b = jpeg.load_sample(3, Augmentation())["frames"][0]
    assert float((a - b).abs().mean()) < 0.02


def test_noise_free_odometry_warps_a_neighbour_onto_the_target(exact_bag: Path) -> None:
    dataset = build_dataset(bag_config(exact_bag, odometry=True), "all", train=False)
    truth = build_dataset(bag_config(exact_bag, odometry=True,
                                     odometry_topic=TOPICS.true_odometry), "all", train=False)
    warped_errors, unwarped_errors = [], []
    for index in range(0, len(dataset), 3):
        sample = dataset.load_sample(index, Augmentation())
        np.testing.assert_allclose(sample["odom_T"].numpy(),
                                   truth.load_sample(index, Augmentation())["odom_T"].numpy(),
                                   atol=1e-5)
        assert sample["odom_valid"].tolist() == [1.0, 1.0]
        depth = sample["depth_gt"][None]
        k = sample["K"][None]
        for source in range(2):
            warped = geometry.warp(sample["frames"][None, source + 1], depth, k,
                                   torch.linalg.inv(k), sample["odom_T"][None, source])[0]
            target = sample["frames"][0]
            warped_errors.append(float((warped - target).abs()[:, 3:-3, 3:-3].mean()))
            unwarped_errors.append(float((sample["frames"][source + 1] - target)
                                         .abs()[:, 3:-3, 3:-3].mean()))
    assert np.mean(warped_errors) < 0.4 * np.mean(unwarped_errors), (
        np.mean(warped_errors), np.mean(unwarped_errors))


def test_recorded_odometry_is_noisy_with_gaps(compressed_mcap_bag: Path) -> None:
    cfg = bag_config(compressed_mcap_bag, odometry=True, image_topic=TOPICS.compressed)
    noisy = build_dataset(cfg, "all", train=False)
    truth = build_dataset(DataConfig(**{**cfg.__dict__, "odometry_topic": TOPICS.true_odometry}),
                          "all", train=False)
    ratios, valid = [], []
    for index in range(len(noisy)):
        motions, flags = noisy.odometry_motions(index)
        true_motions, _ = truth.odometry_motions(index)
        valid += flags.tolist()
        for source in np.flatnonzero(flags):
            ratios.append(np.linalg.norm(motions[source, :3, 3])
                          / np.linalg.norm(true_motions[source, :3, 3]))
    assert 0.0 < np.std(ratios) < 0.1 and abs(np.median(ratios) - 1.0) < 0.05
    assert 0.0 in valid or len(noisy.odometry_track(noisy.entries[0]).stamps) == 2 * FRAMES - 1


def test_odometry_needs_the_topic(exact_bag: Path) -> None:
    with pytest.raises(DatasetError, match="no odometry on '/wheels'"):
        build_dataset(bag_config(exact_bag, odometry=True, odometry_topic="/wheels"), "all",
                      train=False)


# Static frames and the time split -----------------------------------------------------------

@pytest.mark.parametrize("odometry_topic", [TOPICS.odometry, "/none"])
def test_static_frames_are_skipped_with_or_without_odometry(exact_bag: Path,
                                                            odometry_topic: str) -> None:
    stops = true_stops(exact_bag)
    assert len(stops) >= 10  # the generated robot stops for 1.5-2.5 s
    dataset = build_dataset(bag_config(exact_bag, odometry_topic=odometry_topic), "all",
                            train=False)
    kept = {entry.frame_index for entry in dataset.entries}
    assert not kept & stops
    assert len(kept) >= FRAMES - 2 - len(stops) - 4  # moving frames stay (edges of the stop)


def test_train_and_val_are_contiguous_blocks_in_time(exact_bag: Path) -> None:
    cfg = bag_config(exact_bag, val_fraction=0.25)
    train = [e.frame_index for e in build_dataset(cfg, "train", train=False).entries]
    val = [e.frame_index for e in build_dataset(cfg, "val", train=False).entries]
    every = [e.frame_index for e in build_dataset(cfg, "all", train=False).entries]
    assert val == every[len(every) - len(val):]  # the last moving frames
    assert len(val) == round(0.25 * len(every))
    assert max(train) + 1 < min(val) - 1  # no frame is both a training and a validation view
    assert set(train) < set(every)


def test_split_names_are_accepted_where_configs_name_split_files(exact_bag: Path) -> None:
    assert find_split("val", exact_bag, "data.val_split") == "val"
    with pytest.raises(DatasetError, match="expected one of"):
        build_dataset(bag_config(exact_bag), "splits/train_files.txt", train=False)


def test_a_folder_of_bags_reads_them_all(exact_bag: Path, tmp_path: Path) -> None:
    assert find_bags(exact_bag.parent) == [exact_bag]
    assert find_bags(exact_bag / "robot_0000.db3") == [exact_bag]
    with pytest.raises(DatasetError, match="neither a rosbag2 folder"):
        find_bags(tmp_path)


def test_frame_cache_is_reused(exact_bag: Path, tmp_path: Path) -> None:
    cfg = bag_config(exact_bag, frame_cache=str(tmp_path / "cache"))
    first = build_dataset(cfg, "all", train=False)
    files = list((tmp_path / "cache").iterdir())
    assert len(files) == 1 and files[0].suffix == ".npy"
    second = build_dataset(cfg, "all", train=False)
    assert isinstance(second.recordings[0].frames, np.memmap)
    torch.testing.assert_close(first.load_sample(5, Augmentation())["frames"],
                               second.load_sample(5, Augmentation())["frames"])


# Bad bags -----------------------------------------------------------------------------------

def moving_images(count: int = 30, width: int = 64, height: int = 48) -> list[np.ndarray]:
    """A textured pattern sliding 2 pixels per frame."""
    rng = np.random.default_rng(0)
    texture = (rng.random((height, width + 2 * count, 3)) * 255).astype(np.uint8)
    return [np.ascontiguousarray(texture[:, 2 * i:2 * i + width]) for i in range(count)]


def test_missing_image_topic_lists_the_image_topics_present(tmp_path: Path) -> None:
    bag = write_bag(tmp_path / "bag", moving_images(), image_topic="/front/image_rect")
    with pytest.raises(DatasetError, match=r"'/camera/image_raw'.*\['/front/image_rect'\]"):
        build_dataset(bag_config(bag, depth_topic=""), "all", train=False)


def test_no_camera_info_is_refused(tmp_path: Path) -> None:
    bag = write_bag(tmp_path / "none", moving_images(), info_topic=None)
    with pytest.raises(DatasetError, match=r"no CameraInfo topic '/camera/camera_info'"):
        build_dataset(bag_config(bag, depth_topic=""), "all", train=False)
    empty = write_bag(tmp_path / "empty", moving_images(), info_messages=False)
    with pytest.raises(DatasetError, match="no message on camera_info topic"):
        build_dataset(bag_config(empty, depth_topic=""), "all", train=False)


def test_image_and_camera_info_sizes_must_agree(tmp_path: Path) -> None:
    bag = write_bag(tmp_path / "bag", moving_images(), info_size=(640, 480))
    with pytest.raises(DatasetError, match=r"image 64x48 .* camera_info says 640x480"):
        build_dataset(bag_config(bag, depth_topic=""), "all", train=False)


def test_too_few_moving_frames_is_refused(tmp_path: Path) -> None:
    still = [moving_images(1)[0]] * 30
    bag = write_bag(tmp_path / "parked", still[:20] + moving_images(8))
    with pytest.raises(DatasetError, match=f"moving frames of 28 .*at least {MIN_MOVING_FRAMES}"):
        build_dataset(bag_config(bag, depth_topic=""), "all", train=False)


def test_distorted_raw_images_are_refused_unless_undistorted(tmp_path: Path) -> None:
    distortion = np.array([-0.2, 0.05, 0.0, 0.0, 0.0])
    bag = write_bag(tmp_path / "bag", moving_images(), distortion=distortion)
    with pytest.raises(DatasetError, match=r"distorted raw images.*data\.undistort: true"):
        build_dataset(bag_config(bag, depth_topic=""), "all", train=False)
    undistorted = build_dataset(bag_config(bag, depth_topic="", undistort=True), "all",
                                train=False)
    plain = build_dataset(bag_config(write_bag(tmp_path / "plain", moving_images()),
                                     depth_topic=""), "all", train=False)
    a = undistorted.load_sample(0, Augmentation())["frames"][0]
    b = plain.load_sample(0, Augmentation())["frames"][0]
    # Barrel distortion removed: the centre stays, the image is remapped elsewhere.
    assert float((a - b).abs()[:, 20:28, 28:36].mean()) < 0.05
    assert float((a - b).abs().mean()) > 0.05


# Evaluation on a bag's depth topic ----------------------------------------------------------

class BagOracle:
    """Predicts, for each frame of a bag, its true depth times `factor` (model size 64 x 64)."""

    def __init__(self, bag: Path, factor: float) -> None:
        data = evaluation_data(bag_config(bag), str(bag), TOPICS.depth)
        dataset = eval_dataset(data, "all", (64, 64))
        self.lookup = {dataset[i]["frames"][0].numpy().tobytes():
                       np.where(dataset.ground_truth_depth(i) > 0,
                                dataset.ground_truth_depth(i), 50.0) * factor
                       for i in range(len(dataset))}
        self.contract = ModelContract("oracle", 64, 64, 0.1, 100.0, "metric", 1.0,
                                      0.5, 0.5, 0.5, 0.5, "test")

    def predict(self, images: np.ndarray) -> np.ndarray:
        return np.stack([self.lookup[image.tobytes()] for image in images]).astype(np.float32)


def test_scoring_on_a_bag_pairs_each_frame_with_its_depth(exact_bag: Path) -> None:
    data = evaluation_data(bag_config(exact_bag), str(exact_bag), TOPICS.depth)
    count, samples = iter_samples(data, "all", (64, 64))
    assert count == FRAMES  # every frame, static or not
    kept = list(samples)
    protocol = protocol_for("rosbag2")
    for factor, unscaled in ((1.0, 0.0), (2.0, 1.0)):
        oracle = BagOracle(exact_bag, factor)
        plain = evaluate_samples(oracle, iter(kept), protocol, Scaling("none"))
        median = evaluate_samples(oracle, iter(kept), protocol, Scaling("median"))
        assert plain.metrics["abs_rel"] == pytest.approx(unscaled, abs=1e-5)
        assert median.metrics["abs_rel"] == pytest.approx(0.0, abs=1e-5)
        assert np.median(median.ratios) == pytest.approx(1.0 / factor)


def test_evaluate_cli_scores_a_checkpoint_on_a_bag(exact_bag: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    cfg = TrainConfig()
    cfg.data.width, cfg.data.height = 64, 64
    cfg.model.weights_init = "scratch"
    torch.manual_seed(0)
    task = build_task(cfg).eval()
    checkpoint = save_checkpoint(tmp_path / "last.pt", {"config": config_to_dict(cfg),
                                                        "model": task.state_dict(), "step": 1})
    parser = argparse.ArgumentParser()
    evaluate_arguments(parser)
    report = tmp_path / "eval.json"
    args = parser.parse_args(["--checkpoint", str(checkpoint), "--bag", str(exact_bag.parent),
                              "--json", str(report), "--max-images", "12"])
    assert evaluate_main(args) == 0
    printed = capsys.readouterr().out
    assert "abs_rel with scaling per-image median:" in printed
    assert "with scaling none (metric):" in printed
    result = json.loads(report.read_text())
    assert result["images"] == 12 and result["protocol"]["name"] == "generic"
    assert result["scaling"]["mode"] == "median"
    assert result["other_scaling"]["scaling"]["mode"] == "none"
    assert result["metrics"]["abs_rel"] != result["other_scaling"]["metrics"]["abs_rel"]
    missing = parser.parse_args(["--checkpoint", str(checkpoint), "--bag", str(exact_bag),
                                 "--depth-topic", "/camera/depth"])
    assert evaluate_main(missing) == 2
    assert "/camera/depth" in capsys.readouterr().err


def test_export_contract_carries_the_recording_camera(exact_bag: Path) -> None:
    cfg = TrainConfig()
    cfg.data = bag_config(exact_bag)
    k = training_intrinsics(cfg.data)
    assert k.fx == pytest.approx(0.5 / math.tan(HORIZONTAL_FOV / 2))  # fx / W
    assert (k.cx, k.cy) == (pytest.approx(0.5), pytest.approx(0.5))
