"""Evaluation: crops, resizing, scaling, image/ground-truth alignment, and the CLI outputs."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from depth_ros.colorize import colorize_depth
from depth_ros.contract import ModelContract
from training.checkpoint import save_checkpoint
from training.config import TrainConfig, config_to_dict
from training.datasets import read_split
from training.datasets.split_frames import eval_dataset
from training.evaluate import add_arguments, main
from training.evaluation.protocol import PROTOCOLS, Scaling, crop_mask, resize_depth, score_image
from training.evaluation.report import Preview, preview_grid
from training.evaluation.runner import evaluate_depth_model, evaluate_samples
from training.evaluation.samples import EvalSample, iter_samples
from training.export import export_onnx
from training.metrics import compute_depth_metrics
from training.tasks.build import build_task

OUTDOOR_SIZE = (192, 64)  # the outdoor fixture's images, also the model input size here
INDOOR_SIZE = (128, 96)


def _contract(width: int, height: int, units: str = "relative", factor: float = 1.0):
    return ModelContract("test-oracle", height, width, 0.1, 100.0, units, factor,
                         0.58, 1.92, 0.5, 0.5, "test")


class ConstantPredictor:
    """Predicts the same depth map for every image."""

    def __init__(self, depth: np.ndarray) -> None:
        self.depth = depth.astype(np.float32)
        self.contract = _contract(depth.shape[1], depth.shape[0])

    def predict(self, images: np.ndarray) -> np.ndarray:
        return np.repeat(self.depth[None], len(images), axis=0)


class OraclePredictor:
    """Knows every frame of a split: returns its true dense depth divided by `shrink`.

    Frames are recognised by their pixels, so the result is right only if the evaluation pairs
    each image with its own ground truth.
    """

    def __init__(self, data, split: Path, size: tuple[int, int], shrink: float) -> None:
        dataset = eval_dataset(data, split, size)
        self.lookup = {}
        for index, entry in enumerate(dataset.entries):
            image = dataset[index]["frames"][0].numpy()
            depth = np.asarray(dataset.read_depth(dataset.depth_path(entry)), np.float32)
            depth = cv2.resize(depth, size, interpolation=cv2.INTER_NEAREST)
            self.lookup[image.tobytes()] = np.where(depth > 0, depth, 100.0) / shrink
        self.contract = _contract(*size)

    def predict(self, images: np.ndarray) -> np.ndarray:
        return np.stack([self.lookup[image.tobytes()] for image in images])


def _kitti_data(root: Path) -> TrainConfig:
    cfg = TrainConfig()
    cfg.data.dataset, cfg.data.root = "kitti", str(root)
    cfg.data.width, cfg.data.height = OUTDOOR_SIZE
    cfg.data.val_split = "splits/test_files.txt"
    cfg.model.weights_init = "scratch"
    return cfg


def test_garg_crop_matches_the_benchmark_on_kitti_size() -> None:
    mask = crop_mask((375, 1242), "garg")
    rows, cols = np.nonzero(mask)
    assert (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == (153, 371, 44, 1197)


def test_nyu_crop_at_640x480_and_scaled() -> None:
    rows, cols = np.nonzero(crop_mask((480, 640), "nyu"))
    assert (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == (45, 471, 41, 601)
    rows, cols = np.nonzero(crop_mask((240, 320), "nyu"))
    assert (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == (22, 236, 20, 300)


def test_resize_interpolates_inverse_depth() -> None:
    depth = np.array([[1.0, 2.0]], np.float32)
    up = resize_depth(depth, (1, 4))
    # Bilinear on 1/d = (1, 0.5) at half-pixel centres: 1, 0.875, 0.625, 0.5 -> depth 1/those.
    np.testing.assert_allclose(up[0], 1.0 / np.array([1.0, 0.875, 0.625, 0.5]), rtol=1e-6)
    assert resize_depth(depth, (1, 2)) is not depth and np.array_equal(resize_depth(depth, (1, 2)),
                                                                       depth)


def test_median_scaling_caps_and_crop_on_a_hand_made_image() -> None:
    gt = np.zeros((4, 4), np.float32)
    gt[1, :] = [2.0, 4.0, 6.0, 90.0]  # 90 m is beyond the 80 m cap: ignored
    predictor = ConstantPredictor(np.full((2, 2), 0.5, np.float32))
    kitti = PROTOCOLS["generic"]
    result = evaluate_samples(predictor, iter([EvalSample("a", np.zeros((3, 2, 2)), gt)]), kitti,
                              Scaling("median"))
    # Valid gt 2, 4, 6; the prediction is 0.5 everywhere, scaled by median(gt) / 0.5 = 8 to 4.
    assert result.images[0].scale == pytest.approx(8.0) and result.images[0].valid_pixels == 3
    expected = compute_depth_metrics(np.array([2.0, 4.0, 6.0]), np.full(3, 4.0))
    assert result.metrics == pytest.approx(expected)
    assert result.metrics["abs_rel"] == pytest.approx((1.0 + 0.0 + 1 / 3) / 3)
    fixed = evaluate_samples(predictor, iter([EvalSample("a", np.zeros((3, 2, 2)), gt)]), kitti,
                             Scaling("fixed", 5.4))
    assert fixed.images[0].scale == 5.4 and fixed.ratio_summary() is None
    assert fixed.metrics["l1"] == pytest.approx((0.7 + 1.3 + 3.3) / 3)


def test_images_without_valid_ground_truth_are_skipped_not_scored() -> None:
    predictor = ConstantPredictor(np.ones((2, 2), np.float32))
    samples = [EvalSample("empty", np.zeros((3, 2, 2)), np.zeros((2, 2), np.float32)),
               EvalSample("ok", np.zeros((3, 2, 2)), np.full((2, 2), 3.0, np.float32))]
    result = evaluate_samples(predictor, iter(samples), PROTOCOLS["generic"], Scaling("none"))
    assert result.skipped == ["empty"] and [r.name for r in result.images] == ["ok"]
    assert result.metrics["abs_rel"] == pytest.approx(2 / 3)


def test_score_image_masks_scales_clips_and_reports_the_scale() -> None:
    gt = np.zeros((4, 4), np.float32)
    gt[1, :] = [2.0, 4.0, 6.0, 90.0]  # 90 m is beyond the 80 m cap: ignored
    prediction = np.full((4, 4), 0.5, np.float32)
    generic = PROTOCOLS["generic"]
    median = score_image(prediction, gt, generic, Scaling("median"))
    assert median is not None and median.scale == pytest.approx(8.0)
    assert median.valid_pixels == 3
    assert median.metrics == pytest.approx(
        compute_depth_metrics(np.array([2.0, 4.0, 6.0]), np.full(3, 4.0)))
    # A fixed factor far too large: the prediction is clipped to the 80 m cap.
    fixed = score_image(prediction, gt, generic, Scaling("fixed", 1000.0), smooth_l1_beta=1.0)
    assert fixed is not None and fixed.scale == 1000.0
    assert fixed.metrics == pytest.approx(
        compute_depth_metrics(np.array([2.0, 4.0, 6.0]), np.full(3, 80.0), 1.0))
    metric = score_image(prediction, gt, generic, Scaling("none"))
    assert metric is not None and metric.scale == 1.0
    assert score_image(prediction, np.zeros_like(gt), generic, Scaling("median")) is None
    # The crop counts: KITTI's Garg crop keeps rows 1-2 of a 4-row image, not row 0.
    top = np.roll(gt, -1, axis=0)
    assert score_image(prediction, top, generic, Scaling("median")) is not None
    assert score_image(prediction, top, PROTOCOLS["kitti"], Scaling("median")) is None
    with pytest.raises(ValueError, match="resize the prediction first"):
        score_image(prediction[:2], gt, generic, Scaling("median"))


def test_preview_grid_colours_depth_like_the_ros_preview() -> None:
    gt = np.full((6, 8), 4.0, np.float32)
    gt[:, :4] = 2.0
    gt[0, 0] = 0.0  # unknown: black
    prediction = np.linspace(1.0, 5.0, 48, dtype=np.float32).reshape(6, 8)
    image = np.zeros((6, 8, 3), np.uint8)
    grid = preview_grid([Preview(image, prediction, gt)])
    assert grid.shape == (6, 24, 3)
    np.testing.assert_array_equal(grid[:, 8:16], colorize_depth(prediction, 2.0, 4.0))
    np.testing.assert_array_equal(grid[:, 16:], colorize_depth(gt, 2.0, 4.0))
    assert not grid[0, 16].any()


@pytest.mark.parametrize("gt_source", ["velodyne", "dense"])
def test_oracle_scores_perfectly_so_images_and_ground_truth_are_paired(
    outdoor_root: Path, gt_source: str
) -> None:
    cfg = _kitti_data(outdoor_root)
    split = outdoor_root / "splits" / "test_files.txt"
    oracle = OraclePredictor(cfg.data, split, OUTDOOR_SIZE, shrink=7.0)
    # The camera convention is the generated drives' exact depth (see training/kitti_depth).
    count, samples = iter_samples(cfg.data, split, OUTDOOR_SIZE, gt_source, velodyne_gt="camera",
                                  max_images=9)
    result = evaluate_samples(oracle, samples, PROTOCOLS["kitti"], Scaling("median"))
    assert count == len(result.images) == 9
    assert result.metrics["abs_rel"] < 1e-5 and result.metrics["a1"] == 1.0
    ratios = result.ratio_summary()
    assert ratios["median"] == pytest.approx(7.0, rel=1e-5) and ratios["std"] < 1e-4
    wrong = iter(EvalSample(s.name, s.image, np.roll(s.gt, 8, axis=0)) for s in
                 iter_samples(cfg.data, split, OUTDOOR_SIZE, gt_source, velodyne_gt="camera",
                              max_images=9)[1])
    shifted = evaluate_samples(oracle, wrong, PROTOCOLS["kitti"], Scaling("median"))
    assert shifted.metrics["abs_rel"] > 0.05  # the check above can fail


def test_velodyne_is_picked_automatically_and_cached(outdoor_root: Path, tmp_path: Path) -> None:
    cfg = _kitti_data(outdoor_root)
    cache = tmp_path / "gt.npz"
    _, samples = iter_samples(cfg.data, "splits/test_files.txt", OUTDOOR_SIZE, "auto", cache,
                              max_images=3)
    maps = [s.gt for s in samples]
    assert cache.is_file() and len(maps) == 3
    assert all(0.2 < np.mean(m > 0) < 0.9 for m in maps)  # sparse scan, not the dense map


def test_nyu_protocol_on_the_indoor_layout(indoor_root: Path) -> None:
    cfg = TrainConfig()
    cfg.data.dataset, cfg.data.root = "nyu", str(indoor_root)
    split = indoor_root / "splits" / "test_files.txt"
    oracle = OraclePredictor(cfg.data, split, INDOOR_SIZE, shrink=1.0)
    _, samples = iter_samples(cfg.data, split, INDOOR_SIZE, max_images=4)
    result = evaluate_samples(oracle, samples, PROTOCOLS["nyu"], Scaling("none"))
    assert result.metrics["abs_rel"] < 1e-6 and result.images[0].valid_pixels <= 128 * 96 * 0.8


def test_library_entry_point_gives_the_trainer_its_mode_back(outdoor_root: Path) -> None:
    cfg = _kitti_data(outdoor_root)
    torch.manual_seed(0)
    task = build_task(cfg).train()
    result = evaluate_depth_model(task, cfg, max_images=3, gt_source="dense")
    assert task.training and all(module.training for module in task.modules())
    assert len(result.images) == 3 and result.scaling == Scaling("median")
    assert result.protocol == PROTOCOLS["kitti"] and 0 < result.metrics["abs_rel"] < 10


@pytest.mark.slow
def test_cli_writes_table_json_csv_and_grid_and_onnx_agrees(
    outdoor_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    cfg = _kitti_data(outdoor_root)
    torch.manual_seed(0)
    task = build_task(cfg).eval()
    checkpoint = save_checkpoint(tmp_path / "last.pt", {"config": config_to_dict(cfg),
                                                        "model": task.state_dict(), "step": 1})
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    json_path, csv_path, grid = tmp_path / "eval.json", tmp_path / "eval.csv", tmp_path / "g.png"
    args = parser.parse_args(["--checkpoint", str(checkpoint), "--max-images", "5", "--json",
                              str(json_path), "--csv", str(csv_path), "--grid", str(grid)])
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "protocol kitti" in printed and "median scaling ratios: median" in printed
    assert "abs_rel |" in printed
    report = json.loads(json_path.read_text())
    assert report["images"] == 5 and report["scaling"]["mode"] == "median"
    assert set(report["metrics"]) >= {"abs_rel", "a1", "smooth_l1"}
    with open(csv_path) as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 5 and float(rows[0]["abs_rel"]) >= 0
    image = cv2.imread(str(grid))
    assert image.shape == (4 * 64, 3 * 192, 3)

    model = export_onnx(task, cfg, tmp_path / "model.onnx").path
    args = parser.parse_args(["--onnx", str(model), "--set", f"data.root={outdoor_root}",
                              "--split", "splits/test_files.txt", "--max-images", "5",
                              "--json", str(tmp_path / "onnx.json")])
    assert main(args) == 0
    onnx_report = json.loads((tmp_path / "onnx.json").read_text())
    for name, value in report["metrics"].items():
        assert onnx_report["metrics"][name] == pytest.approx(value, rel=1e-4, abs=1e-6)
    assert len(read_split(outdoor_root / "splits" / "test_files.txt")) > 5
