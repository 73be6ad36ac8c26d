"""Depth metrics against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.metrics import METRIC_NAMES, average_metrics, compute_depth_metrics, median_scale

# Five pixels whose errors and ratios are easy to follow:
#   gt     1    2    4    1    1
#   pred   2    2    2    1.5  1.9
#   diff   1    0   -2    0.5  0.9      ratio max(d/d*, d*/d) = 2, 1, 2, 1.5, 1.9
GT = np.array([1.0, 2.0, 4.0, 1.0, 1.0])
PRED = np.array([2.0, 2.0, 2.0, 1.5, 1.9])


def test_metrics_match_hand_computed_values() -> None:
    m = compute_depth_metrics(GT, PRED, smooth_l1_beta=2.0)
    assert set(m) == set(METRIC_NAMES)
    assert m["abs_rel"] == pytest.approx((1 / 1 + 0 + 2 / 4 + 0.5 / 1 + 0.9 / 1) / 5)  # 0.58
    assert m["sq_rel"] == pytest.approx((1 + 0 + 4 / 4 + 0.25 + 0.81) / 5)  # 0.612
    assert m["rmse"] == pytest.approx(math.sqrt((1 + 0 + 4 + 0.25 + 0.81) / 5))
    log2, log15, log19 = math.log(2), math.log(1.5), math.log(1.9)
    assert m["rmse_log"] == pytest.approx(math.sqrt((2 * log2**2 + log15**2 + log19**2) / 5))
    # 1.25 = 1.25, 1.25^2 = 1.5625, 1.25^3 = 1.953: ratios below them: {1}, {1, 1.5}, {1, 1.5, 1.9}
    assert (m["a1"], m["a2"], m["a3"]) == pytest.approx((1 / 5, 2 / 5, 3 / 5))
    assert m["l1"] == pytest.approx((1 + 0 + 2 + 0.5 + 0.9) / 5)  # 0.88
    assert m["l2"] == pytest.approx((1 + 0 + 4 + 0.25 + 0.81) / 5)  # 1.212
    # Huber with beta 2: x^2 / 4 below 2, |x| - 1 from 2 on: 0.25, 0, 1, 0.0625, 0.2025.
    assert m["smooth_l1"] == pytest.approx((0.25 + 0 + 1 + 0.0625 + 0.2025) / 5)  # 0.303


def test_smooth_l1_beta_switches_between_quadratic_and_linear() -> None:
    gt, pred = np.array([10.0]), np.array([13.0])  # error 3 m
    assert compute_depth_metrics(gt, pred, smooth_l1_beta=4.0)["smooth_l1"] == pytest.approx(
        0.5 * 9 / 4
    )
    assert compute_depth_metrics(gt, pred, smooth_l1_beta=1.0)["smooth_l1"] == pytest.approx(2.5)


def test_perfect_prediction_scores_zero_error_and_full_deltas() -> None:
    depth = np.linspace(1.0, 80.0, 50)
    m = compute_depth_metrics(depth, depth)
    for name in METRIC_NAMES:
        assert m[name] == pytest.approx(1.0 if name in ("a1", "a2", "a3") else 0.0)


def test_median_scaling_undoes_a_global_scale() -> None:
    gt = np.array([1.0, 2.0, 3.0, 7.0])
    pred = gt / 5.4
    ratio = median_scale(gt, pred)
    assert ratio == pytest.approx(5.4)
    assert compute_depth_metrics(gt, pred * ratio)["abs_rel"] == pytest.approx(0.0, abs=1e-12)
    assert median_scale(np.array([1.0, 2.0, 10.0]), np.array([4.0, 1.0, 2.0])) == pytest.approx(1.0)


def test_average_is_over_images_not_pixels() -> None:
    one_pixel = compute_depth_metrics(np.array([1.0]), np.array([2.0]))  # abs_rel 1
    many_pixels = compute_depth_metrics(np.ones(99), np.ones(99))  # abs_rel 0
    assert average_metrics([one_pixel, many_pixels])["abs_rel"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("gt", "pred", "message"),
    [
        (np.array([1.0, 2.0]), np.array([1.0]), "2 pixels but prediction has 1"),
        (np.array([]), np.array([]), "no valid ground-truth pixels"),
        (np.array([1.0, 0.0]), np.array([1.0, 1.0]), "must be positive"),
    ],
)
def test_invalid_inputs_are_named(gt: np.ndarray, pred: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compute_depth_metrics(gt, pred)
