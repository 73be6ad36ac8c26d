"""Zheng et al.'s augmentation keeps image and depth aligned, resamples depth with nearest
neighbours, draws with the paper's probabilities, and the colour statistics are the pooled ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.datasets.depth_augment import (
    AugmentationDraw,
    DepthAugmentation,
    augment_pair,
    channel_statistics,
    rotate_pair,
)

NEAR, FAR = 1.0, 3.0  # metres of the square and of the background


def square_scene(height: int = 48, width: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A bright square (near) right of the centre on a dark background (far)."""
    image = np.full((height, width, 3), 0.1, dtype=np.float32)
    depth = np.full((height, width), FAR, dtype=np.float32)
    rows, cols = slice(18, 30), slice(40, 52)
    image[rows, cols] = (0.9, 0.6, 0.3)
    depth[rows, cols] = NEAR
    return image, depth


def centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([ys.mean(), xs.mean()])


def test_flip_mirrors_image_and_depth_together() -> None:
    image, depth = square_scene()
    pair = augment_pair(image, depth, AugmentationDraw(flip=True))
    np.testing.assert_array_equal(pair.image, image[:, ::-1])
    np.testing.assert_array_equal(pair.depth, depth[:, ::-1])
    np.testing.assert_array_equal(pair.image_aug, pair.image)
    assert centroid(pair.depth == NEAR)[1] < depth.shape[1] / 2  # the square moved to the left


@pytest.mark.parametrize("angle", [5.0, -5.0, 3.3])
def test_rotation_keeps_the_square_aligned_and_depth_values_exact(angle: float) -> None:
    image, depth = square_scene()
    pair = augment_pair(image, depth, AugmentationDraw(angle_degrees=angle))
    bright = pair.image[..., 0] > 0.5
    near = pair.depth == NEAR
    np.testing.assert_allclose(centroid(bright), centroid(near), atol=0.35)
    assert abs(int(bright.sum()) - int(near.sum())) <= 6
    # Nearest neighbours: no depth between the square and the wall; only the corners that
    # rotate in from outside the frame are unknown (0).
    assert set(np.unique(pair.depth).tolist()) == {0.0, NEAR, FAR}
    assert np.all(pair.depth[20:28, 20:44] > 0)
    # The image is bilinear: edge pixels blend the two colours.
    blended = (pair.image[..., 0] > 0.2) & (pair.image[..., 0] < 0.8)
    assert blended.any()


def test_positive_angles_turn_counter_clockwise() -> None:
    image, depth = square_scene()
    _, rotated = rotate_pair(image, depth, 5.0)
    before, after = centroid(depth == NEAR), centroid(rotated == NEAR)
    # The square sits right of the centre: a counter-clockwise turn (y down) lifts it.
    assert after[0] < before[0] - 0.5


def test_grayscale_touches_only_the_network_input() -> None:
    image, depth = square_scene()
    pair = augment_pair(image, depth, AugmentationDraw(grayscale=True))
    np.testing.assert_array_equal(pair.image, image)
    np.testing.assert_array_equal(pair.depth, depth)
    assert np.allclose(pair.image_aug[..., 0], pair.image_aug[..., 1])
    assert np.allclose(pair.image_aug[..., 1], pair.image_aug[..., 2])
    expected = 0.299 * 0.9 + 0.587 * 0.6 + 0.114 * 0.3
    assert pair.image_aug[20, 45, 0] == pytest.approx(expected, abs=1e-6)


def test_draws_follow_the_paper_probabilities() -> None:
    augmentation = DepthAugmentation()
    generator = torch.Generator().manual_seed(0)
    draws = [augmentation.draw(generator) for _ in range(4000)]
    angles = np.array([d.angle_degrees for d in draws])
    assert np.mean(angles != 0) == pytest.approx(0.5, abs=0.03)
    assert np.abs(angles).max() <= 5.0
    assert np.abs(angles[angles != 0]).max() > 4.8
    assert np.mean([d.flip for d in draws]) == pytest.approx(0.6, abs=0.03)
    assert np.mean([d.grayscale for d in draws]) == pytest.approx(0.2, abs=0.03)


def test_sizes_must_match() -> None:
    image, depth = square_scene()
    with pytest.raises(ValueError, match="sizes differ"):
        augment_pair(image, depth[:, :-1], AugmentationDraw())


def test_channel_statistics_pool_every_pixel() -> None:
    a = np.zeros((2, 2, 3), dtype=np.float32)
    a[..., 1] = [[0.2, 0.4], [0.6, 0.8]]
    a[..., 2] = [[0.0, 1.0], [0.0, 1.0]]
    b = np.ones((1, 4, 3), dtype=np.float32)
    mean, std = channel_statistics([a, b])
    pixels = np.concatenate([a.reshape(-1, 3), b.reshape(-1, 3)])
    np.testing.assert_allclose(mean, pixels.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(std, pixels.std(axis=0), atol=1e-12)
    with pytest.raises(ValueError, match="constant channel"):
        channel_statistics([np.ones((2, 2, 3))])
    with pytest.raises(ValueError, match="no images"):
        channel_statistics([])
