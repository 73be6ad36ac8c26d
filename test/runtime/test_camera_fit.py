"""Camera fit: the window the model sees and the focal correction, on known answers.

The known-answer scene is a disc of 0.5 m radius 5 m in front of the camera; the model judges
its depth from the disc's apparent size under a KITTI-like training camera (see
`disc_size_model`). Two very different robot cameras see the same scene; after the camera fit
both must give 5 m within 2 %, while the uncorrected answer is far off.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from depth_ros.camera import PinholeIntrinsics
from depth_ros.camera_fit import FOCAL_RATIO_WARN, fit_camera
from depth_ros.depth_pipeline import DepthPipeline, cloud_points
from depth_ros.inference import DepthEstimator
from depth_ros.scale import MetricScaler
from harness.onnx_models import disc_image, disc_size_model, make_contract
from harness.scenes import CAMERAS, DISC_DEPTH_M, DISC_RADIUS_M, pinhole


@pytest.mark.parametrize("mode", ["crop", "pad"])
@pytest.mark.parametrize("camera_name", sorted(CAMERAS))
def test_same_scene_through_two_cameras_gives_the_true_depth(
    tmp_path: Path, mode: str, camera_name: str
) -> None:
    contract = make_contract(input_width=128, input_height=64)  # KITTI-like normalised K
    model = disc_size_model(tmp_path / "disc.onnx", DISC_RADIUS_M, contract)
    estimator = DepthEstimator(model, ["CPUExecutionProvider"], intra_op_threads=1)
    pipeline = DepthPipeline(
        estimator, MetricScaler("metadata", contract=contract), 0.1, 100.0, False, mode
    )
    camera = CAMERAS[camera_name]
    frame = pipeline.process(disc_image(camera, DISC_RADIUS_M, DISC_DEPTH_M), camera)

    depth = float(np.nanmean(frame.depth))
    error = abs(depth - DISC_DEPTH_M) / DISC_DEPTH_M
    uncorrected = abs(depth / frame.fit.focal_ratio - DISC_DEPTH_M) / DISC_DEPTH_M
    print(f"{camera_name} {mode}: {depth:.4f} m, error {error:.3%}, uncorrected {uncorrected:.1%}")
    assert error < 0.02, (depth, frame.fit)
    assert uncorrected > 0.10  # the scene does tell the cameras apart
    window_aspect = frame.fit.width / frame.fit.height
    assert window_aspect == pytest.approx(contract.fy / contract.fx, rel=0.01)


def test_crop_keeps_the_principal_point_where_the_training_camera_had_it() -> None:
    contract = make_contract(input_width=64, input_height=32, cx=0.5, cy=0.5)
    camera = PinholeIntrinsics(300.0, 300.0, 250.0, 260.0, 640, 480)  # off-centre, 4:3
    fit = fit_camera(camera, 640, 480, contract, "crop")
    assert (fit.width, fit.height) == (640, round(640 * contract.fx / contract.fy))
    assert fit.x0 == 0  # the full width is kept
    assert fit.y0 == round(260.0 - 0.5 * fit.height)  # cy at the window's middle row
    model = fit.model_camera
    assert (model.width, model.height) == (64, 32)
    assert model.cy / model.height == pytest.approx(0.5, abs=1.0 / fit.height)  # whole-pixel window
    assert fit.focal_ratio == pytest.approx((300.0 / 640) / contract.fx)
    assert fit.window(np.zeros((480, 640, 3), np.uint8)).shape == (fit.height, 640, 3)


def test_pad_surrounds_the_image_and_its_border_becomes_nan() -> None:
    contract = make_contract(input_width=64, input_height=32)
    camera = pinhole(320, 240, 60.0)
    fit = fit_camera(camera, 320, 240, contract, "pad")
    assert fit.height == 240 and fit.width > 320 and fit.x0 < 0
    padded = fit.window(np.full((240, 320, 3), 255, np.uint8))
    assert padded.shape == (240, fit.width, 3)
    assert padded[:, 0].max() == 0 and padded[:, -1].max() == 0
    depth = fit.mask_padding(np.ones((32, 64), np.float32))
    inside = np.isfinite(depth[0])
    assert 0 < inside.sum() < 64 and inside[32]
    assert inside.sum() == pytest.approx(64 * 320 / fit.width, abs=1.0)
    full = fit.to_image(np.ones((32, 64), np.float32))
    assert full.shape == (240, 320) and np.all(full == 1.0)


def test_depth_at_input_resolution_is_nan_where_the_crop_discarded_the_image() -> None:
    contract = make_contract(input_width=64, input_height=32)
    fit = fit_camera(pinhole(320, 240, 60.0), 320, 240, contract, "crop")
    full = fit.to_image(np.full((32, 64), 3.0, np.float32))
    rows = np.isfinite(full).all(axis=1)
    assert full.shape == (240, 320) and rows.sum() == fit.height
    assert np.all(full[rows] == 3.0) and np.isnan(full[~rows]).all()


def test_without_camera_info_the_image_is_cropped_but_the_scale_left_alone() -> None:
    contract = make_contract(input_width=64, input_height=32)
    fit = fit_camera(None, 320, 240, contract, "crop")
    assert not fit.focal_known and fit.focal_ratio == 1.0
    assert fit.width / fit.height == pytest.approx(contract.fy / contract.fx, rel=0.01)
    assert fit.model_camera.fx == pytest.approx(contract.fx * 64)


def test_problems_name_the_focal_ratio_and_the_discarded_share() -> None:
    contract = make_contract(input_width=64, input_height=32)
    wide = fit_camera(pinhole(640, 480, 120.0), 640, 480, contract, "crop")
    problems = " ".join(wide.problems())
    assert wide.focal_ratio < 1 / FOCAL_RATIO_WARN and "focal ratio" in problems
    assert "cropped away" in problems
    matching = fit_camera(
        PinholeIntrinsics(0.58 * 64, 1.92 * 32, 32.0, 16.0, 64, 32), 64, 32, contract, "crop"
    )
    assert matching.problems() == [] and matching.focal_ratio == pytest.approx(1.0)


def test_unknown_mode_is_rejected_by_name() -> None:
    with pytest.raises(ValueError, match="'squeeze' unknown; expected one of"):
        fit_camera(None, 320, 240, make_contract(), "squeeze")


def test_cloud_colours_are_the_window_the_model_saw(tmp_path: Path) -> None:
    """At model resolution each point takes the colour of the pixel its depth came from: the
    cropped window at the model size, not the whole image squeezed onto the depth grid."""
    contract = make_contract(input_width=128, input_height=64)
    model = disc_size_model(tmp_path / "disc.onnx", DISC_RADIUS_M, contract)
    estimator = DepthEstimator(model, ["CPUExecutionProvider"], intra_op_threads=1)
    pipeline = DepthPipeline(estimator, MetricScaler("metadata", contract=contract), 0.1, 100.0)
    camera = CAMERAS["4:3, 90 deg"]
    rgb = disc_image(camera, DISC_RADIUS_M, DISC_DEPTH_M)
    rgb[:, :, 0] = (np.arange(camera.height) // 2).astype(np.uint8)[:, None]  # red: row / 2
    frame = pipeline.process(rgb, camera)
    _, colours = cloud_points(frame, rgb)
    assert colours is not None and colours.shape == (64, 128, 3)
    rows = frame.fit.y0 + (np.arange(64) + 0.5) * frame.fit.height / 64  # image row per grid row
    assert np.abs(colours[:, 64, 0].astype(float) - rows / 2).max() <= 2.0
